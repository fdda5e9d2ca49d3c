"""The PyTorch emitter: renders the template and writes ``model.py`` (+ ``model.pt``)."""

from __future__ import annotations

import functools
import json
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_codegen import Architecture

from ._codegen import LINE_LENGTH, lower

if TYPE_CHECKING:
    import jinja2

__all__ = ["PytorchEmitter"]

_TITLE = "A neural network found by AutoML-CodeGen, written out as standalone PyTorch code."
# Wrapping at this width leaves room for the escapes added afterwards in most cases.
_DOC_WIDTH = 92
_PRINTABLE = re.compile(r"[ -~]*")
_ESCAPED_CHAR = re.compile(r"\\.|.")


class PytorchEmitter:
    """Writes an architecture as one ``model.py`` that imports only torch.

    The module has one ``nn.Module`` class per block kind, the network class and a
    ``build_model(weights=None)`` function; its state-dict keys are those of
    :func:`automl_codegen_plugins.torch_model.build_model`, so weights trained in the
    search load unchanged.
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
        code = lower(architecture)
        return _template().render(
            doc_title=_TITLE,
            doc_lines=_docstring_lines(architecture, metadata or {}, self),
            code=code,
            net=architecture.name,
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
            ValueError: the state dict does not fit the architecture.
        """
        source = self.render(architecture, metadata)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / self.file_name]
        if state_dict is not None:
            import torch

            from ...torch_model import build_model

            weights = {key: value.detach().cpu() for key, value in state_dict.items()}
            try:
                # Checked before writing: a bad file would only fail in the user's hands.
                build_model(architecture).load_state_dict(weights)
            except RuntimeError as exc:
                msg = f"the state dict does not fit architecture {architecture.name!r}: {exc}"
                raise ValueError(msg) from None
            paths.append(out / self.weights_name)
            torch.save(weights, paths[1])
        paths[0].write_text(source, encoding="utf-8", newline="\n")
        return paths


@functools.cache
def _template() -> jinja2.Template:
    import jinja2  # imported on first use so that listing plugins stays fast

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("model.py.jinja")


# -- the module docstring ------------------------------------------------------------------


def _show(value: object) -> str:
    """One-line display text; anything but plain printable ASCII goes through JSON."""
    if isinstance(value, str):
        return value if _PRINTABLE.fullmatch(value) else json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"metadata {what} must be a mapping, got {value!r}"
        raise TypeError(msg)
    return value


def _docstring_lines(arch: Architecture, metadata: Mapping[str, Any], emitter: PytorchEmitter) -> list[str]:
    # None means "not known" (a search without a space, say): leave it out.
    meta = {k: v for k, v in _mapping(metadata, "metadata").items() if v is not None}
    given = _mapping(meta.pop("input", None), "'input'")
    shape = given.get("shape")
    if shape is not None and (not isinstance(shape, list | tuple) or tuple(shape) != arch.input_shape):
        msg = f"metadata input shape {shape!r} does not match the architecture's input_shape {arch.input_shape}"
        raise ValueError(msg)
    dims = ", ".join(map(str, arch.input_shape))
    norm = given.get("normalization", given.get("normalisation"))
    lines = [
        "",
        f"Input: a {_show(given.get('dtype', 'float32'))} tensor of shape (N, {dims}), N being the batch size.",
        f"Normalisation: {_show(norm)}"
        if norm is not None
        else "Normalisation: not recorded; scale inputs as they were in training.",
        f"Output: (N, {arch.num_classes}) logits from {arch.name}, which has {arch.num_params:,} parameters.",
    ]
    metrics = _mapping(meta.pop("metrics", None), "'metrics'")
    if metrics:
        lines += ["", "Measured during the search:"]
        lines += [f"    {_show(k)}: {_show(metrics[k])}" for k in sorted(metrics, key=str)]
    search = [f"{k} {_show(meta.pop(k))}" for k in ("dataset", "strategy", "space") if k in meta]
    genotype = meta.pop("genotype", None)
    if search or genotype is not None or meta:
        lines.append("")
    if search:
        lines.append(f"Search: {', '.join(search)}.")
    if genotype is not None:
        lines.append(f"Genotype: {_show(genotype)}")
    lines += [f"{_show(k)}: {_show(meta[k])}" for k in sorted(meta, key=str)]
    module = Path(emitter.file_name).stem
    lines += [
        "",
        "Usage:",
        f"    from {module} import build_model",
        f'    model = build_model("{emitter.weights_name}")  # build_model() for fresh weights',
        "    logits = model(x)",
    ]
    return [out for line in lines for out in _fit(line)]


def _fit(line: str) -> list[str]:
    """Wrap a display line and escape it for a triple-quoted string, within LINE_LENGTH."""
    if not line:
        return [""]
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    # Long tokens (a cell string) get a line of their own; the loop below cuts only what still overflows.
    wrapped = textwrap.wrap(line, _DOC_WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    out = []
    for part in wrapped:
        escaped = part.replace("\\", "\\\\").replace('"""', '""\\"')
        # Escapes can push a line past the limit: cut it, never inside an escape.
        current = ""
        for atom in _ESCAPED_CHAR.findall(escaped):
            if len(current) + len(atom) > LINE_LENGTH:
                out.append(current.rstrip())
                current = indent
            current += atom
        out.append(current.rstrip())
    return out
