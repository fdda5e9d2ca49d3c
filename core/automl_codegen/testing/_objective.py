"""check_objective: an objective against the measurements a trial of its plugin reports."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..objective import MAX, MIN, Objective
from ._report import ConformanceReport, _fail


def check_objective(objective: Objective, metrics: Mapping[str, float]) -> ConformanceReport:
    """Check an objective against the measurements a trial of its plugin reports.

    Checked: a non-empty name and description, direction ``"min"`` or ``"max"``; it
    declares what it needs (``requires``, or its own name without ``compute``), all of
    which ``metrics`` holds; its value for ``metrics`` is a finite float; and without any
    one of those measurements it raises KeyError (the engine fails that trial and goes
    on; any other exception stops the search as a fault of the plugin).

    Raises:
        AssertionError: the objective breaks the contract; the message says how.
    """
    name = getattr(objective, "name", None)
    label = f"objective {name!r}"
    report = ConformanceReport(label)
    needs = _check_declaration(label, objective, metrics)
    report.passed("name, direction, description and needs")
    value = _check_value(label, objective, metrics)
    report.passed(f"value {value:g}")
    _check_missing_measurements(label, objective, metrics, needs)
    report.passed("a missing measurement raises KeyError")
    return report


def _check_declaration(label: str, objective: Objective, metrics: Mapping[str, float]) -> tuple[str, ...]:
    """Name, direction, description, and needs that ``metrics`` holds; returns the needs."""
    name = getattr(objective, "name", None)
    if not isinstance(name, str) or not name:
        raise _fail(label, "the name is empty or not a string", "name it as users select it (--objective NAME)")
    if getattr(objective, "direction", None) not in (MIN, MAX):
        raise _fail(label, f"direction is {getattr(objective, 'direction', None)!r}", "use 'min' or 'max'")
    description = getattr(objective, "description", "")
    if not isinstance(description, str) or not description.strip():
        raise _fail(label, "it has no description", "add description=... (one line for `automl-codegen plugins`)")
    needs = tuple(objective.needs)
    if not needs:
        raise _fail(
            label,
            "it computes its value but declares no measurements",
            "list the measurements compute reads in requires=(...), so a search that lacks them "
            "fails before its first trial",
        )
    lacking = [m for m in needs if m not in metrics]
    if lacking:
        raise _fail(
            label,
            f"it needs {list(needs)}, and the metrics given lack {lacking}",
            "pass the measurements a trial of its plugin reports (or fix requires)",
        )
    return needs


def _check_value(label: str, objective: Objective, metrics: Mapping[str, float]) -> float:
    """The objective's value for ``metrics``, checked to be a finite number."""
    try:
        value = objective.value(dict(metrics))
    except Exception as exc:
        raise _fail(label, f"value() raised {type(exc).__name__}: {exc}", "compute a float from the metrics") from exc
    if isinstance(value, bool) or not isinstance(value, float | int) or not math.isfinite(value):
        raise _fail(label, f"value() gave {value!r} for finite metrics", "return a finite float")
    return value


def _check_missing_measurements(
    label: str, objective: Objective, metrics: Mapping[str, float], needs: tuple[str, ...]
) -> None:
    """Without any one measurement it needs, the objective raises KeyError."""
    for missing in needs:
        partial = {k: v for k, v in metrics.items() if k != missing}
        try:
            objective.value(partial)
        except KeyError:
            continue
        except Exception as exc:
            raise _fail(
                label,
                f"without the measurement {missing!r}, value() raised {type(exc).__name__}: {exc}",
                "raise KeyError for a missing measurement (metrics[name] does): the engine then fails "
                "the trial, where any other exception stops the search",
            ) from exc
        raise _fail(
            label,
            f"without the measurement {missing!r}, value() still returned a value",
            f"read {missing!r} with metrics[{missing!r}], or drop it from requires",
        )
