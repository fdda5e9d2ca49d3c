"""The ``tensorflow`` emitter: an architecture and its weights as a standalone ``model_tf.py``.

This module is the plugin's entry point; it imports neither TensorFlow nor torch, so
that listing plugins stays fast and rendering code works without either installed.
Converting weights needs TensorFlow: ``pip install 'automl-codegen[tf]'``.
"""

from __future__ import annotations

from automl_codegen import hookimpl

from ._emitter import TensorflowEmitter

__all__ = ["TensorflowEmitter", "register_emitters"]


@hookimpl
def register_emitters(register):
    register("tensorflow", TensorflowEmitter())
