"""The run journal: one SQLite database per run directory, the single source of truth.

Layout of a run directory::

    journal.sqlite      configuration, every trial, the strategy's state after each tell
    weights/trial_0007.pt   trained weights of each completed trial
    trials.jsonl        one JSON line per finished trial (derived, for reading and grep)
    best.json           the best trial's architecture (derived, at most once a second: see search.py)
    summary.json        written when a search ends (derived)

A trial is written as ``running`` when it starts and completed in one transaction with
the strategy state that followed its ``tell``, so after a crash or ``kill -9`` the
journal holds exactly the finished trials and the state that saw them; the trials that
were running are discarded and run again on resume. With a parallel executor trials
finish out of order, so a journal may hold trial 5 but not trial 4 (still running); the
state records how many trials it was told, and resume gives the numbers of discarded
trials to the next trials it starts. SQLite runs in WAL mode with
parameterised queries only; nothing is pickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import sqlite3
import tempfile
import warnings
from pathlib import Path
from typing import Any, TextIO

from .architecture import Architecture
from .errors import ArchitectureError, RunDirectoryError
from .trial import Trial

DATABASE = "journal.sqlite"
LOCK_FILE = ".lock"
TRIALS_FILE = "trials.jsonl"
BEST_FILE = "best.json"
SUMMARY_FILE = "summary.json"
WEIGHTS_DIR = "weights"
FORMAT_VERSION = 2
RUNNING = "running"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    genotype TEXT NOT NULL,
    architecture TEXT,
    metrics TEXT NOT NULL DEFAULT '{}',
    objectives TEXT NOT NULL DEFAULT '{}',
    constraint_violation REAL NOT NULL DEFAULT 0,
    error TEXT,
    duration_s REAL NOT NULL DEFAULT 0,
    weights TEXT
);
CREATE TABLE IF NOT EXISTS events (
    kind TEXT NOT NULL,
    step INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, step)
);
CREATE TABLE IF NOT EXISTS strategy_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    after_trial INTEGER NOT NULL,
    state TEXT NOT NULL
);
"""

# Large strings of a strategy state (an RL controller's weights: hundreds of kB) are
# stored once by content and referenced as {"$blob": digest}: the state is saved after
# every trial, but such parts change far less often.
_BLOBS = "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, text TEXT NOT NULL)"
BLOB_MIN_CHARS = 4096
_BLOB_KEY = "$blob"
_LEAVES = frozenset({int, float, bool, type(None)})


def _dumps(value: Any) -> str:
    # allow_nan: a failed trial's violation is inf; json reads it back as float("inf").
    # default=os.fspath: paths given as options (root=Path(...)) are stored as strings.
    return json.dumps(value, allow_nan=True, separators=(",", ":"), default=os.fspath)


def trial_to_dict(trial: Trial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "status": trial.status,
        "genotype": trial.genotype,
        "metrics": trial.metrics,
        "objectives": trial.objectives,
        "constraint_violation": trial.constraint_violation,
        "error": trial.error,
        "duration_s": trial.duration_s,
        "weights": trial.weights,
        "architecture": trial.architecture.to_dict() if trial.architecture else None,
    }


def _trial_from_row(row: sqlite3.Row) -> Trial:
    arch = row["architecture"]
    return Trial(
        number=row["number"],
        genotype=json.loads(row["genotype"]),
        architecture=Architecture.from_json(arch) if arch else None,
        status=row["status"],
        metrics=json.loads(row["metrics"]),
        objectives=json.loads(row["objectives"]),
        constraint_violation=row["constraint_violation"],
        error=row["error"],
        duration_s=row["duration_s"],
        weights=row["weights"],
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunJournal:
    """Reads and writes one run directory. Use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock_fd: int | None = None
        # The blobs the saved state references, and the digests of their strings by id():
        # a strategy that hands back the same string object is not hashed again.
        self._live_blobs: set[str] | None = None
        self._digests: dict[int, tuple[str, str]] = {}
        # trials.jsonl, open for appending from the first finished trial to close(): opening
        # it per trial cost more than a table lookup of a tabular benchmark.
        self._trials_file: TextIO | None = None
        self._wal_files: tuple[tuple[int, int], ...] | None = None  # see _check_wal_files
        self._scratch: Path | None = None  # a read-only run's journal copied here to be read

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], config: dict[str, Any]) -> RunJournal:
        """Start a new run in ``path``, which must be absent or empty; holds the run's lock."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            msg = f"run directory {str(path)!r} exists and is a file; choose another -o/--output"
            raise RunDirectoryError(msg)
        if path.is_dir() and any(path.iterdir()):
            if (path / DATABASE).exists():
                msg = (
                    f"run directory {str(path)!r} holds a run; continue it with "
                    f"`automl-codegen search --resume {path}` or choose a new -o/--output directory"
                )
            else:
                msg = (
                    f"run directory {str(path)!r} exists and is not empty; choose a new -o/--output "
                    f"directory (or delete this one) so nothing is overwritten"
                )
            raise RunDirectoryError(msg)
        (path / WEIGHTS_DIR).mkdir(parents=True, exist_ok=True)
        journal = cls(path, cls._connect(path / DATABASE))
        journal.lock()
        # executescript commits on its own, so the schema goes in before the transaction.
        try:
            journal._db.executescript(_SCHEMA + _BLOBS + ";")
        except sqlite3.OperationalError as exc:  # a full disk, most likely
            journal.close()
            msg = (
                f"could not create the journal in {str(path)!r}: {exc}; free space (or choose another "
                f"-o/--output directory) and start the search again"
            )
            raise RunDirectoryError(msg) from None
        with journal._write("create the run"):
            journal._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("format", _dumps(FORMAT_VERSION)), ("config", _dumps(config)), ("elapsed_s", "0")],
            )
        (path / TRIALS_FILE).touch()
        return journal

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, read_only: bool = False) -> RunJournal:
        """Open an existing run (unlocked); a clear error if it is not one.

        ``read_only`` (reports, exports, loading a result) also reads a run archived
        where nothing may be written: a read-only mount or directory, or a file marked
        immutable.
        """
        path = Path(path)
        if not path.is_dir():
            msg = f"run directory {str(path)!r} does not exist"
            raise RunDirectoryError(msg)
        if not (path / DATABASE).is_file():
            msg = f"{str(path)!r} is not a run directory (no {DATABASE}); pass the -o directory of a search"
            raise RunDirectoryError(msg)
        if read_only:
            connection, scratch = cls._connect_read_only(path / DATABASE)
        else:
            connection, scratch = cls._connect(path / DATABASE), None
        journal = cls(path, connection)
        journal._scratch = scratch
        try:
            journal._check_readable()
        except RunDirectoryError:
            journal.close()
            raise
        return journal

    @staticmethod
    def _connect(database: Path) -> sqlite3.Connection:
        db = sqlite3.connect(database, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
        except sqlite3.DatabaseError as exc:
            db.close()
            msg = f"{database} is not a usable journal ({exc}); it may be corrupt or not a run's database"
            raise RunDirectoryError(msg) from None
        return db

    @classmethod
    def _connect_read_only(cls, database: Path) -> tuple[sqlite3.Connection, Path | None]:
        """A connection for reading, and the scratch copy it reads where it had to make one.

        SQLite reads a database in WAL mode through a -shm file it creates beside it, and
        its latest records may still be in the -wal file. Where nothing can be created (a
        read-only archive) both files are copied to a scratch directory and read there.
        """
        try:
            return cls._connect(database), None
        except RunDirectoryError as exc:
            reason = exc
        scratch = Path(tempfile.mkdtemp(prefix="automl-codegen-journal-"))
        try:
            for suffix in ("", "-wal"):
                source = database.with_name(database.name + suffix)
                if source.is_file():
                    shutil.copyfile(source, scratch / (DATABASE + suffix))
            return cls._connect(scratch / DATABASE), scratch
        except (OSError, RunDirectoryError):
            shutil.rmtree(scratch, ignore_errors=True)
            raise reason from None

    def _check_readable(self) -> None:
        try:
            rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            self._db.execute("SELECT count(*) FROM trials").fetchone()
            integrity = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            msg = f"the journal {self.path / DATABASE} is corrupt ({exc}); the run cannot be read"
            raise RunDirectoryError(msg) from None
        if integrity != "ok":
            msg = f"the journal {self.path / DATABASE} is corrupt ({integrity}); the run cannot be read"
            raise RunDirectoryError(msg)
        if self._json(rows.get("format", "0"), "'format' record") != FORMAT_VERSION:
            found = rows.get("format")
            msg = f"the journal {self.path / DATABASE} has format {found}; this version reads {FORMAT_VERSION}"
            raise RunDirectoryError(msg)

    def lock(self) -> None:
        """Take the run's exclusive lock: a second process gets a clear error, not a mixed journal.

        The lock file goes away when the run closes. A process that opened it just
        before then would hold a lock on a deleted file, so a lock counts only while
        the path still names the file locked.
        """
        path = self.path / LOCK_FILE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                msg = (
                    f"run directory {str(self.path)!r} is in use by another automl-codegen process "
                    f"(pid {holder}); wait for it to finish or stop it, then resume"
                )
                raise RunDirectoryError(msg) from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # removed by the holder as it closed: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        self._close_trials_file()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):  # a read-only or vanished directory keeps it
                os.unlink(self.path / LOCK_FILE)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        self._db.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> RunJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self, what: str):
        """One transaction; a full disk or I/O error becomes a message that says what is safe."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
            self._check_wal_files()
        except sqlite3.OperationalError as exc:
            self._rollback()
            msg = (
                f"could not {what} in {self.path / DATABASE}: {exc}. Everything recorded before is "
                f"safe; free space (or fix the file system) and resume with "
                f"`automl-codegen search --resume {self.path}`"
            )
            raise RunDirectoryError(msg) from None
        except BaseException:
            self._rollback()
            raise

    def _wal_identity(self) -> tuple[tuple[int, int], ...] | None:
        try:
            stats = [os.stat(self.path / (DATABASE + suffix)) for suffix in ("-wal", "-shm")]
        except FileNotFoundError:
            return None
        return tuple((st.st_dev, st.st_ino) for st in stats)

    def _check_wal_files(self) -> None:
        """Notice a -wal or -shm file deleted or replaced under a writing journal, and recover.

        SQLite keeps writing to the deleted file, which no other connection, and no
        process after a crash, can see: the run's records would live only in this
        process. The records are copied into the database through this connection's
        handle and the journal reopened, with a warning; a record lost on the way is an
        error, not a normal summary.
        """
        found = self._wal_identity()
        if self._wal_files is None or found == self._wal_files:
            self._wal_files = found
            return
        trials = self._db.execute("SELECT count(*) FROM trials").fetchone()[0]
        busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self._db.close()
        self._db = self._connect(self.path / DATABASE)
        kept = self._db.execute("SELECT count(*) FROM trials").fetchone()[0]
        self._wal_files = self._wal_identity()
        if busy or kept != trials:
            msg = (
                f"{DATABASE}-wal in {str(self.path)!r} was deleted or replaced while the search wrote to it, "
                f"and {trials - kept} of {trials} trials could not be saved to {DATABASE}; leave the run "
                f"directory's files alone while a search runs, then resume"
            )
            raise RunDirectoryError(msg)
        warnings.warn(
            f"{DATABASE}-wal in {str(self.path)!r} was deleted or replaced while the search wrote to it "
            f"(by another program?); its records were saved to {DATABASE} and the journal reopened, "
            f"nothing was lost. Leave the run directory's files alone while a search runs.",
            RuntimeWarning,
            stacklevel=4,
        )

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
        self._live_blobs = None  # the blobs written in the transaction are gone again

    # -- reading ---------------------------------------------------------------------------

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return self._json(row["value"], f"{key!r} record") if row else None

    def _json(self, text: Any, what: str) -> Any:
        """A JSON column's value, or an error naming the damaged record and the way out."""
        try:
            return json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:  # bytes that are not UTF-8 included
            why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            msg = (
                f"the journal {self.path / DATABASE} has a damaged {what} ({why}); restore journal.sqlite "
                f"from a copy, or start a new run"
            )
            raise RunDirectoryError(msg) from None

    def config(self) -> dict[str, Any]:
        return self._meta("config")

    @property
    def elapsed_s(self) -> float:
        value = self._meta("elapsed_s") or 0.0
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            msg = (
                f"the journal {self.path / DATABASE} has a damaged 'elapsed_s' record ({str(value)[:80]!r} is "
                f"not a number of seconds); restore journal.sqlite from a copy, or start a new run"
            )
            raise RunDirectoryError(msg)
        return float(value)

    def trials(self) -> list[Trial]:
        """Every finished trial (complete or failed), in order; running ones are left out."""
        rows = self._db.execute("SELECT * FROM trials WHERE status != ? ORDER BY number", (RUNNING,))
        try:
            return [_trial_from_row(row) for row in rows]
        except (ValueError, KeyError, ArchitectureError) as exc:
            msg = f"the journal {self.path / DATABASE} holds an unreadable trial: {exc}"
            raise RunDirectoryError(msg) from None

    def running(self) -> list[int]:
        """Numbers of trials that started but never finished (the process died)."""
        rows = self._db.execute("SELECT number FROM trials WHERE status = ? ORDER BY number", (RUNNING,))
        return [row["number"] for row in rows]

    def strategy_state(self) -> tuple[int, dict[str, Any]] | None:
        """``(number of trials told, state)`` of the last tell, or None before the first."""
        row = self._db.execute("SELECT after_trial, state FROM strategy_state WHERE id = 1").fetchone()
        return (row["after_trial"], self._unpack(self._json(row["state"], "strategy state"))) if row else None

    def _pack(self, state: Any) -> str:
        """The state as JSON with its large strings stored as blobs (inside the caller's transaction)."""
        used: dict[str, str] = {}
        digests: dict[int, tuple[str, str]] = {}

        def walk(value: Any) -> Any:
            # This runs over the whole state after every trial: numbers are passed over
            # without a call, and a list of numbers only is not looked into item by item.
            if isinstance(value, dict):
                return {k: v if type(v) in _LEAVES else walk(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                if _LEAVES.issuperset(map(type, value)):
                    return value
                return [v if type(v) in _LEAVES else walk(v) for v in value]
            if isinstance(value, str) and len(value) >= BLOB_MIN_CHARS:
                known = self._digests.get(id(value))
                if known is None or known[0] is not value:
                    known = (value, hashlib.blake2b(value.encode(), digest_size=16).hexdigest())
                digests[id(value)] = known
                used[known[1]] = value
                return {_BLOB_KEY: known[1]}
            return value

        text = _dumps(walk(state))
        self._digests = digests
        if self._live_blobs is None:
            self._db.execute(_BLOBS)  # journals written before blobs existed
            self._live_blobs = {row[0] for row in self._db.execute("SELECT digest FROM blobs")}
        new = set(used) - self._live_blobs
        if new:
            rows = [(d, used[d]) for d in new]
            self._db.executemany("INSERT OR IGNORE INTO blobs (digest, text) VALUES (?, ?)", rows)
        stale = self._live_blobs - set(used)
        if stale:
            self._db.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in stale])
        self._live_blobs = set(used)
        return text

    def _unpack(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and _BLOB_KEY in value:
                row = self._db.execute("SELECT text FROM blobs WHERE digest = ?", (value[_BLOB_KEY],)).fetchone()
                if row is None:
                    digest = value[_BLOB_KEY]
                    msg = f"the journal in {self.path} lacks part {digest} of the strategy state; it is damaged"
                    raise RunDirectoryError(msg)
                return row[0]
            return {k: self._unpack(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._unpack(v) for v in value]
        return value

    def events(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """``(step, values)`` of every event of ``kind``, by step (e.g. DARTS' α per epoch)."""
        rows = self._db.execute("SELECT step, data FROM events WHERE kind = ? ORDER BY step", (kind,))
        return [(row["step"], self._json(row["data"], f"{kind!r} event")) for row in rows]

    def weights_path(self, trial_number: int) -> Path:
        return self.path / WEIGHTS_DIR / f"trial_{trial_number:04d}.pt"

    # -- writing ---------------------------------------------------------------------------

    def start_trial(self, number: int, genotype: Any) -> None:
        with self._write(f"record the start of trial {number}"):
            self._db.execute(
                "INSERT INTO trials (number, status, genotype) VALUES (?, ?, ?)", (number, RUNNING, _dumps(genotype))
            )

    def discard_running(self) -> list[int]:
        """Forget trials a dead process left running, so they run again; returns their numbers."""
        numbers = self.running()
        if numbers:
            with self._write("discard unfinished trials"):
                self._db.execute("DELETE FROM trials WHERE status = ?", (RUNNING,))
        return numbers

    def finish_trial(
        self, trial: Trial, strategy_state: dict[str, Any] | None, elapsed_s: float, told: int | None = None
    ) -> None:
        """Record a finished trial and the strategy state after its tell, atomically.

        ``told`` is how many trials the strategy has been told, this one included; it
        defaults to ``trial.number + 1``, which holds only while trials finish in the
        order they started (a parallel executor finishes them in any order).
        """
        data = trial_to_dict(trial)
        with self._write(f"record trial {trial.number}"):
            self._db.execute(
                "INSERT OR REPLACE INTO trials (number, status, genotype, architecture, metrics, objectives, "
                "constraint_violation, error, duration_s, weights) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial.number,
                    trial.status,
                    _dumps(trial.genotype),
                    None if data["architecture"] is None else _dumps(data["architecture"]),
                    _dumps(trial.metrics),
                    _dumps(trial.objectives),
                    trial.constraint_violation,
                    trial.error,
                    trial.duration_s,
                    trial.weights,
                ),
            )
            if strategy_state is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO strategy_state (id, after_trial, state) VALUES (1, ?, ?)",
                    (trial.number + 1 if told is None else told, self._pack(strategy_state)),
                )
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'elapsed_s'", (_dumps(elapsed_s),))
        # The readable copy is derived; losing its last line to a crash loses nothing.
        if self._trials_file is None:
            self._trials_file = open(self.path / TRIALS_FILE, "a")  # noqa: SIM115 (closed by close())
        self._trials_file.write(_dumps(data) + "\n")
        self._trials_file.flush()  # readers (tail -f, a notebook) see each trial as it ends

    def _close_trials_file(self) -> None:
        if self._trials_file is not None:
            self._trials_file.close()
            self._trials_file = None

    def update_config(self, config: dict[str, Any]) -> None:
        """Replace the recorded configuration (a run extended with a new budget)."""
        with self._write("record the new budget"):
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (_dumps(config),))

    def save_strategy_state(self, state: dict[str, Any], told: int) -> None:
        """Save a strategy's state between trials (a one-shot strategy after each epoch)."""
        with self._write("save the strategy state"):
            self._db.execute(
                "INSERT OR REPLACE INTO strategy_state (id, after_trial, state) VALUES (1, ?, ?)",
                (told, self._pack(state)),
            )

    def log_event(self, kind: str, step: int, values: dict[str, Any]) -> None:
        """Record one event; a step logged again (re-run after a resume) replaces the old one."""
        with self._write(f"record a {kind!r} event"):
            self._db.execute(
                "INSERT OR REPLACE INTO events (kind, step, data) VALUES (?, ?, ?)", (kind, step, _dumps(values))
            )

    def rewrite_derived(self, trials: list[Trial]) -> None:
        """Rebuild trials.jsonl from the journal (after a crash it may lack a line)."""
        self._close_trials_file()  # it would go on appending to the replaced file
        _write_atomic(self.path / TRIALS_FILE, "".join(_dumps(trial_to_dict(t)) + "\n" for t in trials))

    def save_best(self, trial: Trial) -> None:
        if trial.architecture is not None:
            _write_atomic(self.path / BEST_FILE, trial.architecture.to_json())

    def save_summary(self, summary: dict[str, Any]) -> None:
        _write_atomic(self.path / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
