"""The ``onnx`` emitter: an architecture and its weights as one ``model.onnx`` for deployment.

This module is the plugin's entry point; it imports neither torch nor onnx, so that
listing plugins stays fast.
"""

from __future__ import annotations

from automl_codegen import hookimpl

from ._emitter import OnnxEmitter

__all__ = ["OnnxEmitter", "register_emitters"]


@hookimpl
def register_emitters(register):
    register("onnx", OnnxEmitter())
