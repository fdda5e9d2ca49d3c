"""check_emitter: a code emitter against the Emitter protocol, its exported code run against torch."""

from __future__ import annotations

import importlib.util
import itertools
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..architecture import Architecture
from ..protocols import attribute
from ._fixtures import tiny_architecture
from ._report import ConformanceReport, _fail

#: Frameworks whose exported code :func:`check_emitter` can run, by emitter name or ``framework``.
FRAMEWORKS = {
    "pytorch": "pytorch",
    "torch": "pytorch",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "tflite": "tflite",
}
# float32; across frameworks a little more
_TOLERANCE = {"pytorch": 1e-5, "tensorflow": 1e-4, "onnx": 1e-4, "tflite": 1e-4}
_module_ids = itertools.count()


def check_emitter(
    emitter: Any,
    *,
    architecture: Architecture | None = None,
    run: bool = True,
    framework: str | None = None,
    atol: float | None = None,
) -> ConformanceReport:
    """Check a code emitter against :class:`~automl_codegen.protocols.Emitter`.

    Framework-neutral checks: ``render`` twice gives byte-identical source that
    compiles; ``export`` without weights writes the module (named ``file_name``) with
    the rendered source, into the directory it is given.

    With ``run``, the exported code is run when its framework is known and importable.
    The framework is ``framework``, else the emitter's optional ``framework`` attribute,
    else its ``name``: ``"pytorch"``/``"torch"`` (NCHW input) or ``"tensorflow"``/
    ``"keras"`` (Keras 3, NHWC input). The module must define ``build_model(weights=None)``
    returning a callable model. The reference is the torch model of the same IR
    (:func:`automl_codegen_plugins.torch_model.build_model`) with random weights and
    batch-norm statistics: exported with its ``state_dict()``, the module's
    ``build_model(<weights file>)`` must compute the reference's logits within ``atol``
    (default 1e-5 for PyTorch, 1e-4 for the others), and ``build_model()`` must map a
    random input of the architecture's shape to ``(1, num_classes)``. Other frameworks
    get the neutral checks only (reported as skipped).

    An emitter whose optional ``artifact`` attribute is true writes a deployment file,
    not the rendered source: ``render`` must still be deterministic text and ``export``
    must write ``file_name``. With ``run``, for ``"onnx"`` (run by ONNX Runtime) or
    ``"tflite"`` (run by the TFLite interpreter), the file exported with the reference's
    weights must compute its logits within ``atol``, and take a batch of 3 as well.

    Raises:
        AssertionError: the emitter breaks the contract; the message says how.
    """
    architecture = tiny_architecture() if architecture is None else architecture
    name = getattr(emitter, "name", None) or type(emitter).__qualname__
    label = f"emitter {name!r}"
    report = ConformanceReport(label)
    file_name = attribute("emitter", emitter, "file_name")
    artifact = attribute("emitter", emitter, "artifact")
    first = _check_render(label, emitter, architecture, file_name, report, compiles=not artifact)
    with tempfile.TemporaryDirectory(prefix="automl-codegen-emitter-") as tmp:
        out = Path(tmp) / "export"
        paths = [Path(p) for p in emitter.export(architecture, out, None, None)]
        module_path = _check_exported(label, paths, out, file_name, None if artifact else first)
        report.passed(f"export writes {file_name}" + ("" if artifact else " with the rendered source"))
        chosen = framework or getattr(emitter, "framework", None) or getattr(emitter, "name", None)
        kind = FRAMEWORKS.get(str(chosen).lower())
        if not run:
            report.skip("run", "run=False")
        elif kind is None:
            report.skip("run", f"framework {chosen!r} is not one of {sorted(FRAMEWORKS)}; set `framework`")
        else:
            _run_exported(label, emitter, architecture, kind, module_path, Path(tmp), atol, report)
    return report


def _check_render(
    label: str, emitter: Any, architecture: Architecture, file_name: str, report: ConformanceReport, *, compiles: bool
) -> str:
    """``render`` twice gives the same text, which (for a source emitter) compiles; returns it."""
    first = emitter.render(architecture, None)
    second = emitter.render(architecture, None)
    if not isinstance(first, str):
        raise _fail(label, f"render() returned a {type(first).__name__}", "return the module's source as a str")
    if first != second:
        pairs = itertools.zip_longest(first.splitlines(), second.splitlines())
        line = next((i for i, (a, b) in enumerate(pairs, 1) if a != b), 0)
        raise _fail(
            label,
            f"two renders of one architecture differ (first at line {line})",
            "the output must be deterministic: no timestamps, set iteration or id()-based names",
        )
    report.passed("render is byte-identical for equal input")
    if not compiles:
        return first
    try:
        compile(first, file_name, "exec")
    except SyntaxError as exc:
        raise _fail(label, f"the rendered source does not compile: {exc}", "fix the template") from exc
    report.passed("the source compiles")
    return first


def _check_exported(label: str, paths: list[Path], out: Path, file_name: str, source: str | None) -> Path:
    if not paths:
        raise _fail(label, "export() returned no paths", "return the paths it wrote, the module first")
    for path in paths:
        if not path.is_file() or out.resolve() not in path.resolve().parents:
            raise _fail(
                label,
                f"export() returned {path}, which is not a file it wrote into {out}",
                "write into out_dir (create it) and return the paths written",
            )
    module_path = next((p for p in paths if p.name == file_name), None)
    if module_path is None:
        raise _fail(
            label,
            f"export() wrote {[p.name for p in paths]}, no {file_name!r}",
            "name the module file_name (an optional attribute, default 'model.py')",
        )
    if source is not None and module_path.read_text(encoding="utf-8") != source:
        raise _fail(label, f"the exported {file_name} differs from render()", "export should write what render returns")
    return module_path


def _run_exported(
    label: str,
    emitter: Any,
    arch: Architecture,
    kind: str,
    module_path: Path,
    tmp: Path,
    atol: float | None,
    report: ConformanceReport,
) -> None:
    if not _frameworks_importable(kind, report):
        return
    atol = _TOLERANCE[kind] if atol is None else atol
    reference, x, expected = _reference_logits(arch)
    if kind in ("onnx", "tflite"):
        _run_artifact(label, emitter, arch, kind, tmp, reference, x, expected, atol, report)
        return
    run = _runner(kind, x)
    build = getattr(_import_file(module_path), "build_model", None)
    if not callable(build):
        raise _fail(
            label,
            f"the exported {module_path.name} has no build_model()",
            "define build_model(weights=None) returning the model (check_emitter's convention)",
        )
    fresh = run(build())
    if fresh.shape != (1, arch.num_classes):
        raise _fail(
            label,
            f"build_model() maps a (1, {', '.join(map(str, arch.input_shape))}) input to shape {fresh.shape}",
            f"return (batch, num_classes) = (1, {arch.num_classes}) logits",
        )
    report.passed(f"the exported {kind} module runs: output (1, {arch.num_classes})")
    out = tmp / "weights"
    paths = [Path(p) for p in emitter.export(arch, out, reference.state_dict(), None)]
    weights = [p for p in paths if p.name != module_path.name]
    if not weights:
        raise _fail(label, "export() with a state dict wrote no weights file", "write the weights beside the module")
    got = run(_import_file(out / module_path.name).build_model(str(weights[0])))
    delta = float(np.abs(got - expected).max())
    if not delta <= atol:
        raise _fail(
            label,
            f"with the exported weights the model's logits differ from the torch reference by "
            f"{delta:.3g} (tolerance {atol:g})",
            "the generated code must compute what the IR does",
        )
    report.passed(f"with the exported weights it matches the torch reference (max |delta| {delta:.2g})")


def _run_artifact(
    label: str,
    emitter: Any,
    arch: Architecture,
    kind: str,
    tmp: Path,
    reference: Any,
    x: Any,
    expected: np.ndarray,
    atol: float,
    report: ConformanceReport,
) -> None:
    """The file exported with the reference's weights, run by its runtime at batch sizes 1 and 3."""
    paths = [Path(p) for p in emitter.export(arch, tmp / "weights", reference.state_dict(), None)]
    run = _artifact_runner(kind, paths[0])
    got = run(x.numpy())
    delta = float(np.abs(got - expected).max())
    if not delta <= atol:
        raise _fail(
            label,
            f"with the exported weights the {kind} model's logits differ from the torch reference by "
            f"{delta:.3g} (tolerance {atol:g})",
            "the exported model must compute what the IR does",
        )
    batch = run(np.concatenate([x.numpy()] * 3))
    if batch.shape != (3, arch.num_classes):
        raise _fail(label, f"a batch of 3 gives logits of shape {batch.shape}", "export a symbolic batch dimension")
    report.passed(f"the {kind} model matches the torch reference (max |delta| {delta:.2g}), any batch size")


def _artifact_runner(kind: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Runs the exported file on an NCHW batch."""
    if kind == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (name,) = (i.name for i in session.get_inputs())
        return lambda x: session.run(None, {name: x})[0]
    from automl_codegen_plugins.emitters.tflite import _emitter as tflite

    data = path.read_bytes()
    return lambda x: tflite.run(data, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))


def _frameworks_importable(kind: str, report: ConformanceReport) -> bool:
    """Whether torch (for the reference) and, for TensorFlow code, keras import; else the run is skipped."""
    try:
        import torch  # noqa: F401

        from automl_codegen_plugins.torch_model import build_model  # noqa: F401
    except ImportError as exc:
        report.skip("run", f"the torch reference model cannot be imported ({exc})")
        return False
    needed = {"tensorflow": "keras", "onnx": "onnxruntime", "tflite": "tensorflow"}.get(kind)
    if needed is not None:
        try:
            importlib.import_module(needed)
        except ImportError as exc:
            report.skip("run", f"{needed} cannot be imported ({exc})")
            return False
    return True


def _reference_logits(arch: Architecture) -> tuple[Any, Any, np.ndarray]:
    """The torch model of ``arch`` with seeded random weights and batch-norm statistics, a random input, its logits."""
    import torch

    from automl_codegen_plugins.torch_model import build_model as reference_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = reference_model(arch)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
                module.running_mean.uniform_(-0.5, 0.5, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
        reference.eval()
        x = torch.randn(1, *arch.input_shape, generator=generator)
        expected = reference(x).numpy()
    return reference, x, expected


def _runner(kind: str, x: Any) -> Callable[[Any], np.ndarray]:
    """Runs a model of the exported code on ``x``: NCHW for PyTorch, NHWC for TensorFlow."""
    import torch

    def run(model: Any) -> np.ndarray:
        if kind == "pytorch":
            with torch.no_grad():
                return model(x).numpy()
        return np.asarray(model(x.numpy().transpose(0, 2, 3, 1)))

    return run


def _import_file(path: Path) -> types.ModuleType:
    """Import generated code under a fresh name, leaving ``sys.modules`` alone."""
    spec = importlib.util.spec_from_file_location(f"automl_codegen_conformance_{next(_module_ids)}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
