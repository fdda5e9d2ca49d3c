from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# TensorFlow, when an emitter imports it, should not flood test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The torch-cpu profiler keeps its CPU calibration in a cache directory: not the user's.
os.environ.setdefault("AUTOML_CODEGEN_CACHE_DIR", tempfile.mkdtemp(prefix="automl-codegen-test-cache-"))


def _pip_install_into(site: Path, package: Path) -> None:
    """Install a real distribution from a source directory into a private site directory."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
    )


def _cli_with(site: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the automl-codegen command with ``site``'s distributions importable."""
    environ = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "automl_codegen.cli", *args], capture_output=True, text=True, env=environ
    )


def _import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def import_file():
    """``import_file(path, name)``: a generated module (model.py, model_tf.py) imported from its file."""
    return _import_file


@pytest.fixture(scope="session")
def pip_install_into():
    """``pip_install_into(site, package_dir)``: a real install, invisible to other tests."""
    return _pip_install_into


@pytest.fixture(scope="session")
def cli_with():
    """``cli_with(site, *args, env=None)``: the CLI in a subprocess that sees ``site``."""
    return _cli_with


@pytest.fixture
def make_immutable():
    """``make_immutable(dir)``: ``dir`` and everything in it unwritable even for root
    (``chattr +i``, as a read-only archive), undone after the test; skips where
    ``chattr`` cannot (no such tool, a file system without the flag, no capability)."""
    done: list[list[str]] = []

    def apply(directory: Path) -> None:
        paths = [str(directory), *map(str, directory.rglob("*"))]
        if subprocess.run(["chattr", "+i", *paths], capture_output=True).returncode:
            pytest.skip("chattr +i is not available here")
        done.append(paths)

    yield apply
    for paths in done:
        subprocess.run(["chattr", "-i", *paths], check=True)
