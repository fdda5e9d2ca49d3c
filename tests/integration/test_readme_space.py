"""The "A search space in Python" snippets of docs/how-to/search-spaces.md, run as printed (in a scratch directory).

tests/docs/test_snippets.py leaves these two blocks to this test, which checks what they print and write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "search-spaces.md"


def snippets() -> list[str]:
    section = PAGE.read_text().split("### A search space in Python", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_declaration_fits_in_thirty_lines():
    declaration = snippets()[0]
    assert len(declaration.strip().splitlines()) <= 30


@pytest.mark.slow
def test_the_space_is_searched_by_three_strategies_and_exported_with_parity(tmp_path):
    out = _run(snippets()[0], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = [line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("evolution", "rl", "random"))]
    assert [strategy for strategy, _ in printed] == ["evolution", "rl", "random"]
    for _, rest in printed:
        accuracy = float(rest.rsplit(" ", 1)[1])
        assert accuracy > 0.8
    torch_module = _import(tmp_path / "out" / "model.py", "docs_space_torch")
    keras_module = _import(tmp_path / "out" / "model_tf.py", "docs_space_keras")
    import torch

    x = np.random.default_rng(0).normal(size=(16, 13)).astype(np.float32)
    with torch.no_grad():
        expected = torch_module.build_model(str(tmp_path / "out" / "model.pt"))(torch.from_numpy(x)).numpy()
    got = np.asarray(keras_module.build_model(str(tmp_path / "out" / "model_tf.weights.h5"))(x))
    assert np.max(np.abs(got - expected)) <= 1e-4


@pytest.mark.slow
def test_the_op_choice_space_is_searched_by_darts(tmp_path):
    declaration = snippets()[0].split("for strategy in", 1)[0]
    code = declaration + snippets()[1] + "\nimport json\nprint(json.dumps(result.best.genotype))\n"
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    genotype = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(genotype) == {"op1", "op2"}
