"""The run report: ``report.png`` (the figure) and ``report.html`` (one self-contained page).

    from automl_codegen import SearchResult
    report = SearchResult.load("runs/d1").plot()      # or: automl-codegen report runs/d1
    report.figure_path, report.html_path

The figure has four panels for every run — the search space (parameters against
accuracy, the Pareto front marked), progress over generations (best so far and each
generation's spread), the trade-off between the objectives with the front and the
constraint lines, and the ops and sizes of the sampled architectures — plus the
:class:`Panel` values that plugins return from the ``report_panels(result)`` hook: a
strategy draws its own story from the events it logged (the built-in DARTS and RL
plugins add α per edge, the supernet's accuracy, the controller's reward and entropy).
The page adds the configuration, a sortable table of every trial, the front, and the
generated PyTorch code of the best architectures.

matplotlib is an optional dependency (``pip install 'automl-codegen[report]'``); it is
imported only when a report is built, never by ``automl-codegen --help``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import attrs

from ._data import showcase
from ._figure import make_figure, require_matplotlib
from ._html import METRIC_COLUMNS, ShownCode, fmt, genotype_text, render_html
from .panels import Panel

__all__ = ["FIGURE_FILE", "HTML_FILE", "Panel", "Report", "build_report", "make_figure", "render_html"]

FIGURE_FILE = "report.png"
HTML_FILE = "report.html"
#: How many architectures the page shows code for: the best, then other front members.
SHOWN_ARCHITECTURES = 3
DPI = 110


@attrs.frozen(eq=False)
class Report:
    """What :func:`build_report` wrote.

    Attributes:
        figure_path: the PNG.
        html_path: the page, or None when it was not asked for.
        figure: the :class:`matplotlib.figure.Figure` itself (to show in a notebook or restyle).
    """

    figure_path: Path
    html_path: Path | None
    figure: Any


def build_report(
    result: Any,
    out_dir: str | Path | None = None,
    *,
    html: bool = True,
    emitter: str = "pytorch",
    architectures: int = SHOWN_ARCHITECTURES,
) -> Report:
    """Write ``report.png`` and ``report.html`` for a run.

    Args:
        result: a :class:`~automl_codegen.search.SearchResult` (finished or loaded).
        out_dir: where to write (created if missing); default the run directory.
        html: also write the page (the figure alone is quicker).
        emitter: which emitter writes the code shown on the page.
        architectures: how many architectures' code to show.

    Raises:
        ConfigError: matplotlib is not installed.
    """
    require_matplotlib()
    out = Path(out_dir) if out_dir is not None else Path(result.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure = make_figure(result)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    png = buffer.getvalue()
    figure_path = out / FIGURE_FILE
    _write(figure_path, png)
    html_path = None
    if html:
        picks = showcase(result.best, result.pareto_front, result.objectives, architectures)
        shown = [_code(result, pick.trial, pick.reason, emitter) for pick in picks]
        html_path = out / HTML_FILE
        _write(html_path, render_html(result, png, shown).encode("utf-8"))
    return Report(figure_path, html_path, figure)


def _write(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)``; a write that fails (a full disk) names the file, as opening would."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None


def _code(result: Any, trial: Any, reason: str, emitter_name: str) -> ShownCode:
    """The emitter's source for ``trial`` (what ``result.export`` writes as model.py), or why not.

    The emitter's ``render`` gives the same text as ``export`` without loading the
    trained weights or writing files. A failure here costs this block of the page, not
    the whole report.
    """
    metrics = tuple((k, fmt(k, float(trial.metrics[k]))) for k in METRIC_COLUMNS if _is_number(trial.metrics.get(k)))
    common = {
        "number": trial.number,
        "reason": reason,
        "metrics": metrics,
        "genotype": genotype_text(trial.genotype),
        "emitter": emitter_name,
    }
    try:
        emitter = result.registry.get("emitter", emitter_name)
        code = emitter.render(trial.architecture, result.export_metadata(trial))
    except Exception as exc:  # a broken or missing emitter must not cost the rest of the report
        why = f"code could not be generated with the {emitter_name!r} emitter: {type(exc).__name__}: {exc}"
        return ShownCode(**common, file_name="", code=None, error=why)
    return ShownCode(**common, file_name=getattr(emitter, "file_name", "model.py"), code=code)


def _is_number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)
