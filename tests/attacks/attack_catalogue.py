"""Hostile inputs to ``automl-codegen`` (issue 21): one catalogue for the tests and the table.

Each :class:`Attack` is a command line, the hostile files it needs (written by ``prepare``
into a fresh directory) and what a user should see: the exit status and a piece of the one
``automl-codegen: error:`` line. :func:`attempt` runs it and :meth:`Outcome.verdict` sorts
the result into a clean error, a traceback, a hang or something else (a wrong status, a
message over several lines, a wrong message).

Arguments may hold ``{tmp}`` (the attack's own directory) and ``{run}`` (a copy of a small
finished run, made once by :func:`make_small_run`). Most attacks run in this process through
:func:`automl_codegen.cli.main`, with a time limit; those that need a real process (signals,
a memory or file-size limit around inputs that once blew up) run the command in one.

``tests/attacks/test_attacks.py`` asserts every verdict; ``benchmarks/attack_table.py``
prints the table of the issue from the same list.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import resource
import shlex
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

ERROR = "automl-codegen: error: "
#: The longest error line that is still one line a person reads (user input is cut, not echoed).
MAX_LINE = 2100

# The attack classes of issue 21, in the order the table lists them.
BLOW_UP = "blow-up from a small input"
OPTION_NAME = "unknown option name"
OPTION_VALUE = "bad option or flag value"
COMMAND_LINE = "malformed command line"
FILE = "hostile input file"
GENOTYPE = "bad genotype"
DATA = "bad or empty dataset"
OUTPUT = "unwritable output"
RUN_DIR = "damaged run directory"
JOURNAL = "damaged journal rows"
SIGNAL = "signals"
LATE = "refused only after the work"
CLASSES = (
    BLOW_UP,
    OPTION_NAME,
    OPTION_VALUE,
    COMMAND_LINE,
    FILE,
    GENOTYPE,
    DATA,
    OUTPUT,
    RUN_DIR,
    JOURNAL,
    SIGNAL,
    LATE,
)

GIB = 1 << 30


@attrs.frozen
class Workspace:
    """Where an attack runs: its own directory, and the copy of the small run (if it asked)."""

    tmp: Path
    run: Path | None = None

    def fill(self, text: str) -> str:
        text = text.replace("{tmp}", str(self.tmp))
        return text.replace("{run}", str(self.run)) if self.run is not None else text


@attrs.frozen
class Attack:
    """One hostile invocation and what the user should see.

    Args:
        group: the class of the issue it belongs to (one of :data:`CLASSES`).
        name: a short id (unique).
        argv: the command line after ``automl-codegen``, as a shell would split it, with
            the tokens of :data:`MACROS` and :data:`VALUES`; ``{tmp}`` / ``{run}`` filled in.
        expect: text the error line (status 2) or the output (other statuses) contains.
        status: the documented exit status, or the statuses allowed (a damaged run may
            still be read: 0, or 2 with its one-line error).
        prepare: writes the hostile files into the workspace before the command runs.
        needs_run: copy the small finished run to ``{run}`` first.
        process: run the command in a process of its own (see ``memory``, ``file_size``, ``during``).
        memory: the process's address-space limit, bytes (only with ``process``).
        file_size: the process's file-size limit, bytes: a full disk (only with ``process``).
        during: called with the running process (only with ``process``): sends signals.
        absent: a path that must not exist afterwards (work refused before it began).
        limit_s: the seconds after which the attack counts as a hang.
        xfail: why this attack still fails, where the bug lives in a file this change may
            not touch; the test expects the failure.
    """

    group: str
    name: str
    argv: str
    expect: str
    status: int | tuple[int, ...] = 2
    prepare: Callable[[Workspace], None] | None = None
    needs_run: bool = False
    process: bool = False
    memory: int | None = None
    file_size: int | None = None
    during: Callable[[subprocess.Popen, Workspace], None] | None = None
    absent: str | None = None
    limit_s: float = 30.0
    xfail: str | None = None


@attrs.frozen
class Outcome:
    """What an attack did: exit status (None after a hang), output, seconds."""

    status: int | None
    stdout: str
    stderr: str
    seconds: float
    hung: bool = False
    leftover: str | None = None  # the ``absent`` path, when it exists

    def verdict(self, attack: Attack) -> str:
        """``clean``, ``traceback``, ``hang`` or ``other: <why>``."""
        if self.hung:
            return "hang"
        if "Traceback (most recent call last)" in self.stderr:
            return "traceback"
        allowed = attack.status if isinstance(attack.status, tuple) else (attack.status,)
        if self.status not in allowed:
            return f"other: exit status {self.status}, expected {attack.status}"
        if self.leftover is not None:
            return f"other: {self.leftover} exists; the work was not refused before it began"
        if self.status == 2:
            lines = [line for line in self.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
            if len(lines) != 1 or not lines[0].startswith(ERROR):
                return f"other: stderr is not one '{ERROR.strip()}' line"
            if len(lines[0]) > MAX_LINE:
                return f"other: the error line has {len(lines[0]):,} characters"
            if attack.expect not in lines[0]:
                return f"other: the error line lacks {attack.expect!r}"
        elif attack.expect not in self.stdout + self.stderr:
            return f"other: the output lacks {attack.expect!r}"
        return "clean"


# -- running --------------------------------------------------------------------------------


class _Hang(BaseException):
    """Raised by the alarm in an attack that ran past its limit (no handler catches it)."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`_Hang` in the main thread after ``seconds``; an outer timer (pytest-timeout's) is kept."""

    def expire(_signum: int, _frame: Any) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


def run_main(argv: Sequence[str], limit_s: float) -> tuple[int | None, str, str, bool]:
    """``main(argv)`` in this process: ``(status, stdout, stderr, hung)``; an escaped exception is printed."""
    from automl_codegen.cli import main

    out, err = io.StringIO(), io.StringIO()
    status: int | None = None
    hung = False
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            with _deadline(limit_s):
                status = main(list(argv))
        except SystemExit as exc:  # argparse's errors and --help
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except _Hang:
            hung = True
        except BaseException:  # what escapes main() is the finding
            traceback.print_exc(file=err)
            status = 1
    return status, out.getvalue(), err.getvalue(), hung


def _limits(memory: int | None, file_size: int | None) -> Callable[[], None]:
    def apply() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if file_size is not None:
            # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG: a full disk.
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return apply


def run_process(attack: Attack, argv: Sequence[str], ws: Workspace) -> tuple[int | None, str, str, bool]:
    """The command in a process of its own, under the attack's limits; killed at its time limit."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl_codegen.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ws.tmp,
        preexec_fn=_limits(attack.memory, attack.file_size),
    )
    try:
        if attack.during is not None:
            attack.during(proc, ws)
        out, err = proc.communicate(timeout=attack.limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out, err, True
    return proc.returncode, out, err, False


def attempt(attack: Attack, tmp: Path, small_run: Path | None = None) -> Outcome:
    """Run ``attack`` in the fresh directory ``tmp``; ``small_run`` is copied for ``needs_run``."""
    run = None
    if attack.needs_run:
        if small_run is None:
            msg = f"attack {attack.name} needs a small run"
            raise ValueError(msg)
        run = tmp / "run"
        shutil.copytree(small_run, run)
    ws = Workspace(tmp, run)
    if attack.prepare is not None:
        attack.prepare(ws)
    argv = [ws.fill(arg) for arg in expand(attack.argv)]
    started = time.perf_counter()
    if attack.process:
        status, out, err, hung = run_process(attack, argv, ws)
    else:
        status, out, err, hung = run_main(argv, attack.limit_s)
    seconds = time.perf_counter() - started
    leftover = None
    if attack.absent is not None and Path(ws.fill(attack.absent)).exists():
        leftover = ws.fill(attack.absent)
    return Outcome(status, out, err, seconds, hung, leftover)


def make_small_run(path: Path) -> Path:
    """A finished search of two trials, one epoch each, on 120 synthetic images (about 3 s)."""
    argv = [arg.replace("{tmp}/r", str(path)) for arg in expand("{search} --budget-trials 2")]
    status, _out, err, _hung = run_main(argv, 120)
    if status != 0:
        msg = f"the small run failed: {err}"
        raise RuntimeError(msg)
    return path


# -- hostile files ----------------------------------------------------------------------------


def write(relative: str, data: bytes | str) -> Callable[[Workspace], None]:
    """``prepare``: write ``data`` to ``{tmp}/relative`` (``{run}`` may start it)."""

    def prepare(ws: Workspace) -> None:
        path = Path(ws.fill(relative if relative.startswith("{") else "{tmp}/" + relative))
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)

    return prepare


def together(*steps: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        for step in steps:
            step(ws)

    return prepare


def replace_with_dir(relative: str) -> Callable[[Workspace], None]:
    """``prepare``: the run's file ``relative`` becomes an empty directory."""

    def prepare(ws: Workspace) -> None:
        path = ws.run / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.mkdir()

    return prepare


def replace_with_file(relative: str, data: bytes = b"") -> Callable[[Workspace], None]:
    """``prepare``: the run's directory (or file) ``relative`` becomes a file holding ``data``."""

    def prepare(ws: Workspace) -> None:
        path = ws.run / relative
        if path.is_dir():
            shutil.rmtree(path)
        path.write_bytes(data)

    return prepare


def flip_bits(relative: str, every: int = 97) -> Callable[[Workspace], None]:
    """``prepare``: flip one bit in every ``every`` bytes of the run's file past its first 100 bytes."""

    def prepare(ws: Workspace) -> None:
        path = ws.run / relative
        data = bytearray(path.read_bytes())
        for i in range(100, len(data), every):
            data[i] ^= 0x10
        path.write_bytes(bytes(data))

    return prepare


def truncate(relative: str, fraction: float = 0.5) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        path = ws.run / relative
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return prepare


def sql(statement: str, *params: Any) -> Callable[[Workspace], None]:
    """``prepare``: run one statement on the run's journal (a damaged row)."""

    def prepare(ws: Workspace) -> None:
        with contextlib.closing(sqlite3.connect(ws.run / "journal.sqlite")) as db, db:
            db.execute(statement, params)

    return prepare


def config_with(**changes: Any) -> Callable[[Workspace], None]:
    """``prepare``: the journal's recorded configuration with ``changes`` (a key set to ... is removed)."""

    def prepare(ws: Workspace) -> None:
        with contextlib.closing(sqlite3.connect(ws.run / "journal.sqlite")) as db, db:
            config = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
            for key, value in changes.items():
                if value is ...:
                    config.pop(key, None)
                else:
                    config[key] = value
            db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))

    return prepare


def sparse_file(relative: str, size: int) -> Callable[[Workspace], None]:
    """``prepare``: a file of ``size`` bytes that takes no room on the disk (a hole)."""

    def prepare(ws: Workspace) -> None:
        with open(ws.tmp / relative, "wb") as file:
            file.truncate(size)

    return prepare


def make_fifo(relative: str) -> Callable[[Workspace], None]:
    def prepare(ws: Workspace) -> None:
        os.mkfifo(ws.tmp / relative)

    return prepare


def nested_blocks(depth: int) -> str:
    """An architecture whose block ``B<i>`` calls ``B<i-1>`` twice, ``depth`` levels: 2**depth ops inlined."""
    blocks = [{"name": "B0", "inputs": ["x"], "params": [], "nodes": [{"name": "r", "op": "relu", "inputs": ["x"], "attrs": {}}], "output": "r"}]  # fmt: skip
    for i in range(1, depth):
        calls = [
            {"name": "a", "op": "block", "inputs": ["x"], "attrs": {}, "block": f"B{i - 1}"},
            {"name": "b", "op": "block", "inputs": ["a"], "attrs": {}, "block": f"B{i - 1}"},
        ]
        blocks.append({"name": f"B{i}", "inputs": ["x"], "params": [], "nodes": calls, "output": "b"})
    arch = {
        "input_shape": [1, 8, 8],
        "num_classes": 2,
        "nodes": [
            {"name": "body", "op": "block", "inputs": ["input_"], "attrs": {}, "block": f"B{depth - 1}"},
            {"name": "pool", "op": "global_avg_pool", "inputs": ["body"], "attrs": {}},
            {"name": "fc", "op": "linear", "inputs": ["pool"], "attrs": {"in_features": 1, "out_features": 2}},
        ],
        "output": "fc",
        "blocks": blocks,
    }
    return json.dumps(arch)


def small_architecture(**changes: Any) -> str:
    """A valid three-node architecture, with ``changes`` to its top-level fields."""
    arch = {
        "input_shape": [1, 8, 8],
        "num_classes": 2,
        "nodes": [
            {"name": "pool", "op": "global_avg_pool", "inputs": ["input_"], "attrs": {}},
            {"name": "fc", "op": "linear", "inputs": ["pool"], "attrs": {"in_features": 1, "out_features": 2}},
        ],
        "output": "fc",
    }
    arch.update(changes)
    return json.dumps(arch)


def idx_bytes(array_shape: tuple[int, ...], payload: bytes) -> bytes:
    """An idx file (MNIST's format) of unsigned bytes with this shape."""
    return struct.pack(">HBB", 0, 8, len(array_shape)) + struct.pack(f">{len(array_shape)}I", *array_shape) + payload


def mnist_files(root: str, *, bomb: bool = False, empty_train: bool = False) -> Callable[[Workspace], None]:
    """``prepare``: the four MNIST idx files under ``{tmp}/root``; a gzip bomb for the training images."""

    def prepare(ws: Workspace) -> None:
        directory = ws.tmp / root
        directory.mkdir(parents=True)
        for split, n in (("train", 0 if empty_train else 60), ("t10k", 20)):
            images = idx_bytes((n, 8, 8), bytes(range(256)) * (n * 64 // 256) + bytes(n * 64 % 256))
            labels = idx_bytes((n,), bytes(i % 10 for i in range(n)))
            (directory / f"{split}-images-idx3-ubyte").write_bytes(images)
            (directory / f"{split}-labels-idx1-ubyte").write_bytes(labels)
        if bomb:
            # 200 members of 1 MiB of zeros each: 200 MiB from about 200 KiB.
            member = gzip.compress(bytes(1 << 20), compresslevel=9)
            (directory / "train-images-idx3-ubyte").unlink()
            (directory / "train-images-idx3-ubyte.gz").write_bytes(member * 200)

    return prepare


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` grey pixels (the pixels themselves are few)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def image_folder(root: str, *, classes: Sequence[str] = ("a", "b"), files: dict[str, bytes] | None = None):
    """``prepare``: ``{tmp}/root/<class>/`` folders with 12 small valid PNGs each, plus ``files``."""

    def prepare(ws: Workspace) -> None:
        from PIL import Image

        base = ws.tmp / root
        for label, name in enumerate(classes):
            (base / name).mkdir(parents=True)
            for i in range(12):
                Image.new("L", (8, 8), color=(label * 80 + i) % 256).save(base / name / f"{i}.png")
        for relative, data in (files or {}).items():
            (base / relative).parent.mkdir(parents=True, exist_ok=True)
            (base / relative).write_bytes(data)

    return prepare


def double_interrupt(proc: subprocess.Popen, ws: Workspace) -> None:
    """Ctrl-C twice, 20 ms apart, once the first trial of the search has started."""
    _wait_for_trial(ws.tmp / "r", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)


def terminate(proc: subprocess.Popen, ws: Workspace) -> None:
    _wait_for_trial(ws.tmp / "r", proc)
    proc.send_signal(signal.SIGTERM)


def _trials_started(database: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=1)) as db:
            return bool(db.execute("SELECT count(*) FROM trials").fetchone()[0])
    except sqlite3.Error:
        return False


def _wait_for_trial(run: Path, proc: subprocess.Popen, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "journal.sqlite").exists() and _trials_started(run / "journal.sqlite"):
            return
        time.sleep(0.05)


# -- the catalogue ----------------------------------------------------------------------------

#: Tokens that stand for several arguments. ``{search}``: a search that trains one small
#: network for one epoch (the attack's options come after, and a flag given twice keeps its
#: last value); ``{search-on}``: the same without a dataset, for the attack to name one.
MACROS = {
    "{search-on}": "search --budget-trials 1 --epochs 1 --profiler none --quiet -o {tmp}/r",
    "{search}": "{search-on} --dataset synthetic --dataset-option num_samples=120 --dataset-option num_classes=3",
    "{resume}": "search --resume {run} --budget-trials 1 --quiet",
    "{generate}": "generate -o {tmp}/m.py",
    "{sizes}": "--input-shape 1,8,8 --num-classes 2",
}
#: Values that do not fit on a command line written out here.
VALUES = {
    "{huge}": "x" * 50_000_000,  # 50 MB: in this process only (an argument of a real one holds 128 KiB)
    "{deep}": "[" * 100_000 + "]" * 100_000,
}
NB201_CELL = "'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|'"
STAGE = '{"op": "conv", "kernel": 3, "width": 8, "depth": 1, "stride": 2, "skip": false, "expand": 2}'
# A one-row NAS-Bench-201 table: the evaluator needs one before it looks at the space.
NB201_TABLE = "index,arch," + ",".join(f"{d}_{c}" for d in ("cifar10", "cifar100", "imagenet16") for c in ("valid_12ep", "test_12ep", "test_200ep")) + "\n0," + NB201_CELL.strip("'") + ",90,90,93,70,70,72,40,40,45\n"
DAMAGED = (0, 2)  # a damaged run: an ending as normal, or a one-line error; never a traceback


def expand(argv: str) -> list[str]:
    """The command line of an attack: macros expanded, split like a shell, values put in."""
    for _ in range(3):  # macros may use macros
        for macro, text in MACROS.items():
            argv = argv.replace(macro, text)
    args = shlex.split(argv)
    for token, value in VALUES.items():
        args = [arg.replace(token, value) for arg in args]
    return args


def A(group: str, name: str, argv: str, expect: str = "", **options: Any) -> Attack:  # noqa: N802 - a table row
    return Attack(group, name, argv, expect, **options)


def _genotype(space_options: str, text: str) -> str:
    return f"{{generate}} --space chain-cnn {space_options} {{sizes}} --genotype '{text}'"


def _damaged_rows() -> list[Attack]:
    """Each damage of the journal, tried by report, export (model and front) and resume."""
    # fmt: off
    damages = [
        ("config-not-json", sql("UPDATE meta SET value = '{' WHERE key = 'config'")),
        ("config-a-list", sql("UPDATE meta SET value = '[1]' WHERE key = 'config'")),
        ("config-null", sql("UPDATE meta SET value = 'null' WHERE key = 'config'")),
        ("config-missing", sql("DELETE FROM meta WHERE key = 'config'")),
        ("config-an-integer", sql("UPDATE meta SET value = 7 WHERE key = 'config'")),
        ("config-a-blob", sql("UPDATE meta SET value = x'80ff00' WHERE key = 'config'")),
        ("config-objectives-missing", config_with(objectives=...)),
        ("config-objectives-a-string", config_with(objectives="accuracy")),
        ("config-objective-unknown", config_with(objectives=[{"name": "bogus", "direction": "max"}])),
        ("config-constraints-garbage", config_with(constraints=["((("])),
        ("config-constraints-a-number", config_with(constraints=5)),
        ("config-budget-a-string", config_with(budget="x")),
        ("config-training-5", config_with(training=5)),
        ("config-space-unknown", config_with(space="bogus")),
        ("config-space-options-bogus", config_with(space_options={"bogus": 1})),
        ("config-space-options-input-shape", config_with(space_options={"input_shape": [1, 8, 8]})),
        ("config-seed-a-string", config_with(seed="x")),
        ("config-dataset-summary-null", config_with(dataset_summary=None)),
        ("config-dataset-summary-a-string", config_with(dataset_summary="ab")),
        ("config-first-generation-huge", config_with(first_generation_size=10**30)),
        ("config-first-generation-string", config_with(first_generation_size="x")),
        ("format-garbage", sql("UPDATE meta SET value = 'x' WHERE key = 'format'")),
        ("format-3", sql("UPDATE meta SET value = '3' WHERE key = 'format'")),
        ("elapsed-garbage", sql("UPDATE meta SET value = 'x' WHERE key = 'elapsed_s'")),
        ("elapsed-a-list", sql("UPDATE meta SET value = '[1]' WHERE key = 'elapsed_s'")),
        ("metrics-not-json", sql("UPDATE trials SET metrics = '{' WHERE number = 0")),
        ("metrics-null", sql("UPDATE trials SET metrics = 'null' WHERE number = 0")),
        ("metrics-a-list", sql("UPDATE trials SET metrics = '[1, 2]' WHERE number = 0")),
        ("metrics-an-integer", sql("UPDATE trials SET metrics = 5 WHERE number = 0")),
        ("metrics-a-blob", sql("UPDATE trials SET metrics = x'ff00' WHERE number = 0")),
        ("metrics-nan-accuracy", sql("""UPDATE trials SET metrics = '{"accuracy": NaN}' WHERE number = 0""")),
        ("objectives-a-string-value", sql("""UPDATE trials SET objectives = '{"accuracy": "x"}'""")),
        ("objectives-empty", sql("UPDATE trials SET objectives = '{}' WHERE number = 0")),
        ("objectives-a-list", sql("UPDATE trials SET objectives = '[]' WHERE number = 0")),
        ("genotype-not-json", sql("UPDATE trials SET genotype = 'x' WHERE number = 0")),
        ("genotype-a-number", sql("UPDATE trials SET genotype = '5' WHERE number = 0")),
        ("architecture-not-json", sql("UPDATE trials SET architecture = '{' WHERE number = 0")),
        ("architecture-a-list", sql("UPDATE trials SET architecture = '[]' WHERE number = 0")),
        ("architecture-deep", sql("UPDATE trials SET architecture = ? WHERE number = 0", VALUES["{deep}"])),
        ("architecture-nested", sql("UPDATE trials SET architecture = ? WHERE number = 0", nested_blocks(40))),
        ("status-bogus", sql("UPDATE trials SET status = 'bogus' WHERE number = 0")),
        ("status-failed-without-error", sql("UPDATE trials SET status = 'failed' WHERE number = 0")),
        ("violation-a-string", sql("UPDATE trials SET constraint_violation = 'x' WHERE number = 0")),
        ("violation-nan", sql("UPDATE trials SET constraint_violation = 'NaN' WHERE number = 0")),
        ("duration-a-blob", sql("UPDATE trials SET duration_s = x'00' WHERE number = 0")),
        ("weights-outside", sql("UPDATE trials SET weights = '/etc/passwd'")),
        ("weights-climbing-out", sql("UPDATE trials SET weights = '../../../../etc/passwd'")),
        ("weights-a-number", sql("UPDATE trials SET weights = 5 WHERE number = 0")),
        ("number-negative", sql("UPDATE trials SET number = -7 WHERE number = 0")),
        ("number-huge", sql("UPDATE trials SET number = 9223372036854775807 WHERE number = 0")),
        ("trials-all-deleted", sql("DELETE FROM trials")),
        ("trials-table-dropped", sql("DROP TABLE trials")),
        ("state-not-json", sql("UPDATE strategy_state SET state = '{'")),
        ("state-a-list", sql("UPDATE strategy_state SET state = '[]'")),
        ("state-population-garbage", sql("UPDATE strategy_state SET state = json_set(state, '$.population', 'x')")),
        ("state-rng-garbage", sql("UPDATE strategy_state SET state = json_set(state, '$.rng', 5)")),
        ("state-missing-blob", sql("""UPDATE strategy_state SET state = json_set(state, '$.seen', json('{"$blob": "ab"}'))""")),
        ("state-after-trial-huge", sql("UPDATE strategy_state SET after_trial = 9223372036854775807")),
        ("state-after-trial-negative", sql("UPDATE strategy_state SET after_trial = -5")),
        ("event-garbage", sql("INSERT INTO events (kind, step, data) VALUES ('alpha', 0, '{')")),
    ]
    # fmt: on
    commands = {
        "report": "report {run} -o {tmp}/rep",
        "export": "export {run} -o {tmp}/e --front {tmp}/front.csv",
        "resume": "{resume}",
    }
    # The strategy state is read by resume alone, the weights by export: a report of each
    # such damage would only draw the same figure again (a second each).
    skip_report = {label for label, _ in damages if label.startswith(("state-", "weights-"))} - {"state-a-list"}
    attacks = []
    for label, damage in damages:
        for command, argv in commands.items():
            if command == "report" and label in skip_report:
                continue
            attacks.append(A(JOURNAL, f"{command}-{label}", argv, needs_run=True, prepare=damage, status=DAMAGED))
    return attacks


# One attack a line: the catalogue reads as a table.
# fmt: off
ATTACKS: list[Attack] = [
    # -- blow-ups from small inputs: each once hung, or filled the memory ---------------------
    A(BLOW_UP, "nested-blocks-40x2", "{generate} {tmp}/a.json", "expands to 549755813890 primitive ops", prepare=write("a.json", nested_blocks(40))),
    A(BLOW_UP, "nested-blocks-200-deep", "{generate} {tmp}/a.json", "nests blocks 65 deep", prepare=write("a.json", nested_blocks(200))),
    A(BLOW_UP, "chain-cnn-num-stages-1e6", "{search} --space-option num_stages=1000000", "'num_stages' must be an integer from 1 to 64"),
    A(BLOW_UP, "darts-cell-layers-1e5", "{generate} --space darts-cell --space-option layers=100000 --genotype DARTS_V2", "'layers' must be an integer from 1 to 256"),
    A(BLOW_UP, "darts-cell-channels-1e9", "{generate} --space darts-cell --space-option init_channels=1000000000 --genotype DARTS_V2", "'init_channels' must be an integer from 1 to 4096"),
    A(BLOW_UP, "nb201-cells-1e6", f"{{generate}} --space nb201 --space-option cells_per_stage=1000000 --genotype {NB201_CELL}", "'cells_per_stage' must be an integer from 1 to 256"),
    A(BLOW_UP, "rl-hidden-size-1e8", "{search} --strategy rl --strategy-option hidden_size=100000000", "hidden_size must be an integer from 1 to 4096"),
    A(BLOW_UP, "mnist-gzip-bomb", "{search-on} --dataset mnist --dataset-option root={tmp}/mnist", "expands to more than 67,108,864 bytes", prepare=mnist_files("mnist", bomb=True)),
    A(BLOW_UP, "png-144-megapixels", "{search-on} --dataset image-folder --dataset-option root={tmp}/images", "is 12000x12000 pixels, more than 50,000,000; downscale it first", prepare=image_folder("images", files={"a/huge.png": png_header(12_000, 12_000)})),
    A(BLOW_UP, "image-size-60000", "{search-on} --dataset image-folder --dataset-option root={tmp}/images --dataset-option image_size=[60000,60000]", "from 1 to 4096", prepare=image_folder("images")),
    A(BLOW_UP, "strategy-name-50mb", "{search} --strategy {huge}", "unknown strategy 'xxxx"),
    A(BLOW_UP, "option-name-50mb", "{search} --space-option {huge}=1", "chain-cnn has no option(s) ['xxxx"),
    A(BLOW_UP, "option-value-50mb", "{search} --strategy-option population_size={huge}", "population_size must be an integer >= 2, got 'xxx"),
    A(BLOW_UP, "genotype-50mb", "{generate} --space nb201 --genotype {huge}", "xxx...' is not a NAS-Bench-201 cell string"),
    A(BLOW_UP, "architecture-name-50mb", "{generate} {tmp}/a.json", "is larger than 32 MiB", prepare=write("a.json", small_architecture(name="x" * 50_000_000))),
    A(BLOW_UP, "option-deep-json", "{search} --space-option widths={deep}", "nests too deeply"),
    A(BLOW_UP, "genotype-deep-json", "{generate} --space chain-cnn {sizes} --genotype {deep}", "is not a chain-cnn genotype: maximum recursion depth"),
    A(BLOW_UP, "architecture-deep-json", "{generate} {tmp}/a.json", "maximum recursion depth", prepare=write("a.json", VALUES["{deep}"])),
    A(BLOW_UP, "architecture-dev-zero", "{generate} /dev/zero", "is not a regular file", process=True, memory=4 * GIB),
    A(BLOW_UP, "architecture-fifo", "{generate} {tmp}/fifo", "is not a regular file", prepare=make_fifo("fifo"), limit_s=10),
    A(BLOW_UP, "architecture-sparse-8gib", "{generate} {tmp}/a.json", "is larger than 32 MiB", prepare=sparse_file("a.json", 8 * GIB), process=True, memory=4 * GIB),
    A(BLOW_UP, "chain-cnn-width-1e6", "{search} --space-option widths=[1000000]", "reach 6000000 channels"),
    A(BLOW_UP, "synthetic-samples-1e12", "{search} --dataset-option num_samples=1000000000000", "pixel values, more than"),
    A(BLOW_UP, "synthetic-image-size-1e6", "{search} --dataset-option image_size=1000000", "pixel values, more than"),
    A(BLOW_UP, "synthetic-channels-1e6", "{search} --dataset-option channels=1000000", "pixel values, more than"),
    A(BLOW_UP, "population-1e9", "{search} --strategy-option population_size=1000000000", status=0),
    A(BLOW_UP, "process-workers-1e5", "{search} --executor process --executor-option workers=100000", "workers must be an integer from 1 to 256"),
    A(BLOW_UP, "process-threads-1e5", "{search} --executor process --executor-option threads_per_worker=100000", "from 1 to 1024"),
    A(BLOW_UP, "loader-workers-1e5", "{search} --evaluator-option data=loader --evaluator-option workers=100000", "workers must be a whole number from 0 to 64"),
    A(BLOW_UP, "torch-threads-1e5", "{search} --evaluator-option threads=100000", "threads must be a whole number from 1 to 1024"),
    A(BLOW_UP, "hyperband-min-epochs-1e9", "{search} --fidelity hyperband --min-epochs 1000000000", "min_epochs must be an integer from 1"),
    A(BLOW_UP, "epochs-1e9-in-4-seconds", "{search} --epochs 1000000000 --budget-seconds 4", status=0),
    A(BLOW_UP, "seed-1e30", f"{{search}} --seed {10**30}", status=0),
    A(BLOW_UP, "input-shape-1e9", f"{{generate}} --space chain-cnn --space-option num_stages=1 --input-shape 1,1000000000,1000000000 --num-classes 2 --genotype '{{\"stages\": [{STAGE}]}}'", "input_shape"),
    A(BLOW_UP, "num-classes-1e12", "{generate} --space darts-cell --num-classes 1000000000000 --genotype DARTS_V2", "is outside [1, 65536]"),
    # -- unknown option names ------------------------------------------------------------------
    A(OPTION_NAME, "space-option", "{search} --space-option bogus=1", "chain-cnn has no option(s) ['bogus']"),
    A(OPTION_NAME, "dataset-option", "{search} --dataset-option bogus=1", "dataset 'synthetic' has no option(s) ['bogus']"),
    A(OPTION_NAME, "executor-option", "{search} --executor-option bogus=1", "executor 'local' has no option(s) ['bogus']"),
    A(OPTION_NAME, "process-executor-option", "{search} --executor process --executor-option bogus=1", "executor 'process' has no option(s)"),
    A(OPTION_NAME, "strategy-option", "{search} --strategy-option bogus=1", "strategy 'evolution' has no option(s) ['bogus']"),
    A(OPTION_NAME, "evaluator-option", "{search} --evaluator-option bogus=1", "train evaluator has no option(s) ['bogus']"),
    A(OPTION_NAME, "rl-option", "{search} --strategy rl --strategy-option bogus=1", "strategy 'rl' has no option(s) ['bogus']"),
    A(OPTION_NAME, "space-option-input-shape", "{search} --space-option input_shape=[1,8,8]", "search space option 'input_shape' is set by the search itself"),
    A(OPTION_NAME, "space-option-num-classes", "{search} --space-option num_classes=3", "search space option 'num_classes' is set by the search itself"),
    A(OPTION_NAME, "strategy-option-seed", "{search} --strategy-option seed=1", "strategy option 'seed' is set by the search itself"),
    A(OPTION_NAME, "strategy-option-space", "{search} --strategy-option space=1", "strategy option 'space' is set by the search itself"),
    A(OPTION_NAME, "strategy-option-objectives", "{search} --strategy-option objectives=[]", "strategy option 'objectives' is set"),
    A(OPTION_NAME, "dataset-option-seed", "{search} --dataset-option seed=1", "dataset option 'seed' is set by the search itself"),
    A(OPTION_NAME, "dataset-option-data", "{search} --dataset-option data=[1,2]", "dataset option 'data' is set by the search itself"),
    A(OPTION_NAME, "empty-name", "{search} --space-option =1", "--space-option expects KEY=VALUE, got '=1'"),
    A(OPTION_NAME, "no-equals", "{search} --space-option num_stages", "--space-option expects KEY=VALUE"),
    A(OPTION_NAME, "spaced-name", "{search} --space-option ' num_stages=2'", "has no option(s) [' num_stages']"),
    A(OPTION_NAME, "dunder-name", "{search} --space-option __class__=1", "has no option(s) ['__class__']"),
    A(OPTION_NAME, "generate-space-option", "{generate} --space nb201 --space-option bogus=1 --genotype x", "nb201 has no option(s) ['bogus']"),
    A(OPTION_NAME, "generate-space-option-size", "{generate} --space chain-cnn {sizes} --space-option num_classes=3 --genotype {}", "--space-option num_classes is not a space option; give the size as --num-classes"),
    A(OPTION_NAME, "train-evaluator-option", "train {run} --epochs 1 --evaluator-option bogus=1 -o {tmp}/f", "train evaluator has no option(s) ['bogus']", needs_run=True),
    # -- bad values of options and flags ----------------------------------------------------------
    *(A(OPTION_VALUE, f"budget-seconds-{v}", f"{{search}} --budget-seconds={v}", "budget['seconds'] must be") for v in ("nan", "inf", "-inf", "-1", "0", "1e999")),
    *(A(OPTION_VALUE, f"budget-trials-{v}", f"{{search}} --budget-trials={v}", "budget['trials'] must be a positive int") for v in ("-5", "0")),
    *(A(OPTION_VALUE, f"epochs-{v}", f"{{search}} --epochs={v}", "epochs must be a positive int") for v in ("0", "-1")),
    A(OPTION_VALUE, "profiler-none-with-another", "{search} --profiler none --profiler torch-cpu", "--profiler none means no profiler, so it cannot go with torch-cpu"),
    A(OPTION_VALUE, "seed-negative", "{search} --seed=-1", "seed must be a non-negative integer, got -1"),
    A(OPTION_VALUE, "eta-1", "{search} --fidelity successive-halving --eta 1", "eta must be an integer >= 2"),
    A(OPTION_VALUE, "min-epochs-0", "{search} --fidelity successive-halving --min-epochs 0", "min_epochs must be an integer from 1"),
    A(OPTION_VALUE, "min-epochs-alone", "{search} --min-epochs 2", "add --fidelity successive-halving"),
    A(OPTION_VALUE, "device-cuda-99", "{search} --device cuda:99", "device 'cuda:99' was asked for but torch sees"),
    A(OPTION_VALUE, "device-cuda-minus-1", "{search} --device cuda:-1", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    A(OPTION_VALUE, "profiler-unknown", "search --dataset digits --profiler bogus -o {tmp}/r", "unknown profiler 'bogus'"),
    A(OPTION_VALUE, "objective-empty", "{search} --objective ''", "unknown objective ''"),
    A(OPTION_VALUE, "objective-twice", "{search} --objective accuracy --objective accuracy", "objectives are listed twice"),
    *(A(OPTION_VALUE, f"constraint-{label}", f"{{search}} --constraint '{text}'", expect) for label, text, expect in (
        ("nan", "params < nan", "cannot parse constraint"),
        ("inf", "params < inf", "cannot parse constraint"),
        ("1e999", "params < 1e999", "the bound must be finite"),
        ("garbage", "(((", "cannot parse constraint"),
        ("unmeasured", "bogus < 3", "needs the measurement 'bogus'"),
    )),
    *(A(OPTION_VALUE, f"num-stages-{label}", f"{{search}} --space-option 'num_stages={v}'", "'num_stages' must be an integer from 1 to 64") for label, v in (
        ("nan", "NaN"), ("inf", "Infinity"), ("minus-inf", "-Infinity"), ("true", "true"), ("string", '"3"'),
        ("null", "null"), ("list", "[3]"), ("object", "{}"), ("0", "0"), ("negative", "-3"), ("fraction", "2.5"),
    )),
    *(A(OPTION_VALUE, f"widths-{label}", f"{{search}} --space-option 'widths={v}'", "'widths' must list distinct positive integers") for label, v in (
        ("empty", "[]"), ("zero", "[0]"), ("negative", "[-8]"), ("fraction", "[8.5]"), ("a-number", "8"), ("text", '"8"'),
    )),
    A(OPTION_VALUE, "kernel-sizes-even", "{search} --space-option kernel_sizes=[4]", "must hold odd kernel sizes"),
    A(OPTION_VALUE, "dropout-nan", "{search} --space-option dropout=NaN", "'dropout' must be a number in [0, 1)"),
    A(OPTION_VALUE, "stem-stride-0", "{search} --space-option stem_stride=0", "'stem_stride' must be 1, 2 or None"),
    A(OPTION_VALUE, "population-1", "{search} --strategy-option population_size=1", "population_size must be an integer >= 2"),
    A(OPTION_VALUE, "mutation-rate-nan", "{search} --strategy-option mutation_rate=NaN", "mutation_rate must be a number in (0, 1]"),
    A(OPTION_VALUE, "algorithm-bogus", "{search} --strategy-option algorithm=bogus", "unknown algorithm 'bogus'"),
    *(A(OPTION_VALUE, f"evaluator-{key}-{v}", f"{{search}} --evaluator-option {key}={v}", f"train evaluator: {key} must be") for key, v in (
        ("lr", "NaN"), ("lr", "-1"), ("lr", "Infinity"), ("batch_size", "1"), ("optimizer", "bogus"), ("amp", "fp8"),
        ("workers", "-1"), ("threads", "0"), ("momentum", "1"), ("label_smoothing", "NaN"),
    )),
    A(OPTION_VALUE, "process-workers-0", "{search} --executor process --executor-option workers=0", "workers must be an integer from 1"),
    A(OPTION_VALUE, "process-fork", "{search} --executor process --executor-option start_method=fork", "start_method must be one of spawn, forkserver"),
    *(A(OPTION_VALUE, f"synthetic-{key}-{v}", f"{{search}} --dataset-option {key}={v}", expect) for key, v, expect in (
        ("val_fraction", "1.5", "val_fraction must be between 0 and 1"),
        ("val_fraction", "NaN", "val_fraction must be between 0 and 1"),
        ("num_classes", "1", "num_classes must be between 2"),
        ("noise", "NaN", "noise must be a number >= 0"),
        ("num_samples", "-5", "num_samples must be an integer >= 1"),
        ("num_samples", "5", "too small for 3 classes"),
    )),
    A(OPTION_VALUE, "digits-fractions-over-1", "{search-on} --dataset digits --dataset-option val_fraction=0.6 --dataset-option test_fraction=0.6", "leaves too little training data"),
    A(OPTION_VALUE, "train-epochs-0", "train {run} --epochs 0 -o {tmp}/f", "epochs must be a positive int", needs_run=True),
    A(OPTION_VALUE, "train-trial-99", "train {run} --epochs 1 --trial 99 -o {tmp}/f", "has no trial 99", needs_run=True),
    A(OPTION_VALUE, "train-device-cuda", "train {run} --epochs 1 --device cuda:7 -o {tmp}/f", "device 'cuda:7' was asked for but torch sees", needs_run=True),
    A(OPTION_VALUE, "train-device-bogus", "train {run} --epochs 1 --device gpu -o {tmp}/f", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'", needs_run=True),
    A(OPTION_VALUE, "train-seed-negative", "train {run} --epochs 1 --seed=-1 -o {tmp}/f", "seed must be a non-negative integer", needs_run=True),
    A(OPTION_VALUE, "export-trial-99", "export {run} --trial 99 -o {tmp}/e", "has no trial 99", needs_run=True),
    A(OPTION_VALUE, "export-trial-negative", "export {run} --trial=-1 -o {tmp}/e", "has no trial -1", needs_run=True),
    A(OPTION_VALUE, "export-emitter-bogus", "export {run} --emitter bogus -o {tmp}/e", "unknown emitter 'bogus'", needs_run=True),
    A(OPTION_VALUE, "export-front-any-suffix", "export {run} --front {tmp}/front.txt", status=0, needs_run=True),
    A(OPTION_VALUE, "generate-num-classes-0", "{generate} --space darts-cell --num-classes 0 --genotype DARTS_V2", "'num_classes' must be a positive integer"),
    A(OPTION_VALUE, "generate-input-shape-0", "{generate} --space chain-cnn --input-shape 0,0,0 --num-classes 2 --genotype {}", "needs input_shape (C, H, W) of positive integers"),
    A(OPTION_VALUE, "generate-input-shape-negative", "{generate} --space chain-cnn --input-shape=-1,8,8 --num-classes 2 --genotype {}", "needs input_shape (C, H, W) of positive integers"),
    A(OPTION_VALUE, "generate-input-shape-2d", "{generate} --space chain-cnn --input-shape 1,8 --num-classes 2 --genotype {}", "needs input_shape (C, H, W)"),
    A(OPTION_VALUE, "generate-input-shape-empty", "{generate} --space chain-cnn --input-shape '' --num-classes 2 --genotype {}", "--input-shape takes C,H,W"),
    A(OPTION_VALUE, "generate-emitter-bogus", "{generate} {run}/best.json --emitter bogus", "unknown emitter 'bogus'", needs_run=True),
    A(OPTION_VALUE, "demo-budget-nan", "demo --budget-seconds nan -o {tmp}/d", "budget['seconds'] must be", absent="{tmp}/d"),
    A(OPTION_VALUE, "demo-budget-negative", "demo --budget-seconds=-1 -o {tmp}/d", "budget['seconds'] must be", absent="{tmp}/d"),
    # -- malformed command lines ----------------------------------------------------------------
    A(COMMAND_LINE, "int-flag-not-a-number", "{search} --budget-trials x", "invalid int value: 'x'"),
    A(COMMAND_LINE, "float-flag-empty", "{search} --budget-seconds ''", "invalid float value: ''"),
    A(COMMAND_LINE, "negative-value-without-equals", "{search} --budget-seconds -inf", "written --flag=VALUE"),
    A(COMMAND_LINE, "unknown-flag", "{search} --bogus", "unrecognized arguments: --bogus"),
    A(COMMAND_LINE, "unknown-command", "frobnicate", "invalid choice: 'frobnicate'"),
    A(COMMAND_LINE, "no-command", "", "a command is needed"),
    A(COMMAND_LINE, "fidelity-bogus", "{search} --fidelity bogus", "invalid choice: 'bogus'"),
    A(COMMAND_LINE, "generate-without-output", "generate x.json", "the following arguments are required: -o/--output"),
    A(COMMAND_LINE, "train-without-epochs", "train {tmp}", "the following arguments are required: --epochs"),
    A(COMMAND_LINE, "export-without-run", "export", "the following arguments are required: RUN_DIR"),
    A(COMMAND_LINE, "export-without-output", "export {run}", "export needs -o/--output DIR", needs_run=True),
    A(COMMAND_LINE, "search-without-output", "search --budget-trials 1", "search needs -o/--output RUN_DIR"),
    A(COMMAND_LINE, "generate-two-inputs", "{generate} x.json --space nb201 --genotype x", "not both"),
    A(COMMAND_LINE, "generate-nothing", "{generate}", "generate needs ARCH.json, or --space SPACE --genotype TEXT"),
    A(COMMAND_LINE, "generate-space-alone", "{generate} --space nb201", "--space nb201 needs --genotype TEXT"),
    A(COMMAND_LINE, "plugins-unknown-flag", "plugins --bogus", "unrecognized arguments: --bogus"),
    A(COMMAND_LINE, "int-flag-50mb", "{search} --budget-trials {huge}", "invalid int value: 'xxxx"),
    A(COMMAND_LINE, "choice-50mb", "{search} --fidelity {huge}", "invalid choice: 'xxxx"),
    # -- hostile input files ----------------------------------------------------------------------
    *(A(FILE, f"architecture-{label}", "{generate} {tmp}/a.json", expect, prepare=write("a.json", data)) for label, data, expect in (
        ("not-utf8", b'\xff\xfe{"a"', "is not UTF-8 text"),
        ("empty", b"", "architecture JSON does not parse"),
        ("truncated", small_architecture()[:60], "architecture JSON does not parse"),
        ("a-list", "[1, 2]", "an architecture must be a JSON object, got list"),
        ("nan-shape", small_architecture().replace("[1, 8, 8]", "[NaN, 8, 8]"), "expected int, got float nan"),
        ("inf-classes", small_architecture().replace('"num_classes": 2', '"num_classes": 1e999'), "got float inf"),
        ("5000-digits", small_architecture().replace('"num_classes": 2', '"num_classes": ' + "9" * 5000), "4300 digits"),
        ("string-classes", small_architecture(num_classes="ten"), "expected int, got str 'ten'"),
        ("nodes-a-string", small_architecture(nodes="x"), "expected a list, got str"),
        ("nodes-of-ints", small_architecture(nodes=[1, 2]), "$.nodes[0]"),
        ("negative-shape", small_architecture(input_shape=[1, -8, 8]), "input_shape must be (C, H, W)"),
        ("huge-shape", small_architecture(input_shape=[1, 10**12, 10**12]), "each an integer from 1 to 16384"),
        ("blocks-a-dict", small_architecture(blocks={"a": 1}), "expected a list, got dict"),
        ("ir-version-99", small_architecture(ir_version=99), "IR version 99"),
        ("name-code", small_architecture(name="x; import os"), "is not a valid class name"),
    )),
    A(FILE, "architecture-a-directory", "{generate} {tmp}", "Is a directory"),
    A(FILE, "architecture-under-a-file", "{generate} {tmp}/a.json/b.json", "Not a directory", prepare=write("a.json", "{}")),
    A(FILE, "architecture-missing", "{generate} {tmp}/none.json", "No such file or directory"),
    A(FILE, "architecture-proc-mem", "{generate} /proc/self/mem", "cannot read '/proc/self/mem'"),
    A(FILE, "best-json-bit-flips", "{generate} {run}/best.json", "architecture JSON does not parse", needs_run=True, prepare=flip_bits("best.json", 31)),
    # -- bad genotypes ----------------------------------------------------------------------------
    A(GENOTYPE, "chain-cnn-no-sizes", "{generate} --space chain-cnn --genotype {}", "needs --input-shape and --num-classes"),
    A(GENOTYPE, "chain-cnn-empty-object", "{generate} --space chain-cnn {sizes} --genotype {}", 'a chain-cnn genotype is {"stages": [...]}'),
    A(GENOTYPE, "chain-cnn-not-json", "{generate} --space chain-cnn {sizes} --genotype nope", "'nope' is not a chain-cnn genotype"),
    *(A(GENOTYPE, f"chain-cnn-{label}", _genotype("--space-option num_stages=1", text), expect) for label, text, expect in (
        ("stages-a-string", '{"stages": "x"}', 'a chain-cnn genotype is {"stages": [...]}'),
        ("a-list", "[1, 2, 3]", 'a chain-cnn genotype is {"stages": [...]}'),
        ("a-number", "12", 'a chain-cnn genotype is {"stages": [...]}'),
        ("kernel-1e9", '{"stages": [' + STAGE.replace('"kernel": 3', '"kernel": 1000000000') + "]}", "'kernel' is 1000000000"),
        ("kernel-negative", '{"stages": [' + STAGE.replace('"kernel": 3', '"kernel": -3') + "]}", "'kernel' is -3"),
        ("width-0", '{"stages": [' + STAGE.replace('"width": 8', '"width": 0') + "]}", "'width' is 0"),
        ("depth-1e6", '{"stages": [' + STAGE.replace('"depth": 1', '"depth": 1000000') + "]}", "'depth' is 1000000"),
        ("stride-0", '{"stages": [' + STAGE.replace('"stride": 2', '"stride": 0') + "]}", "'stride' is 0"),
        ("op-bogus", '{"stages": [' + STAGE.replace('"conv"', '"bogus"') + "]}", "'op' is 'bogus'"),
        ("width-nan", '{"stages": [' + STAGE.replace('"width": 8', '"width": NaN') + "]}", "'width' is nan"),
        ("missing-keys", '{"stages": [{"op": "conv"}]}', "stage 1 is missing 'kernel'"),
        ("two-stages", '{"stages": [' + STAGE + ", " + STAGE + "]}", "genotype has 2 stages"),
    )),
    A(GENOTYPE, "nb201-5000-digits", "{generate} --space nb201 --genotype " + "1" * 5000, "4300 digits"),
    A(GENOTYPE, "nb201-junk", "{generate} --space nb201 --genotype junk", "'junk' is not a NAS-Bench-201 cell string"),
    A(GENOTYPE, "nb201-bad-op", "{generate} --space nb201 --genotype '|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|'", "unknown op 'bogus'"),
    A(GENOTYPE, "nb201-bad-input", "{generate} --space nb201 --genotype '|none~7|+|none~0|none~1|+|none~0|none~1|none~2|'", "node 1 has input 7"),
    A(GENOTYPE, "nb201-json", "{generate} --space nb201 --genotype '{\"a\": 1}'", "is not a NAS-Bench-201 cell string"),
    A(GENOTYPE, "darts-concat-range-step-0", "{generate} --space darts-cell --genotype \"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6, 0), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))\"", "range"),
    A(GENOTYPE, "darts-junk", "{generate} --space darts-cell --genotype junk", "darts-cell genotype text is not Genotype(...)"),
    A(GENOTYPE, "darts-deep-parentheses", "{generate} --space darts-cell --genotype " + "(" * 100_000 + ")" * 100_000, "does not parse"),
    A(GENOTYPE, "darts-short-normal", "{generate} --space darts-cell --genotype '{\"normal\": [[\"bogus\", 0]], \"normal_concat\": [2, 3, 4, 5], \"reduce\": [], \"reduce_concat\": [2, 3, 4, 5]}'", "needs 8 (op, input) pairs"),
    A(GENOTYPE, "darts-power", "{generate} --space darts-cell --genotype \"Genotype(normal=[('sep_conv_3x3', 9**9**9)])\"", "not a literal", limit_s=10),
    A(GENOTYPE, "darts-repeat-1e12", "{generate} --space darts-cell --genotype \"Genotype(normal=[('sep_conv_3x3', 0)] * 10**12)\"", "not a literal", limit_s=10),
    A(GENOTYPE, "darts-concat-range-1e12", "{generate} --space darts-cell --genotype \"Genotype(normal=[], normal_concat=range(10**12))\"", "normal_concat that is not a literal", limit_s=10),
    # -- bad or empty datasets ---------------------------------------------------------------------
    *(A(DATA, f"image-folder-{label}", "{search-on} --dataset image-folder --dataset-option root={tmp}/images", expect, prepare=prepare) for label, prepare, expect in (
        ("empty", lambda ws: (ws.tmp / "images").mkdir(), "has no class folders"),
        ("one-class", image_folder("images", classes=("a",)), "has only the class folder a/"),
        ("truncated-png", image_folder("images", files={"a/bad.png": png_header(8, 8)[:40]}), "Pillow does not recognise it as an image"),
        ("empty-png", image_folder("images", files={"b/empty.png": b""}), "Pillow does not recognise it as an image"),
        ("text-as-png", image_folder("images", files={"b/text.png": b"hello"}), "Pillow does not recognise it as an image"),
        ("root-a-file", write("images", "x"), "does not exist"),
        ("root-missing", None, "does not exist"),
    )),
    *(A(DATA, f"mnist-{label}", "{search-on} --dataset mnist --dataset-option root={tmp}/mnist", expect, prepare=prepare) for label, prepare, expect in (
        ("empty-training-set", mnist_files("mnist", empty_train=True), "the official training set holds no images"),
        ("truncated", together(mnist_files("mnist"), write("mnist/train-images-idx3-ubyte", idx_bytes((60, 8, 8), bytes(100)))), "is truncated"),
        ("header-huge", together(mnist_files("mnist"), write("mnist/train-images-idx3-ubyte", idx_bytes((2**31, 2**31, 2**31), bytes(100)))), "not an idx file as published"),
        ("not-gzip", together(mnist_files("mnist"), lambda ws: (ws.tmp / "mnist/t10k-labels-idx1-ubyte").unlink(), write("mnist/t10k-labels-idx1-ubyte.gz", b"not gzip")), "is not an idx labels file"),
        ("root-missing", None, "does not exist"),
    )),
    A(DATA, "image-folder-directory-named-png", "{search-on} --dataset image-folder --dataset-option root={tmp}/images", status=0, prepare=together(image_folder("images"), lambda ws: (ws.tmp / "images/a/dir.png").mkdir())),
    A(DATA, "cifar10-garbage", "{search-on} --dataset cifar10 --dataset-option root={tmp}/c", "has no data_batch_2", prepare=write("c/cifar-10-batches-py/data_batch_1", b"\x80\x04garbage")),
    A(DATA, "synthetic-val-fraction-0.99", "{search} --dataset-option val_fraction=0.99", "leaves too little training data"),
    A(DATA, "digits-limit", "{search-on} --dataset digits --dataset-option limit=1", "dataset 'digits' has no option(s) ['limit']"),
    # -- tables, sequences, spaces named by module:attribute (issue 19) -------------------------
    *(A(DATA, f"csv-{label}", "{search-on} --dataset csv --dataset-option path={tmp}/t.csv" + extra, expect, prepare=write("t.csv", data)) for label, data, extra, expect in (
        ("binary", bytes(range(256)) * 8, "", "is not UTF-8 text"),
        ("empty", b"", "", "is empty"),
        ("header-only", b"a,b\n", "", "has a header line but no rows"),
        ("ragged", b"a,b,c\n1,2,3\n1,2\n", "", "row 3 of"),
        ("duplicate-header", b"a,a,b\n1,2,3\n", "", "names the column 'a' twice"),
        ("field-over-limit", b"a,b\n" + b"x" * 200_000 + b",1\n", "", "field larger than field limit"),
        ("one-class", b"a,b\n1,2\n3,2\n", "", "holds only one class"),
        ("unknown-target", b"a,b\n1,0\n2,1\n", " --dataset-option target=price", "price"),
        ("target-missing", b"a,b\n1,\n2,1\n3,0\n", "", "missing"),
        ("unknown-categorical", b"a,b\n1,0\n2,1\n", " --dataset-option categorical=[\"zzz\"]", "zzz"),
    )),
    A(DATA, "csv-no-file", "{search-on} --dataset csv --dataset-option path={tmp}/t.csv", "does not exist"),
    A(DATA, "csv-a-directory", "{search-on} --dataset csv --dataset-option path={tmp}", "is a directory"),
    A(DATA, "csv-task-image", "{search-on} --dataset csv --dataset-option path={tmp}/t.csv --task image_classification", "image_classification", prepare=write("t.csv", b"a,b\n1,0\n2,1\n")),
    A(COMMAND_LINE, "task-unknown", "{search-on} --task translation", "invalid choice: 'translation'"),
    A(OPTION_VALUE, "space-module-missing", "{search-on} --space no_such_module_xyz:space", "cannot import 'no_such_module_xyz'"),
    A(OPTION_VALUE, "space-attribute-missing", "{search-on} --space json:no_such_space", "has no space factory 'no_such_space'"),
    A(OPTION_VALUE, "space-not-a-factory", "{search-on} --space os:getcwd", "calling it as a space factory"),
    A(OPTION_VALUE, "space-makes-no-space", "{search-on} --space builtins:slice", "not a search space"),
    A(OPTION_VALUE, "space-empty-module", "{search-on} --space :x", "write package.module:attribute"),
    A(OPTION_VALUE, "space-two-colons", "{search-on} --space json:a:b", "write package.module:attribute"),
    A(OPTION_VALUE, "regression-objective-on-images", "{search-on} --objective mse", "does not measure"),
    A(OPTION_VALUE, "mlp-max-depth-huge", "{search-on} --dataset waves --space mlp --space-option max_depth=100000", "max_depth"),
    A(OPTION_VALUE, "waves-length-huge", "{search-on} --dataset waves --dataset-option length=1000000000", "values, more than"),
    # -- unwritable output ---------------------------------------------------------------------
    A(OUTPUT, "generate-under-a-file", "generate {run}/best.json -o {run}/best.json/m.py", "A file is where a directory should be", needs_run=True),
    A(OUTPUT, "generate-to-a-directory", "generate {run}/best.json -o {run}", "Is a directory", needs_run=True),
    A(OUTPUT, "generate-to-proc", "generate {run}/best.json -o /proc/m.py", "'/proc/m.py'", needs_run=True),
    A(OUTPUT, "export-under-a-file", "export {run} -o {run}/best.json/e", "Not a directory", needs_run=True),
    A(OUTPUT, "export-to-proc", "export {run} -o /proc/e", "'/proc/e'", needs_run=True),
    A(OUTPUT, "front-to-a-directory", "export {run} --front {run}/weights", "Is a directory", needs_run=True),
    A(OUTPUT, "front-under-a-file", "export {run} --front {run}/best.json/front.csv", "A file is where a directory should be", needs_run=True),
    A(OUTPUT, "report-under-a-file", "report {run} -o {run}/best.json/rep", "Not a directory", needs_run=True),
    A(OUTPUT, "report-to-proc", "report {run} -o /proc/rep", "'/proc/rep'", needs_run=True),
    A(OUTPUT, "search-under-a-file", "{search} -o {tmp}/f/r", "Not a directory", prepare=write("f", "x")),
    A(OUTPUT, "search-to-a-file", "{search} -o {tmp}/f", "exists and is a file", prepare=write("f", "x")),
    A(OUTPUT, "search-to-proc", "{search} -o /proc/r", "'/proc/r'"),
    A(OUTPUT, "train-under-a-file", "train {run} --epochs 1 --quiet -o {run}/best.json/f", "Not a directory", needs_run=True),
    A(OUTPUT, "demo-under-a-file", "demo -o {tmp}/f/d", "Not a directory", prepare=write("f", "x")),
    A(OUTPUT, "export-disk-full", "export {run} --trial 0 -o {tmp}/e", "the weights could not be written", needs_run=True, process=True, file_size=100_000),
    A(OUTPUT, "search-disk-full", "{search}", "", process=True, file_size=20_000),
    A(OUTPUT, "resume-disk-full", "{resume}", "the weights could not be written", needs_run=True, process=True, file_size=40_000),
    A(OUTPUT, "report-disk-full", "report {run} -o {tmp}/rep", "File too large: ", needs_run=True, process=True, file_size=60_000),
    # -- damaged run directories ------------------------------------------------------------------
    A(RUN_DIR, "lock-a-directory", "{resume}", "Is a directory", needs_run=True, prepare=replace_with_dir(".lock")),
    A(RUN_DIR, "trials-jsonl-a-directory", "{resume}", "Is a directory", needs_run=True, prepare=replace_with_dir("trials.jsonl")),
    A(RUN_DIR, "best-json-a-directory", "{resume}", "Is a directory", needs_run=True, prepare=replace_with_dir("best.json")),
    A(RUN_DIR, "summary-json-a-directory", "{resume}", "Is a directory", needs_run=True, prepare=replace_with_dir("summary.json")),
    A(RUN_DIR, "weights-dir-a-file", "{resume}", "the weights directory is missing", needs_run=True, prepare=replace_with_file("weights")),
    A(RUN_DIR, "weights-a-directory", "export {run} --trial 0 -o {tmp}/e", "Is a directory", needs_run=True, prepare=replace_with_dir("weights/trial_0000.pt")),
    A(RUN_DIR, "weights-garbage", "export {run} --trial 0 -o {tmp}/e", "cannot read the weights", needs_run=True, prepare=replace_with_file("weights/trial_0000.pt", b"garbage")),
    A(RUN_DIR, "weights-bit-flips", "export {run} --trial 0 -o {tmp}/e", "cannot read the weights", needs_run=True, prepare=flip_bits("weights/trial_0000.pt", 13)),
    A(RUN_DIR, "weights-truncated", "export {run} --trial 0 -o {tmp}/e", "cannot read the weights", needs_run=True, prepare=truncate("weights/trial_0000.pt")),
    A(RUN_DIR, "weights-missing", "export {run} --trial 0 -o {tmp}/e", "No such file or directory", needs_run=True, prepare=lambda ws: (ws.run / "weights/trial_0000.pt").unlink()),
    A(RUN_DIR, "weights-of-another-trial", "export {run} --trial 0 -o {tmp}/e", "does not fit architecture", needs_run=True, prepare=lambda ws: shutil.copy(ws.run / "weights/trial_0001.pt", ws.run / "weights/trial_0000.pt")),
    A(RUN_DIR, "journal-missing", "report {run}", "is not a run directory (no journal.sqlite)", needs_run=True, prepare=lambda ws: (ws.run / "journal.sqlite").unlink()),
    A(RUN_DIR, "journal-a-directory", "report {run}", "is not a run directory (no journal.sqlite)", needs_run=True, prepare=replace_with_dir("journal.sqlite")),
    A(RUN_DIR, "journal-empty", "report {run}", "is corrupt", needs_run=True, prepare=replace_with_file("journal.sqlite")),
    A(RUN_DIR, "journal-text", "export {run} -o {tmp}/e", "is not a usable journal (file is not a database)", needs_run=True, prepare=replace_with_file("journal.sqlite", b"not a database\n" * 100)),
    A(RUN_DIR, "journal-truncated", "{resume}", "is not a usable journal", needs_run=True, prepare=truncate("journal.sqlite")),
    A(RUN_DIR, "journal-bit-flips-report", "report {run}", "is not a usable journal", needs_run=True, prepare=flip_bits("journal.sqlite", 61)),
    A(RUN_DIR, "journal-bit-flips-resume", "{resume}", "is not a usable journal", needs_run=True, prepare=flip_bits("journal.sqlite", 61)),
    A(RUN_DIR, "run-dir-a-file", "report {tmp}/f", "does not exist", prepare=write("f", "x")),
    A(RUN_DIR, "run-dir-proc", "export /proc -o {tmp}/e", "is not a run directory"),
    A(RUN_DIR, "run-in-use", "{resume}", "is in use by another automl-codegen process", needs_run=True, prepare=lambda ws: _hold_lock(ws.run)),
    A(RUN_DIR, "resume-not-a-run", "search --resume {tmp} --budget-trials 1", "is not a run directory"),
    # -- damaged journal rows (each by report, export and resume; a few by train) -----------------
    *_damaged_rows(),
    A(JOURNAL, "train-config-evaluator-options", "train {run} --epochs 1 -o {tmp}/f", "train evaluator has no option(s) ['bogus']", needs_run=True, prepare=config_with(evaluator_options={"bogus": 1})),
    A(JOURNAL, "train-config-dataset", "train {run} --epochs 1 -o {tmp}/f", "unknown dataset 'bogus'", needs_run=True, prepare=config_with(dataset="bogus")),
    A(JOURNAL, "train-metrics-null", "train {run} --epochs 1 -o {tmp}/f", "metrics must be a JSON object, got None", needs_run=True, prepare=sql("UPDATE trials SET metrics = 'null' WHERE number = 0")),
    A(JOURNAL, "resume-state-refused", "{resume}", "could not restore the state saved in the journal", needs_run=True, prepare=sql("UPDATE strategy_state SET state = '[]'")),
    # -- signals ----------------------------------------------------------------------------------
    # The second SIGINT may end the process once the cleanup is done: a shell shows 130 either way.
    A(SIGNAL, "double-ctrl-c", "{search} --budget-trials 50", "interrupted; continue with", status=(130, -signal.SIGINT), process=True, during=double_interrupt, absent="{tmp}/r/.lock", limit_s=60),
    A(SIGNAL, "sigterm", "{search} --budget-trials 50", "terminated (SIGTERM); continue with", status=143, process=True, during=terminate, absent="{tmp}/r/.lock", limit_s=60),
    # -- work refused only after it was done ------------------------------------------------------
    A(LATE, "search-export-emitter", "{search} --export bogus", "unknown emitter 'bogus'", absent="{tmp}/r"),
    A(LATE, "resume-export-emitter", "{resume} --export bogus", "unknown emitter 'bogus'", needs_run=True),
    A(LATE, "objective-unmeasured", "{search} --objective latency_ms", "needs the measurement 'latency_ms'", absent="{tmp}/r"),
    A(LATE, "ort-objective-unmeasured", "{search} --objective ort_latency_ms", "needs the measurement", absent="{tmp}/r"),
    A(LATE, "nb201-evaluator-on-chain-cnn", "{search} --evaluator nasbench201 --evaluator-option table={tmp}/nb201.csv", "use --space nb201", prepare=write("nb201.csv", NB201_TABLE)),
    A(LATE, "darts-on-chain-cnn", "{search} --strategy darts", "darts needs a space with a supernet description", absent="{tmp}/r"),
    A(LATE, "enas-on-chain-cnn", "{search} --strategy enas", "needs a cell space with a supernet", absent="{tmp}/r"),
    A(LATE, "train-emitter", "train {run} --epochs 1 --emitter bogus -o {tmp}/f", "unknown emitter 'bogus'", needs_run=True, absent="{tmp}/f"),
]
# fmt: on


def _hold_lock(run: Path) -> None:
    """Take the run's lock as another process would, for as long as this process lives."""
    import fcntl

    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, b"4242", 0)
    _HELD.append(fd)


_HELD: list[int] = []


def release_locks() -> None:
    while _HELD:
        os.close(_HELD.pop())


def by_name() -> dict[str, Attack]:
    return {attack.name: attack for attack in ATTACKS}
