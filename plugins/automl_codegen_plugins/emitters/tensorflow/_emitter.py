"""The TensorFlow emitter: renders the template and writes ``model_tf.py`` (+ weights).

Rendering needs neither TensorFlow nor torch. Exporting weights needs both: the state
dict is checked against the torch model, converted (:mod:`._weights`), assigned to the
Keras model that the generated code builds, and saved with Keras' own ``save_weights``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_codegen import Architecture, ArchitectureError, PluginError

from .._common import Preprocess, docstring_lines, load_template, preprocess_constants, write_atomically
from .._structure import grouped_state_dict
from .._tabular import tabular_code
from ._codegen import lower

if TYPE_CHECKING:
    import keras
    import numpy as np

__all__ = ["TensorflowEmitter"]

_TITLE = "A neural network found by AutoML-CodeGen, written out as standalone TensorFlow/Keras code."


class TensorflowEmitter:
    """Writes an architecture as one ``model_tf.py`` that imports only Keras 3.

    The module has one function per block kind, helper layers where PyTorch semantics
    need them, and ``build_model(weights=None)`` returning a functional ``keras.Model``
    that takes channels-last input: (N, H, W, C) images, (N, L, C) sequences, (N, F)
    vectors. Its layers are named by the module paths of
    :func:`automl_codegen_plugins.torch_model.build_model`, which is how weights
    trained in the search find their way in.
    """

    name = "tensorflow"
    file_name = "model_tf.py"
    weights_name = "model_tf.weights.h5"

    def render(self, architecture: Architecture, metadata: Mapping[str, Any] | None = None) -> str:
        """The source of the standalone module; byte-identical for equal inputs.

        Args:
            architecture: the network to write.
            metadata: optional facts for the module docstring: ``input`` (``shape``,
                ``dtype``, ``normalization``), ``metrics``, ``dataset``, ``strategy``,
                ``space``, ``genotype`` and any other JSON-like entries.
        """
        tabular = tabular_code(metadata, "outputs")
        # A table's predict() names its classes, so their number is not an argument.
        code = lower(architecture, num_classes_argument=tabular is None)
        dims = ", ".join(map(str, code.input_shape))
        preprocess = preprocess_constants(metadata, architecture.input_shape)
        return load_template(__package__, "model_tf.py.jinja").render(
            doc_title=_TITLE,
            doc_lines=self._docstring(
                architecture, metadata, code.input_shape, bool(code.helpers), preprocess, tabular is not None
            ),
            code=code,
            preprocess=preprocess,
            tabular=tabular,
            # Unique per architecture; short enough for one line with a 64-letter name.
            package=f"{architecture.name}_{architecture.fingerprint()[:8]}",
            input_dims=dims,
            input_shape=repr(tuple(code.input_shape)),
            example_shape=f"2, {dims}",
        )

    def _docstring(
        self,
        arch: Architecture,
        metadata: Mapping[str, Any] | None,
        nhwc: tuple[int, ...],
        helpers: bool,
        preprocess: Preprocess | None,
        tabular: bool = False,
    ) -> list[str]:
        module = Path(self.file_name).stem
        usage = [
            f"from {module} import build_model" + (", preprocess" if preprocess else ""),
            f'model = build_model("{self.weights_name}")  # build_model() for fresh weights',
            f"logits = model(preprocess({preprocess.values}))  # channels last"
            if preprocess
            else "logits = model(x)  # or model.predict(x) for many batches",
        ]
        if tabular:
            usage = [
                f"from {module} import build_model, predict",
                f'model = build_model("{self.weights_name}")',
                'predict(model, [{"column": "raw value", ...}, ...])  # rows as csv.DictReader reads them',
            ]
        if helpers:
            usage.append(f"# Before keras.saving.load_model of a saved .keras file: import {module}")
        return docstring_lines(
            arch,
            metadata,
            input_dims=nhwc,
            usage=usage,
            input_notes=_layout_notes(arch),
        )

    def export(
        self,
        architecture: Architecture,
        out_dir: str | Path,
        state_dict: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """Write ``model_tf.py`` and, given a state dict, ``model_tf.weights.h5``.

        Args:
            architecture: the network to write.
            out_dir: the directory to write into (created if missing).
            state_dict: trained PyTorch weights, e.g. the ``state_dict()`` of the
                search's model; converted to Keras layouts on the way.
            metadata: as for :meth:`render`.

        Returns:
            The paths written, ``model_tf.py`` first.

        Raises:
            ArchitectureError: the state dict does not fit the architecture (nothing is written; a ValueError).
            PluginError: weights were given but Keras 3 (TensorFlow) is not installed.
        """
        source = self.render(architecture, metadata)
        model = None
        if state_dict is not None:
            # Everything that can fail happens before anything is written.
            weights = _checked_weights(architecture, state_dict)
            model = self._build(source)
            _assign(model, weights)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / self.file_name]
        if model is not None:
            paths.append(out / self.weights_name)
            write_atomically(paths[1], model.save_weights)
        write_atomically(paths[0], lambda tmp: tmp.write_text(source, encoding="utf-8", newline="\n"))
        return paths

    def _build(self, source: str) -> keras.Model:
        """The model that ``source`` builds, run in a module of its own."""
        keras = _import_keras()
        module = types.ModuleType(Path(self.file_name).stem)
        exec(compile(source, self.file_name, "exec"), module.__dict__)  # our own generated code
        model = module.build_model()
        if not isinstance(model, keras.Model):
            msg = f"generated build_model() returned {type(model).__name__}, not a keras.Model"
            raise PluginError(msg)
        return model


def _layout_notes(arch: Architecture) -> list[str]:
    """How PyTorch's channels-first input becomes the channels-last input Keras takes."""
    given = ", ".join(map(str, arch.input_shape))
    if len(arch.input_shape) == 1:
        return ["Layout: (N, features), as in PyTorch."]
    if len(arch.input_shape) == 2:
        return [
            f"Layout: channels last (N, L, C), as Keras expects. From PyTorch's (N, {given}):",
            "    x.transpose(0, 2, 1) for NumPy arrays, tf.transpose(x, (0, 2, 1)) for tensors.",
        ]
    return [
        f"Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, {given}):",
        "    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.",
    ]


def _import_keras() -> types.ModuleType:
    try:
        import keras
    except ModuleNotFoundError:
        msg = (
            "the tensorflow emitter needs TensorFlow to convert weights; install it with "
            "pip install 'automl-codegen[tf]'"
        )
        raise PluginError(msg) from None
    if int(keras.__version__.split(".")[0]) < 3:
        msg = f"the tensorflow emitter needs Keras 3 (TensorFlow 2.16 or later), found Keras {keras.__version__}"
        raise PluginError(msg)
    return keras


def _checked_weights(arch: Architecture, state_dict: Mapping[str, Any]) -> dict[str, list[np.ndarray]]:
    """The Keras weights of a state dict that the torch model of ``arch`` accepts."""
    import torch

    from ...torch_model import build_model
    from ._weights import keras_weights

    # Keys as the builder has them today: weights saved before repeated calls had containers
    # (cell7.x) are renamed (cells.7.x).
    tensors = grouped_state_dict(arch, {key: torch.as_tensor(v).detach().cpu() for key, v in state_dict.items()})
    try:
        build_model(arch).load_state_dict(tensors)
    except RuntimeError as exc:
        msg = f"the state dict does not fit architecture {arch.name!r}: {exc}"
        raise ArchitectureError(msg) from None
    return keras_weights(arch, tensors)


def _assign(model: keras.Model, weights: Mapping[str, list[np.ndarray]]) -> None:
    """Set every layer's weights; the emitter's naming guarantees a one-to-one match."""
    holders = {layer.name for layer in model.layers if layer.weights}
    if holders != set(weights):
        # A bug in the emitter, not in the user's input: say what is out of step.
        msg = (
            f"layers with weights {sorted(holders - set(weights))} got none, and converted "
            f"weights {sorted(set(weights) - holders)} have no layer"
        )
        raise PluginError(msg)
    for name, arrays in weights.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        if expected != [a.shape for a in arrays]:
            msg = f"layer {name!r} holds weights of shapes {expected}, the conversion gave {[a.shape for a in arrays]}"
            raise PluginError(msg)
        layer.set_weights(arrays)
