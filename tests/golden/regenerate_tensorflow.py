"""Rewrite the TensorFlow emitter's golden files: ``python tests/golden/regenerate_tensorflow.py``.

tests/plugins/test_tensorflow_emitter.py compares what the emitter writes now with these
files byte for byte. After a deliberate change to the generated Keras code, run this
script and review the diff: every changed line is a change users will see.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins"))

from tf_cases import TF_GOLDEN_CASES  # noqa: E402

from automl_codegen_plugins.emitters.tensorflow import TensorflowEmitter  # noqa: E402


def main() -> None:
    out = HERE / "tensorflow"
    out.mkdir(exist_ok=True)
    emitter = TensorflowEmitter()
    for case, (make_arch, metadata) in TF_GOLDEN_CASES.items():
        path = out / f"{case}.py"
        path.write_text(emitter.render(make_arch(), metadata), encoding="utf-8", newline="\n")
        print(f"wrote {path.relative_to(HERE.parents[1])}")


if __name__ == "__main__":
    main()
