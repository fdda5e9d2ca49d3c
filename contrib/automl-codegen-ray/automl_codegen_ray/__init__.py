"""Trials on Ray for AutoML-CodeGen: ``--executor ray``.

Each trial is a Ray task with the CPUs and GPUs it asks for, on a private Ray started on
this machine or on an existing cluster. Ray is imported only when the executor is made,
so ``automl-codegen plugins`` lists this package quickly (and without Ray installed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automl_codegen import hookimpl

from ._executor import RayExecutor

__all__ = ["RayExecutor", "register_executors"]
__version__ = "0.1.0"


@hookimpl
def register_executors(register: Callable[[str, Any], None]) -> None:
    register("ray", RayExecutor)
