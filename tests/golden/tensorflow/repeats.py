"""A neural network found by AutoML-CodeGen, written out as standalone TensorFlow/Keras code.

Input: a float32 tensor of shape (N, 8, 8, 3), N being the batch size.
Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, 3, 8, 8):
    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 10) logits from RepeatNet, which has 2,482 parameters.

Usage:
    from model_tf import build_model
    model = build_model("model_tf.weights.h5")  # build_model() for fresh weights
    logits = model(x)  # or model.predict(x) for many batches
"""

import keras
from keras import layers


# One function per block kind (the PyTorch class, in snake_case). Each adds its layers under
# names that start with ``name``: the module paths of the PyTorch model ("cells.1.inner.conv").
def _unit(x: keras.KerasTensor, c_out: int, name: str, residual: bool = False) -> keras.KerasTensor:
    out = layers.Conv2D(c_out, 1, use_bias=False, name=f"{name}.conv")(x)
    out = layers.ReLU(name=f"{name}.act")(out)
    if residual:
        out = layers.Add(name=f"{name}.residual")([x, out])
    return out


def _halves(x: keras.KerasTensor, c_out: int, name: str) -> keras.KerasTensor:
    left = layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name=f"{name}.left")(x)
    x = layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}.shifted")(x)
    right = layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name=f"{name}.right")(x)
    x = layers.Concatenate(name=f"{name}.both")([left, right])
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn")(x)


def _pair(
    s0: keras.KerasTensor, s1: keras.KerasTensor, c: int, name: str, wide: bool = False
) -> keras.KerasTensor:
    pre0 = (_halves if wide else _unit)(s0, c_out=c, name=f"{name}.pre0")
    pre1 = _unit(s1, c_out=c, name=f"{name}.pre1")
    total = layers.Add(name=f"{name}.total")([pre0, pre1])
    return layers.Concatenate(name=f"{name}.cat")([total, pre1])


def build_model(weights: str | None = None, c: int = 4, num_classes: int = 10) -> keras.Model:
    """The Keras model; calling it runs inference on (N, 8, 8, 3) channels-last inputs.

    ``weights``: the ``.weights.h5`` file exported beside this module (trained, converted).
    """
    inputs = keras.Input((8, 8, 3), name="input")
    x = layers.Conv2D(2 * c, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = _unit(x, c_out=4 * c, name="units.0")
    for i in range(1, 3):
        x = _unit(x, c_out=4 * c, name=f"units.{i}", residual=True)
    s0 = s1 = x
    for i in range(2):
        s0, s1 = s1, _pair(s0, s1, c=2 * c, name=f"cells.{i}")
    pool = layers.MaxPooling2D(2, name="pool")(s1)
    cell2 = _pair(s0, pool, c=2 * c, name="cell2", wide=True)
    cell3 = _pair(pool, cell2, c=2 * c, name="cell3")
    cell4 = _pair(cell2, cell3, c=2 * c, name="cell4")
    x = layers.Concatenate(name="both")([cell3, cell4])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    model = keras.Model(inputs, outputs, name="RepeatNet")
    if weights is not None:
        model.load_weights(weights)
    return model


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(keras.random.normal((2, 8, 8, 3))).shape)
