from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> Path:
    """An interpreter that can import torch and numpy but not automl_codegen.

    A fresh venv whose only link to the test environment is a .pth line naming its
    site-packages: plain path entries are searched, but the editable-install hooks that
    live there are not run, so the project itself stays invisible — as on a user's
    machine that only has torch.
    """
    root = tmp_path_factory.mktemp("bare")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python3*/site-packages"))
    (site / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = root / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import torch\ntry:\n import automl_codegen\nexcept ImportError:\n print('isolated')"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "isolated", probe
    return python
