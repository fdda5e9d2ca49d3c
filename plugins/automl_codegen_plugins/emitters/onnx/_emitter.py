"""The ONNX emitter: the PyTorch emitter's network, exported with weights and checked.

What is exported is the network of the generated ``model.py`` itself (rendered, imported
and loaded with the weights), so the ONNX file computes what the PyTorch code does; it
goes through torch's ``torch.export``-based ("dynamo") exporter with a symbolic batch
dimension. Before anything is written, ONNX Runtime runs the graph on a fixed input at
two batch sizes and its outputs are compared with PyTorch's; the largest difference is
recorded in the file's metadata (``parity_max_abs_diff``; every value there is JSON)
and a graph that strays too far is refused.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from automl_codegen import Architecture, ArchitectureError

from .._common import docstring_lines, load_state_dict, require, write_atomically
from ..pytorch import PytorchEmitter

__all__ = ["OPSET", "PARITY_TOLERANCE", "OnnxEmitter"]

_TITLE = "A neural network found by AutoML-CodeGen, exported as ONNX."
INPUT, OUTPUT = "input", "logits"
#: The ONNX opset written: that of the dynamo exporter of torch 2.13, which ONNX Runtime
#: 1.17 and later run.
OPSET = 20
#: Largest |ONNX Runtime - PyTorch| accepted on the check input: float32 kernels sum in
#: other orders, so exact equality is not expected; a wrong graph is off by far more.
PARITY_TOLERANCE = 1e-4
_CHECK_BATCHES = (1, 3)


class OnnxEmitter:
    """Writes an architecture, with its trained weights, as one ``model.onnx``.

    The graph takes ``input`` (N, C, H, W) float32 (or (N, C, L), (N, F), as the
    architecture's input shape says) with any batch size N and returns
    ``logits`` (N, classes). Without weights the network is initialised as the PyTorch
    code initialises it, with torch's generator seeded with 0 (an untrained network, to
    try a deployment pipeline). Exporting needs torch, ``onnx``, ``onnxscript`` and
    ``onnxruntime`` (``pip install 'automl-codegen[onnx]'``); rendering needs only ``onnx``.

    ``render`` returns the graph in ONNX's text syntax with the weights left out (their
    names and shapes stay), for reading and for reports; the file is what ``export``
    writes.
    """

    name = "onnx"
    file_name = "model.onnx"
    #: The file written is a binary artifact, not the rendered text (see ``render``).
    artifact = True

    def render(self, architecture: Architecture, metadata: Mapping[str, Any] | None = None) -> str:
        """The exported graph in ONNX's text syntax, weights elided; byte-identical for equal inputs."""
        model = self._export(architecture, None, metadata)
        onnx = require("onnx", "onnx", "onnx")
        for tensor in model.graph.initializer:
            tensor.ClearField("raw_data")
            tensor.ClearField("float_data")
        return onnx.printer.to_text(model) + "\n"

    def export(
        self,
        architecture: Architecture,
        out_dir: str | Path,
        state_dict: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """Write ``model.onnx`` (graph and weights) into ``out_dir``, checked against PyTorch first.

        Returns:
            ``[out_dir / "model.onnx"]``.

        Raises:
            ArchitectureError: the state dict does not fit the architecture, or ONNX
                Runtime's outputs differ from PyTorch's by more than PARITY_TOLERANCE.
            ConfigError: a package the export needs is not installed.
        """
        model = self._export(architecture, state_dict, metadata)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / self.file_name
        data = model.SerializeToString(deterministic=True)
        write_atomically(path, lambda tmp: tmp.write_bytes(data))
        return [path]

    def _export(self, architecture: Architecture, state_dict: Mapping[str, Any] | None, metadata: Any) -> Any:
        """The checked ONNX ModelProto, with the docstring and metadata attached."""
        for package in ("onnx", "onnxscript", "onnxruntime"):
            require(package, "onnx", "onnx")
        import torch

        with _generated_module(architecture) as module, torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            network = module.build_model()
            if state_dict is not None:
                weights = {key: value.detach().cpu() for key, value in state_dict.items()}
                # Weights saved before repeated calls had containers (cell7.) get their keys (cells.7.).
                load_state_dict(network, PytorchEmitter().code_state_dict(architecture, weights), architecture)
            network.eval()
            model = _to_onnx(torch, network, architecture)
            checks = [torch.randn(batch, *architecture.input_shape) for batch in _CHECK_BATCHES]
            with torch.no_grad():
                expected = [network(x).numpy() for x in checks]
        difference = _parity(model, checks, expected)
        if not difference <= PARITY_TOLERANCE:
            msg = (
                f"the ONNX graph of {architecture.name!r} computes logits up to {difference:.3g} away from "
                f"PyTorch's (more than {PARITY_TOLERANCE}); export with the pytorch emitter instead, and "
                f"please report this"
            )
            raise ArchitectureError(msg)
        model.doc_string = "\n".join([_TITLE, *_docstring(architecture, metadata)])
        model.producer_name = "automl-codegen"
        for key, value in _properties(architecture, metadata, difference).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        return model


@contextlib.contextmanager
def _generated_module(architecture: Architecture) -> Iterator[Any]:
    """The PyTorch emitter's ``model.py`` for ``architecture``, imported from a scratch directory."""
    source = PytorchEmitter().render(architecture)
    with tempfile.TemporaryDirectory(prefix="automl-codegen-onnx-") as tmp:
        path = Path(tmp) / "model.py"
        path.write_text(source, encoding="utf-8")
        name = f"_automl_codegen_onnx_{architecture.fingerprint()}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # torch.export looks the module up by name
        try:
            spec.loader.exec_module(module)
            yield module
        finally:
            sys.modules.pop(name, None)


def _to_onnx(torch: Any, network: Any, architecture: Architecture) -> Any:
    example = torch.zeros(2, *architecture.input_shape)
    batch = torch.export.Dim("batch", min=1)
    # The exporter logs its progress and what it skips (torchvision's ops) on every call.
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                network,
                (example,),
                dynamo=True,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes={"x": {0: batch}},
                opset_version=OPSET,
                verbose=False,
            )
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    model = program.model_proto
    # The exporter annotates each node with its Python stack trace and FX node: paths
    # of this machine and a scratch directory, which would make every export differ.
    for graph in [model.graph, *(function for function in model.functions)]:
        for node in graph.node:
            node.ClearField("metadata_props")
    return model


def _parity(model: Any, inputs: list[Any], expected: list[Any]) -> float:
    """Largest |ONNX Runtime - PyTorch| over the check inputs."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return max(
        float(np.abs(session.run([OUTPUT], {INPUT: x.numpy()})[0] - want).max())
        for x, want in zip(inputs, expected, strict=True)
    )


#: The input's layout per rank, channels first as in PyTorch.
_LAYOUTS = {3: ("NCHW", "(N, C, H, W)"), 2: ("NCL", "(N, C, L)"), 1: ("NF", "(N, F)")}


def _docstring(architecture: Architecture, metadata: Any) -> list[str]:
    axes = _LAYOUTS[len(architecture.input_shape)][1]
    usage = [
        "import onnxruntime",
        'session = onnxruntime.InferenceSession("model.onnx")',
        f'logits = session.run(None, {{"input": x}})[0]  # x: float32 {axes}',
    ]
    return docstring_lines(architecture, metadata, input_dims=architecture.input_shape, usage=usage)


def _properties(architecture: Architecture, metadata: Any, difference: float) -> dict[str, str]:
    """Key-value metadata of the file, each value JSON: what a server needs without the docstring."""
    given = dict(metadata or {})
    properties = {
        "input_shape": list(architecture.input_shape),
        "input_layout": _LAYOUTS[len(architecture.input_shape)][0],
        "num_classes": architecture.num_classes,
        "parity_max_abs_diff": float(f"{difference:.3g}"),
        "architecture_fingerprint": architecture.fingerprint(),
        "normalization": (given.get("input") or {}).get("normalization"),
        # {"scale", "mean", "std"}: input = (pixels / scale - mean) / std, per channel
        "preprocess": (given.get("input") or {}).get("preprocess"),
    }
    for key in ("dataset", "space", "strategy", "genotype"):
        properties[key] = given.get(key)
    return {key: json.dumps(value, sort_keys=True) for key, value in properties.items() if value is not None}
