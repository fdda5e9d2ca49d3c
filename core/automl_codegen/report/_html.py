"""The report's HTML page: one self-contained file (figure inlined, no external URL).

The template (``templates/report.html.jinja``) escapes everything it is given, so
genotypes, error messages and generated code are shown as text, never run as markup.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from typing import Any

import attrs

from ..trial import Trial
from ._data import value

TEMPLATE = "report.html.jinja"
#: Measurements shown as table columns when a trial has them (the others are in best.json / trials.jsonl).
METRIC_COLUMNS = ("accuracy", "test_accuracy", "latency_ms", "params", "flops", "peak_memory_mb", "epochs")
#: Shown genotypes are cut to this many characters; the full text is the cell's tooltip.
GENOTYPE_WIDTH = 60


@attrs.frozen
class ShownCode:
    """Generated code of one trial for the page, or why there is none."""

    number: int
    reason: str
    metrics: tuple[tuple[str, str], ...]
    genotype: str
    emitter: str
    file_name: str
    code: str | None
    error: str | None = None

    @property
    def lines(self) -> int:
        return len(self.code.splitlines()) if self.code else 0


@attrs.frozen
class _Cell:
    text: str
    sort: str  # what the page's script sorts by: a number, text, or "" (always last)
    css: str = ""
    full: str = ""  # the tooltip, when the text is cut


@attrs.frozen
class _Column:
    label: str
    css: str = ""


def fmt(name: str, number: float) -> str:
    """A value as people read it: accuracies with 4 decimals, counts whole, the rest 4 significant digits."""
    if math.isnan(number):
        return ""
    if name in ("params", "flops", "epochs", "best_epoch") and number == int(number):
        return f"{int(number):,}"
    if "accuracy" in name:
        return f"{number:.4f}"
    return f"{number:.4g}"


def genotype_text(genotype: Any) -> str:
    return genotype if isinstance(genotype, str) else json.dumps(genotype, sort_keys=True)


def _number_cell(name: str, number: float) -> _Cell:
    return _Cell(fmt(name, number), "" if math.isnan(number) else repr(number))


def _text_cell(text: str, css: str = "text", width: int | None = None) -> _Cell:
    if width is not None and len(text) > width:
        return _Cell(text[: width - 1] + "…", text, css, full=text)
    return _Cell(text, text, css)


def _metric_names(trials: Sequence[Trial], objective_names: Sequence[str]) -> list[str]:
    present = {k for t in trials for k in t.metrics}
    return [m for m in METRIC_COLUMNS if m in present and m not in objective_names]


def _columns(objective_names: Sequence[str], metrics: Sequence[str]) -> list[_Column]:
    return [_Column(name) for name in (*objective_names, *metrics)]


def _trial_rows(trials: Sequence[Trial], objective_names: Sequence[str], front: set[int]) -> list[dict[str, Any]]:
    metrics = _metric_names(trials, objective_names)
    rows = []
    for trial in trials:
        cells = [
            _Cell(str(trial.number), str(trial.number)),
            _text_cell(trial.status),
            _text_cell("yes" if trial.feasible else "no"),
            _text_cell("★" if trial.number in front else ""),
            *(_number_cell(name, value(trial, name)) for name in (*objective_names, *metrics)),
            _number_cell("violation", trial.constraint_violation if trial.ok else math.nan),
            _number_cell("duration_s", trial.duration_s),
            _text_cell(genotype_text(trial.genotype), "text genotype", GENOTYPE_WIDTH),
            _text_cell((trial.error or "").splitlines()[0] if trial.error else "", "text error"),
        ]
        css = " ".join(c for c, on in (("failed", not trial.ok), ("front", trial.number in front)) if on)
        rows.append({"cells": cells, "css": css})
    return rows


def _trial_columns(trials: Sequence[Trial], objective_names: Sequence[str]) -> list[_Column]:
    return [
        _Column("trial"),
        _Column("status", "text"),
        _Column("feasible", "text"),
        _Column("front", "text"),
        *_columns(objective_names, _metric_names(trials, objective_names)),
        _Column("violation"),
        _Column("seconds"),
        _Column("genotype", "text"),
        _Column("error", "text"),
    ]


def _front(result: Any, objective_names: Sequence[str]) -> tuple[list[_Column], list[dict[str, Any]]]:
    primary = result.objectives[0]
    front = sorted(
        result.pareto_front, key=lambda t: (primary.as_loss(t.objectives.get(primary.name, math.nan)), t.number)
    )
    metrics = _metric_names(front, objective_names)
    columns = [_Column("trial"), *_columns(objective_names, metrics), _Column("genotype", "text")]
    rows = [
        {
            "cells": [
                _Cell(str(t.number), str(t.number)),
                *(_number_cell(name, value(t, name)) for name in (*objective_names, *metrics)),
                _text_cell(genotype_text(t.genotype), "text genotype", GENOTYPE_WIDTH),
            ]
        }
        for t in front
    ]
    return columns, rows


def _facts(result: Any) -> list[tuple[str, str]]:
    config = result.config
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in result.objectives)
    budget = config.get("budget") or {}
    budget_text = ", ".join(f"{v} {k}" for k, v in budget.items() if v is not None) or "default"
    best = result.best
    facts = [
        ("dataset", f"{config.get('dataset')} — {(config.get('dataset_summary') or {}).get('description', '')}"),
        ("search space", f"{config.get('space')} {_options(config.get('space_options'))}"),
        ("strategy", f"{config.get('strategy')} {_options(config.get('strategy_options'))}"),
        ("objectives", objectives),
        ("constraints", ", ".join(str(c) for c in result.constraints) or "none"),
        ("budget", budget_text),
        ("trials", f"{len(result.trials)} ({sum(not t.ok for t in result.trials)} failed)"),
    ]
    if result.elapsed_s:
        facts.append(("search time", f"{result.elapsed_s:.1f} s"))
    if best is not None:
        shown = ", ".join(f"{k} {fmt(k, value(best, k))}" for k in best.objectives)
        facts.append(("best", f"trial {best.number}: {shown}" + ("" if best.feasible else " (breaks a constraint)")))
    return facts


def _options(options: Any) -> str:
    return f"({json.dumps(options, sort_keys=True)})" if options else ""


def render_html(result: Any, figure_png: bytes, showcase: Sequence[ShownCode]) -> str:
    """The page for ``result`` with the PNG ``figure_png`` inlined and the given code shown."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    names = [o.name for o in result.objectives]
    front = {t.number for t in result.pareto_front}
    front_columns, front_rows = _front(result, names)
    config = result.config
    title = f"AutoML-CodeGen run: {config.get('strategy')} on {config.get('space')}, {config.get('dataset')}"
    failures = result.failure_summary()
    return env.get_template(TEMPLATE).render(
        title=title,
        run_dir=str(result.run_dir),
        facts=_facts(result),
        failure_summary="" if failures == "no trial failed" else failures,
        figure_b64=base64.b64encode(figure_png).decode("ascii"),
        figure_alt=f"report figure of {len(result.trials)} trials",
        front_columns=front_columns,
        front_rows=front_rows,
        showcase=showcase,
        trial_columns=_trial_columns(result.trials, names),
        trial_rows=_trial_rows(result.trials, names, front),
        # default=str: options given as paths or other objects are shown, not refused.
        config_json=json.dumps(config, indent=2, sort_keys=True, default=str),
    )
