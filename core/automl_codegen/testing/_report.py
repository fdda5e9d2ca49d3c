"""The report every ``check_*`` helper returns, and the message helpers they share."""

from __future__ import annotations

import json
from typing import Any

import attrs


@attrs.define
class ConformanceReport:
    """What a ``check_*`` helper checked and what it skipped, with the reason.

    Attributes:
        subject: what was checked (``"strategy 'evolution'"``).
        checked: the checks that passed, in order.
        skipped: ``"check: reason"`` for each check that does not apply.
        result: the uninterrupted run's :class:`~automl_codegen.SearchResult`
            (:func:`check_strategy_in_search` only).
    """

    subject: str
    checked: list[str] = attrs.field(factory=list)
    skipped: list[str] = attrs.field(factory=list)
    result: Any = None

    def passed(self, check: str) -> None:
        self.checked.append(check)

    def skip(self, check: str, reason: str) -> None:
        self.skipped.append(f"{check}: {reason}")


def _fail(subject: str, problem: str, fix: str) -> AssertionError:
    msg = f"{subject}: {problem}. {fix}"
    return AssertionError(msg)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
