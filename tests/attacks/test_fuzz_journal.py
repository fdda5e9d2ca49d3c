"""Hypothesis fuzz of a journal's rows: report, export and resume of a damaged run end normally or in one line.

A copy of a small finished run has random cells of its SQLite tables overwritten with
fuzzed values (text, bytes, numbers of any size, NaN, NULL, JSON of the wrong shape, the
cell's own JSON cut short); the command must then exit 0, or 2 with one
``automl-codegen: error:`` line, never with a traceback.

Damage that reaches the journal's own reading code (``journal.py``, another change's) is
left out here; the attack catalogue keeps those cases as strict xfails, named.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from attack_catalogue import run_main
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

COLUMNS = {
    "meta": ("value",),
    "trials": (
        "number", "status", "genotype", "architecture", "metrics", "objectives",
        "constraint_violation", "error", "duration_s", "weights",
    ),
    "strategy_state": ("after_trial", "state"),
}  # fmt: skip
CUT = object()  # the cell's own value cut short (truncated JSON)

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
CELLS = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
    _JSON.map(json.dumps),
    st.just(CUT),
)
DAMAGE = st.lists(
    st.sampled_from(sorted(COLUMNS)).flatmap(
        lambda table: st.tuples(
            st.just(table), st.sampled_from(COLUMNS[table]), st.integers(0, 2), CELLS, st.floats(0, 1)
        )
    ),
    min_size=1,
    max_size=3,
)
# AUTOML_CODEGEN_FUZZ_EXAMPLES=500 searches longer (CI keeps to the default, about 25 s in all).
FUZZ = settings(
    max_examples=int(os.environ.get("AUTOML_CODEGEN_FUZZ_EXAMPLES", 30)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
COMMANDS = {
    "report": ["report", "{run}", "-o", "{tmp}/rep", "--no-html"],
    "export": ["export", "{run}", "-o", "{tmp}/e", "--front", "{tmp}/front.json"],
    "resume": ["search", "--resume", "{run}", "--budget-trials", "1", "--quiet"],
}


def _damage(database: Path, table: str, column: str, row: int, value, cut: float) -> bool:
    """Overwrite one cell; False where SQLite refuses the value (NOT NULL, a key, a type)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rowids = [
            r[0] for r in db.execute(f"SELECT rowid FROM {table} ORDER BY rowid")
        ]  # names from COLUMNS, values bound
        if not rowids:
            return False
        rowid = rowids[row % len(rowids)]
        if value is CUT:
            old = db.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()[0]
            value = str(old)[: int(len(str(old)) * cut)]
        try:
            with db:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (value, rowid))
        except sqlite3.Error:
            return False
    return True


@pytest.mark.parametrize("command", sorted(COMMANDS))
@FUZZ
@given(damage=DAMAGE)
def test_damaged_rows_end_normally_or_in_one_line(command, damage, small_run):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(small_run, run)
        assume(all(_damage(run / "journal.sqlite", *cell) for cell in damage))
        argv = [a.replace("{run}", str(run)).replace("{tmp}", tmp) for a in COMMANDS[command]]
        status, _out, err, hung = run_main(argv, 60)
    event(f"exit status {status}")
    assert not hung
    assert "Traceback" not in err, err[-3000:]
    assert status in (0, 2), (status, err[-2000:])
    if status == 2:
        lines = [line for line in err.splitlines() if line and not line.startswith("warning: ")]
        assert len(lines) == 1, err[-2000:]
        assert lines[0].startswith("automl-codegen: error: "), err[-2000:]
