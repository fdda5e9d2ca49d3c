"""Every hostile invocation of the catalogue ends in a clean error: one line, exit 2, no traceback, no hang.

The catalogue (``attack_catalogue.py``) is issue 21's list of attack classes and more;
``python benchmarks/attack_table.py`` prints the table of the same attacks.
"""

from __future__ import annotations

import pytest
from attack_catalogue import ATTACKS, CLASSES, Attack, attempt, release_locks


def _param(attack: Attack):
    marks = [pytest.mark.xfail(strict=True, reason=attack.xfail)] if attack.xfail else []
    return pytest.param(attack, id=attack.name, marks=marks)


@pytest.mark.parametrize("attack", [_param(a) for a in ATTACKS])
def test_attack_ends_in_one_clean_line(attack, small_run, tmp_path):
    try:
        outcome = attempt(attack, tmp_path, small_run)
    finally:
        release_locks()
    verdict = outcome.verdict(attack)
    assert verdict == "clean", f"{verdict}\nexit status {outcome.status}\nstderr:\n{outcome.stderr[-3000:]}"


def test_the_catalogue_covers_every_class_of_the_issue():
    names = [a.name for a in ATTACKS]
    assert len(set(names)) == len(names), "attack names must be unique"
    counts = {group: sum(a.group == group for a in ATTACKS) for group in CLASSES}
    assert all(counts.values()), counts
    assert {a.group for a in ATTACKS} <= set(CLASSES)
