"""The ``pytorch`` emitter: an architecture and its weights as a standalone ``model.py``.

This module is the plugin's entry point; it imports no torch, so that listing plugins
stays fast.
"""

from __future__ import annotations

from automl_codegen import hookimpl

from ._emitter import PytorchEmitter

__all__ = ["PytorchEmitter", "register_emitters"]


@hookimpl
def register_emitters(register):
    register("pytorch", PytorchEmitter())
