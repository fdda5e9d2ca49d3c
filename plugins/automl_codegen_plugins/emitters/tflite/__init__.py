"""The ``tflite`` emitter: an architecture and its weights as one ``model.tflite`` for devices.

This module is the plugin's entry point; it imports neither torch nor TensorFlow, so
that listing plugins stays fast.
"""

from __future__ import annotations

from automl_codegen import hookimpl

from ._emitter import TfliteEmitter

__all__ = ["TfliteEmitter", "register_emitters"]


@hookimpl
def register_emitters(register):
    register("tflite", TfliteEmitter())
