"""The TFLite emitter: the TensorFlow emitter's Keras model, converted and checked.

What is converted is the model of the generated ``model_tf.py`` itself (rendered,
imported and loaded with the weights), so the file computes what the Keras code does.
Before anything is written, the TFLite interpreter runs it on a fixed input at two batch
sizes and its outputs are compared with the PyTorch model of the same weights; the
largest difference is recorded in ``model.tflite.json`` beside the file, with what a
device needs to feed it (shape, NHWC layout, normalisation), and a model that strays too
far is refused.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from automl_codegen import Architecture, ArchitectureError

from .._common import docstring_lines, load_state_dict, require, write_atomically
from .._structure import grouped_state_dict
from ..tensorflow import TensorflowEmitter

__all__ = ["PARITY_TOLERANCE", "TfliteEmitter", "interpreter"]

_TITLE = "A neural network found by AutoML-CodeGen, converted to TensorFlow Lite."
#: Largest |TFLite - PyTorch| accepted on the check input (float32 kernels sum in other
#: orders; a wrong conversion is off by far more).
PARITY_TOLERANCE = 1e-4
_CHECK_BATCHES = (1, 3)


class TfliteEmitter:
    """Writes an architecture, with its trained weights, as ``model.tflite`` (+ ``model.tflite.json``).

    The model takes one float32 input of shape (N, H, W, C), channels last as TFLite
    expects, with any batch size N (resize the interpreter's input), and returns (N,
    classes) logits. Without weights the network has the weights of the PyTorch model
    initialised with torch's generator seeded with 0 (an untrained network, to try a
    deployment pipeline). Converting needs torch and TensorFlow (``pip install
    'automl-codegen[tf]'``).

    ``render`` returns the JSON description written beside the file; the file is what
    ``export`` writes.
    """

    name = "tflite"
    file_name = "model.tflite"
    #: The file written is a binary artifact, not the rendered text (see ``render``).
    artifact = True
    framework = "tflite"

    def render(self, architecture: Architecture, metadata: Mapping[str, Any] | None = None) -> str:
        """The description of the converted model (shape, layout, parity, docstring); deterministic."""
        return self._convert(architecture, None, metadata)[1]

    def export(
        self,
        architecture: Architecture,
        out_dir: str | Path,
        state_dict: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """Write ``model.tflite`` and ``model.tflite.json`` into ``out_dir``, checked against PyTorch first.

        Returns:
            ``[model.tflite, model.tflite.json]``.

        Raises:
            ArchitectureError: the state dict does not fit the architecture, or the
                converted model's outputs differ from PyTorch's by more than
                PARITY_TOLERANCE.
            ConfigError: TensorFlow is not installed.
        """
        data, description = self._convert(architecture, state_dict, metadata)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / self.file_name, out / f"{self.file_name}.json"]
        write_atomically(paths[0], lambda tmp: tmp.write_bytes(data))
        write_atomically(paths[1], lambda tmp: tmp.write_text(description, encoding="utf-8"))
        return paths

    def _convert(self, architecture: Architecture, state_dict: Any, metadata: Any) -> tuple[bytes, str]:
        """The TFLite flatbuffer and its JSON description."""
        require("tensorflow", "tflite", "tf")
        import torch

        from ...torch_model import build_model

        reference = build_model(architecture)
        if state_dict is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                state_dict = build_model(architecture).state_dict()
        # Weights saved before repeated calls had containers (cell7.) get their keys (cells.7.).
        weights = grouped_state_dict(architecture, {key: value.detach().cpu() for key, value in state_dict.items()})
        load_state_dict(reference, weights, architecture)
        reference.eval()
        with _keras_model(architecture, weights) as model:
            data = _to_tflite(model)
        generator = torch.Generator().manual_seed(0)
        checks = [torch.randn(batch, *architecture.input_shape, generator=generator) for batch in _CHECK_BATCHES]
        with torch.no_grad():
            expected = [reference(x).numpy() for x in checks]
        difference = max(
            float(abs(run(data, _channels_last(x.numpy())) - want).max())
            for x, want in zip(checks, expected, strict=True)
        )
        if not difference <= PARITY_TOLERANCE:
            msg = (
                f"the TFLite model of {architecture.name!r} computes logits up to {difference:.3g} away from "
                f"PyTorch's (more than {PARITY_TOLERANCE}); export with the tensorflow emitter instead, and "
                f"please report this"
            )
            raise ArchitectureError(msg)
        return data, _description(architecture, metadata, difference)


@contextlib.contextmanager
def _keras_model(architecture: Architecture, weights: Mapping[str, Any]) -> Iterator[Any]:
    """The Keras model of the TensorFlow emitter's ``model_tf.py``, with ``weights``."""
    with tempfile.TemporaryDirectory(prefix="automl-codegen-tflite-") as tmp:
        module_path, weights_path = TensorflowEmitter().export(architecture, tmp, weights)
        name = f"_automl_codegen_tflite_{architecture.fingerprint()}"
        spec = importlib.util.spec_from_file_location(name, module_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
            yield module.build_model(str(weights_path))
        finally:
            sys.modules.pop(name, None)


def _to_tflite(model: Any) -> bytes:
    import tensorflow as tf

    # The converter prints the traced signature and warns about its own deprecations.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def interpreter(data: bytes) -> Any:
    """A TFLite interpreter for ``data``: LiteRT's where installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice that LiteRT replaces it
            return tf.lite.Interpreter(model_content=data)
    return Interpreter(model_content=data)


def run(data: bytes, x: Any) -> Any:
    """The logits of the TFLite model ``data`` for the channels-last batch ``x`` (NHWC, NLC or NF)."""
    session = interpreter(data)
    (given,) = session.get_input_details()
    session.resize_tensor_input(given["index"], list(x.shape))
    session.allocate_tensors()
    session.set_tensor(given["index"], x)
    session.invoke()
    return session.get_tensor(session.get_output_details()[0]["index"]).copy()


def _channels_last(x: Any) -> Any:
    """A channels-first batch (N, C, H, W) or (N, C, L) as the Keras model takes it; (N, F) stays."""
    return x.transpose(0, *range(2, x.ndim), 1)


#: Per input rank: the layout the model takes, its axes and how to get there from PyTorch's.
_LAYOUTS = {
    3: ("NHWC", "(N, H, W, C)", "The layout is channels last (NHWC): x = x_nchw.transpose(0, 2, 3, 1)."),
    2: ("NLC", "(N, L, C)", "The layout is channels last (NLC): x = x_ncl.transpose(0, 2, 1)."),
    1: ("NF", "(N, F)", "The layout is (N, F), as in PyTorch."),
}


def _description(architecture: Architecture, metadata: Any, difference: float) -> str:
    channels, *sizes = architecture.input_shape
    dims = (*sizes, channels)
    layout, axes, note = _LAYOUTS[len(dims)]
    given = dict(metadata or {})
    usage = [
        "from ai_edge_litert.interpreter import Interpreter  # or tf.lite.Interpreter",
        'model = Interpreter("model.tflite")',
        'given = model.get_input_details()[0]["index"]',
        f"model.resize_tensor_input(given, [len(x), {', '.join(map(str, dims))}])",
        "model.allocate_tensors()",
        f"model.set_tensor(given, x)  # x: float32 {axes}",
        "model.invoke()",
        'logits = model.get_tensor(model.get_output_details()[0]["index"])',
    ]
    lines = docstring_lines(architecture, metadata, input_dims=dims, usage=usage, input_notes=[note])
    description = {
        "input": {
            "shape": [None, *dims],
            "layout": layout,
            "dtype": "float32",
            "normalization": (given.get("input") or {}).get("normalization"),
            # {"scale", "mean", "std"}: input = (pixels / scale - mean) / std, per channel
            "preprocess": (given.get("input") or {}).get("preprocess"),
        },
        "output": {"shape": [None, architecture.num_classes], "meaning": "logits"},
        "parity_max_abs_diff": float(f"{difference:.3g}"),
        "architecture_fingerprint": architecture.fingerprint(),
        "description": [_TITLE, *lines],
    }
    for key in ("dataset", "space", "strategy", "genotype", "metrics"):
        if given.get(key) is not None:
            description[key] = given[key]
    return json.dumps(description, indent=2, sort_keys=False) + "\n"
