"""The run directory: creation rules, appending trials, reading them back."""

from __future__ import annotations

import pytest

from automl_codegen import RunDirectoryError, Trial
from automl_codegen.journal import RunJournal
from automl_codegen.testing import tiny_architecture


def test_trials_round_trip(tmp_path):
    journal = RunJournal.create(tmp_path / "run", {"dataset": "digits"})
    arch = tiny_architecture()
    trials = [
        Trial(0, {"g": 1}, arch, metrics={"accuracy": 0.5}, objectives={"accuracy": 0.5}),
        Trial(1, {"g": 2}, None, status="failed", error="ValueError: boom"),
    ]
    for trial in trials:
        journal.append_trial(trial)
    again = RunJournal.open(tmp_path / "run")
    assert again.trials() == trials
    assert again.config()["dataset"] == "digits"


def test_torn_last_line_is_skipped(tmp_path):
    journal = RunJournal.create(tmp_path / "run", {})
    journal.append_trial(Trial(0, [1], None, status="failed", error="x"))
    with open(tmp_path / "run" / "trials.jsonl", "a") as fh:
        fh.write('{"number": 1, "stat')  # a crash in the middle of a write
    assert [t.number for t in journal.trials()] == [0]


def test_existing_directory_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_text("meow")
    with pytest.raises(RunDirectoryError) as info:
        RunJournal.create(tmp_path / "photos", {})
    assert str(info.value) == (
        f"run directory '{tmp_path / 'photos'}' exists and is not empty; choose a new -o/--output "
        "directory (or delete this one) so nothing is overwritten"
    )
    assert (tmp_path / "photos" / "cat.jpg").read_text() == "meow"


def test_existing_run_is_not_overwritten(tmp_path):
    RunJournal.create(tmp_path / "run", {})
    with pytest.raises(RunDirectoryError, match="holds a run"):
        RunJournal.create(tmp_path / "run", {})


def test_open_explains_what_is_wrong(tmp_path):
    with pytest.raises(RunDirectoryError, match="does not exist"):
        RunJournal.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirectoryError) as info:
        RunJournal.open(tmp_path / "empty")
    assert (
        str(info.value)
        == f"'{tmp_path / 'empty'}' is not a run directory (no run.json); pass the -o directory of a search"
    )
