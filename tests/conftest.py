import os

# TensorFlow, when an emitter imports it, should not flood test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
