"""Rewrite the emitters' golden files: ``python tests/golden/regenerate.py``.

The tests compare what the emitters write now with these files byte for byte. After a
deliberate change to generated code, run this script and review the diff: every changed
line is a change users will see in their exported models.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins"))

from automl_codegen_plugins.emitters.pytorch import PytorchEmitter  # noqa: E402
from ir_cases import GOLDEN_CASES  # noqa: E402

EMITTERS = {"pytorch": PytorchEmitter()}


def main() -> None:
    for emitter_name, emitter in EMITTERS.items():
        out = HERE / emitter_name
        out.mkdir(exist_ok=True)
        for case, (make_arch, metadata) in GOLDEN_CASES.items():
            path = out / f"{case}.py"
            path.write_text(emitter.render(make_arch(), metadata), encoding="utf-8", newline="\n")
            print(f"wrote {path.relative_to(HERE.parents[1])}")


if __name__ == "__main__":
    main()
