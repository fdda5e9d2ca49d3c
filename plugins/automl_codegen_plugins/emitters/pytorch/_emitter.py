"""The PyTorch emitter: renders the template and writes ``model.py`` (+ ``model.pt``)."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automl_codegen import Architecture, ArchitectureError

from .._common import Preprocess, docstring_lines, load_template, preprocess_constants, write_atomically
from .._structure import grouped_state_dict
from .._tabular import tabular_code
from ._codegen import lower

__all__ = ["PytorchEmitter"]

_TITLE = "A neural network found by AutoML-CodeGen, written out as standalone PyTorch code."


class PytorchEmitter:
    """Writes an architecture as one ``model.py`` that imports only torch.

    The module has one ``nn.Module`` class per block kind, the network class and a
    ``build_model(weights=None, ...)`` function taking the network's arguments (its
    sizes and ``num_classes``). Its state-dict keys are those of
    :func:`automl_codegen_plugins.torch_model.build_model` (repeated calls in one
    container: ``cells.7.``), so weights trained in the search load unchanged; weights
    saved before containers existed (``cell7.``) are renamed on export.
    """

    name = "pytorch"
    file_name = "model.py"
    weights_name = "model.pt"

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
        preprocess = preprocess_constants(metadata, architecture.input_shape)
        return load_template(__package__, "model.py.jinja").render(
            doc_title=_TITLE,
            doc_lines=_docstring_lines(architecture, metadata or {}, self, preprocess, tabular),
            code=code,
            preprocess=preprocess,
            tabular=tabular,
            example_shape=", ".join(map(str, (2, *architecture.input_shape))),
        )

    def export(
        self,
        architecture: Architecture,
        out_dir: str | Path,
        state_dict: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """Write ``model.py`` and, given a state dict, ``model.pt`` into ``out_dir``.

        Args:
            architecture: the network to write.
            out_dir: the directory to write into (created if missing).
            state_dict: trained weights, e.g. the ``state_dict()`` of the search's model.
            metadata: as for :meth:`render`.

        Returns:
            The paths written, ``model.py`` first.

        Raises:
            ArchitectureError: the state dict does not fit the architecture (a ValueError).
        """
        source = self.render(architecture, metadata)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / self.file_name]
        if state_dict is not None:
            import torch

            from ...torch_model import build_model

            weights = self.code_state_dict(architecture, {k: v.detach().cpu() for k, v in state_dict.items()})
            try:
                # Checked before writing: a bad file would only fail in the user's hands.
                build_model(architecture).load_state_dict(weights)
            except RuntimeError as exc:
                msg = f"the state dict does not fit architecture {architecture.name!r}: {exc}"
                raise ArchitectureError(msg) from None
            paths.append(out / self.weights_name)
            write_atomically(paths[1], lambda tmp: _save(torch, weights, tmp))
        write_atomically(paths[0], lambda tmp: tmp.write_text(source, encoding="utf-8", newline="\n"))
        return paths

    def code_state_dict(self, architecture: Architecture, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        """``state_dict`` with the keys of the generated code (and of today's torch builder).

        The values are the same objects. Keys that name a repeated call by its node, as
        weights saved before containers did (``cell7.preprocess0.conv.weight``), become
        the container's (``cells.7.preprocess0.conv.weight``); others stay as they are.
        """
        return grouped_state_dict(architecture, state_dict)


def _save(torch: Any, weights: Mapping[str, Any], path: Path) -> None:
    """``torch.save``, whose RuntimeError on a full disk becomes the OSError it is."""
    try:
        torch.save(weights, path)
    except RuntimeError as exc:
        msg = f"the weights could not be written; is the disk full? (torch: {str(exc).strip().splitlines()[0][:200]})"
        raise OSError(errno.EIO, msg, str(path)) from None


# -- the module docstring ------------------------------------------------------------------


def _docstring_lines(
    arch: Architecture,
    metadata: Mapping[str, Any],
    emitter: PytorchEmitter,
    preprocess: Preprocess | None,
    tabular: Mapping[str, Any] | None,
) -> list[str]:
    module = Path(emitter.file_name).stem
    if tabular:
        usage = [
            f"from {module} import build_model, predict",
            f'model = build_model("{emitter.weights_name}")',
            'predict(model, [{"column": "raw value", ...}, ...])  # rows as csv.DictReader reads them',
        ]
        return docstring_lines(arch, metadata, input_dims=arch.input_shape, usage=usage)
    usage = [
        f"from {module} import build_model" + (", preprocess" if preprocess else ""),
        f'model = build_model("{emitter.weights_name}")  # build_model() for fresh weights',
        f"logits = model(preprocess({preprocess.values}))" if preprocess else "logits = model(x)",
    ]
    return docstring_lines(arch, metadata, input_dims=arch.input_shape, usage=usage)
