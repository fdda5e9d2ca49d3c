"""The run journal: creation rules, atomic trial records, locking, damage handling."""

from __future__ import annotations

import math
import os
import sqlite3

import pytest

from automl_codegen import RunDirectoryError, Trial
from automl_codegen import journal as journal_module
from automl_codegen.journal import DATABASE, RunJournal
from automl_codegen.testing import tiny_architecture


def make_trials():
    return [
        Trial(0, {"g": 1}, tiny_architecture(), metrics={"accuracy": 0.5}, objectives={"accuracy": 0.5}),
        Trial(1, {"g": 2}, None, status="failed", error="ValueError: boom", constraint_violation=math.inf),
    ]


def test_trials_and_strategy_state_round_trip(tmp_path):
    with RunJournal.create(tmp_path / "run", {"dataset": "digits"}) as journal:
        for number, trial in enumerate(make_trials()):
            journal.start_trial(number, trial.genotype)
            journal.finish_trial(trial, {"told": number + 1}, elapsed_s=1.5 * (number + 1))
    with RunJournal.open(tmp_path / "run") as again:
        assert again.trials() == make_trials()
        assert again.config() == {"dataset": "digits"}
        assert again.strategy_state() == (2, {"told": 2})
        assert again.elapsed_s == 3.0
    lines = (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_a_trial_left_running_is_not_a_result_and_can_be_discarded(tmp_path):
    with RunJournal.create(tmp_path / "run", {}) as journal:
        journal.start_trial(0, [1])
        journal.finish_trial(make_trials()[0], {"s": 1}, 1.0)
        journal.start_trial(1, [2])  # the process dies here
    with RunJournal.open(tmp_path / "run") as journal:
        assert [t.number for t in journal.trials()] == [0]
        assert journal.running() == [1]
        assert journal.discard_running() == [1]
        assert journal.running() == []


def test_second_process_gets_a_clear_error(tmp_path):
    first = RunJournal.create(tmp_path / "run", {})
    second = RunJournal.open(tmp_path / "run")
    with pytest.raises(RunDirectoryError) as info:
        second.lock()
    assert str(info.value).startswith(
        f"run directory '{tmp_path / 'run'}' is in use by another automl-codegen process (pid "
    )
    first.close()
    assert not (tmp_path / "run" / ".lock").exists()  # a finished run leaves no lock file
    second.lock()  # free again once the first one is done
    second.close()


def test_a_lock_taken_on_a_file_the_holder_removed_does_not_count(tmp_path, monkeypatch):
    """B opens the lock file, A closes the run (removing it), B's lock is on a deleted file."""
    first = RunJournal.create(tmp_path / "run", {})
    lock_path = tmp_path / "run" / ".lock"
    stale = os.open(lock_path, os.O_RDWR)  # B's open, before A removes the file
    first.close()
    opened = []
    real_open = os.open

    def open_stale_first(path, *args, **kwargs):
        if not opened:  # B's first attempt uses the descriptor it already had
            opened.append(path)
            return stale
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(journal_module.os, "open", open_stale_first)
    second = RunJournal.open(tmp_path / "run")
    second.lock()
    assert os.fstat(second._lock_fd).st_ino == os.stat(lock_path).st_ino  # the file that is there now
    second.close()


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
    RunJournal.create(tmp_path / "run", {}).close()
    with pytest.raises(RunDirectoryError) as info:
        RunJournal.create(tmp_path / "run", {})
    assert "holds a run; continue it with `automl-codegen search --resume" in str(info.value)


def test_open_explains_what_is_wrong(tmp_path):
    with pytest.raises(RunDirectoryError, match="does not exist"):
        RunJournal.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirectoryError) as info:
        RunJournal.open(tmp_path / "empty")
    assert (
        str(info.value)
        == f"'{tmp_path / 'empty'}' is not a run directory (no journal.sqlite); pass the -o directory of a search"
    )


def test_corrupt_journal_is_refused_with_a_message(tmp_path):
    RunJournal.create(tmp_path / "run", {}).close()
    (tmp_path / "run" / DATABASE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunDirectoryError) as info:
        RunJournal.open(tmp_path / "run")
    assert str(info.value).startswith(f"{tmp_path / 'run' / DATABASE} is not a usable journal (file is not a database)")


def test_full_disk_on_write_says_what_is_safe(tmp_path, monkeypatch):
    journal = RunJournal.create(tmp_path / "run", {})
    journal.start_trial(0, [0])
    journal.finish_trial(make_trials()[0], {"s": 1}, 1.0)

    class FullDisk:
        """Stands in for the connection once the disk has filled up."""

        def __init__(self, real):
            self.real = real

        def execute(self, sql, *args):
            if sql.startswith(("INSERT", "UPDATE")):
                raise sqlite3.OperationalError("database or disk is full")
            return self.real.execute(sql, *args)

    monkeypatch.setattr(journal, "_db", FullDisk(journal._db))
    with pytest.raises(RunDirectoryError) as info:
        journal.finish_trial(make_trials()[1], {"s": 2}, 2.0)
    assert str(info.value) == (
        f"could not record trial 1 in {tmp_path / 'run' / DATABASE}: database or disk is full. Everything "
        f"recorded before is safe; free space (or fix the file system) and resume with "
        f"`automl-codegen search --resume {tmp_path / 'run'}`"
    )
    monkeypatch.undo()
    journal.close()
    with RunJournal.open(tmp_path / "run") as again:
        assert [t.number for t in again.trials()] == [0]
        assert again.strategy_state() == (1, {"s": 1})


def blob_count(run_dir) -> int:
    with sqlite3.connect(run_dir / DATABASE) as db:
        return db.execute("SELECT count(*) FROM blobs").fetchone()[0]


def test_large_state_strings_are_stored_once_and_round_trip(tmp_path):
    """An RL controller's weights (hundreds of kB) change once per batch, not per trial."""
    weights = "A" * 100_000
    run = tmp_path / "run"
    with RunJournal.create(run, {}) as journal:
        for number in range(3):  # the same string object after every trial
            journal.start_trial(number, [number])
            journal.finish_trial(make_trials()[0], {"told": number + 1, "controller": {"w": weights}}, 1.0, number + 1)
        assert blob_count(run) == 1
        state_size = len(sqlite3.connect(run / DATABASE).execute("SELECT state FROM strategy_state").fetchone()[0])
        assert state_size < 200
        changed = "B" * 100_000
        journal.save_strategy_state({"told": 3, "controller": {"w": changed}, "list": [changed]}, 3)
        assert blob_count(run) == 1  # the old weights are gone, the new ones stored once
    with RunJournal.open(run) as again:
        assert again.strategy_state() == (3, {"told": 3, "controller": {"w": changed}, "list": [changed]})


def test_a_failed_write_forgets_the_blobs_it_stored(tmp_path):
    run = tmp_path / "run"
    with RunJournal.create(run, {}) as journal:
        big = "C" * 10_000

        def interrupted_save():
            with journal._write("test"):
                journal._pack({"w": big})
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            interrupted_save()
        assert blob_count(run) == 0
        journal.save_strategy_state({"w": big}, 0)  # the same object: must be written now
    with RunJournal.open(run) as again:
        assert again.strategy_state() == (0, {"w": big})


def count_trials_from_another_process_view(run):
    """What a reader that is not the writer (a report, a process after a crash) sees."""
    reader = sqlite3.connect(run / DATABASE)
    try:
        return reader.execute("SELECT count(*) FROM trials").fetchone()[0]
    finally:
        reader.close()


@pytest.mark.parametrize("deleted", ["-wal", "-shm"])
def test_a_wal_file_deleted_under_a_running_search_is_noticed_and_nothing_is_lost(tmp_path, deleted):
    run = tmp_path / "run"
    trials = [Trial(n, {"g": n}, None, status="failed", error="x") for n in range(4)]
    with RunJournal.create(run, {}) as journal:
        for trial in trials[:2]:
            journal.start_trial(trial.number, trial.genotype)
            journal.finish_trial(trial, None, elapsed_s=1.0)
        os.unlink(run / (DATABASE + deleted))
        with pytest.warns(RuntimeWarning, match=f"{DATABASE}-wal in .* was deleted or replaced .*nothing was lost"):
            journal.start_trial(2, trials[2].genotype)
        # Without the recovery the records went on into the deleted file, seen by nobody else.
        journal.finish_trial(trials[2], None, elapsed_s=1.0)
        assert count_trials_from_another_process_view(run) == 3
        journal.start_trial(3, trials[3].genotype)
        journal.finish_trial(trials[3], None, elapsed_s=1.0)
    with RunJournal.open(run) as again:
        assert again.trials() == trials


def test_records_the_wal_recovery_cannot_save_are_an_error_not_a_normal_summary(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with RunJournal.create(run, {}) as journal:
        journal.start_trial(0, [0])
        journal.finish_trial(Trial(0, [0], None, status="failed", error="x"), None, elapsed_s=1.0)
        os.unlink(run / (DATABASE + "-wal"))
        # A checkpoint that copies nothing: the rows lived only in the deleted file.
        real_connect = RunJournal._connect
        monkeypatch.setattr(RunJournal, "_connect", staticmethod(lambda path: lost(real_connect, path)))
        with pytest.raises(RunDirectoryError, match=r"1 of 2 trials could not be saved to journal.sqlite"):
            journal.start_trial(1, [1])


def lost(connect, path):
    db = connect(path)
    db.execute("DELETE FROM trials WHERE number = 0")
    return db


def test_a_read_only_copy_of_a_killed_run_is_read_whole(tmp_path, make_immutable):
    import shutil

    run, archive = tmp_path / "run", tmp_path / "archive"
    with RunJournal.create(run, {"dataset": "digits"}) as journal:
        journal.start_trial(0, [0])
        journal.finish_trial(Trial(0, [0], None, status="failed", error="x"), None, elapsed_s=1.0)
        # Copied while the writer is open, as kill -9 leaves it: every record is in the -wal.
        archive.mkdir()
        for name in (DATABASE, DATABASE + "-wal"):
            shutil.copy(run / name, archive / name)
    make_immutable(archive)
    with pytest.raises(RunDirectoryError, match="not a usable journal"):
        RunJournal.open(archive)
    with RunJournal.open(archive, read_only=True) as journal:
        assert journal.config() == {"dataset": "digits"}
        assert [t.number for t in journal.trials()] == [0]
        scratch = journal._scratch
    assert scratch is not None
    assert not scratch.exists()
