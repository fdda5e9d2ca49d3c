"""A search across a Ray cluster of two nodes on this machine, one of them killed mid-search.

The head and a second node are started with ``ray start`` as on real machines, each with
one CPU, so trials run on both. Once the second node has finished some trials and is
running another, all its processes are killed (a machine that fails): the search must
go on on the head and end with every planned trial recorded once.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("automl_codegen_ray")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds a node's processes through /proc"),
]

# Every process of a node (raylet, agents, workers) inherits this variable from its
# `ray start`: how the test tells the nodes' processes apart from other Rays on the
# machine, and the evaluator its node (see two_node_search.py).
NODE = "AUTOML_CODEGEN_RAY_TEST_NODE"
BUDGET = 10
DRIVER = Path(__file__).with_name("two_node_search.py")


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes(mark: str) -> list[int]:
    """The live processes of the node marked ``mark``: those whose environment carries
    ``NODE=mark``, and their descendants (Ray's agents and workers set their process
    titles, which overwrites what /proc shows of their environment)."""
    wanted = f"{NODE}={mark}".encode()
    parents: dict[int, int] = {}
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state, parent = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[:2]
                environment = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:  # gone, or not ours to read
                continue
            if state != "Z":
                parents[int(entry)] = int(parent)
                if wanted in environment:
                    found.add(int(entry))
    while children := {pid for pid, parent in parents.items() if parent in found} - found:
        found |= children
    return sorted(found)


def _kill(mark: str) -> list[int]:
    pids = _processes(mark)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
            os.kill(pid, signal.SIGKILL)
    return pids


class Cluster:
    """A head and a worker node on this machine, in a temporary directory of their own."""

    def __init__(self) -> None:
        # Short: Ray's socket paths under it must fit in 107 bytes.
        self.temp = Path(tempfile.mkdtemp(prefix="acr-", dir="/tmp"))
        self.ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
        self.address = ""
        # A token of the cluster's own, for its nodes and the search: else whether a node
        # asks for one depends on ~/.ray/auth_token and each process's RAY_AUTH_MODE.
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}

    def mark(self, node: str) -> str:
        return f"{self.temp}:{node}"

    def start(self) -> None:
        head = ["--head", "--port", _free_port(), "--include-dashboard", "false", "--dashboard-port", _free_port()]
        self._start("head", *head, "--ray-client-server-port", _free_port())
        self.address = (self.temp / "ray_current_cluster").read_text().strip()
        self._start("worker", "--address", self.address)

    def _start(self, node: str, *options: object) -> None:
        # Ports of our own, not the defaults: two nodes share this machine, maybe with other Rays.
        for option in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--runtime-env-agent-port"):
            options += (option, _free_port())
        command = [self.ray, "start", *map(str, options), "--num-cpus", "1", "--temp-dir", str(self.temp)]
        command += ["--object-store-memory", str(100 * 2**20), "--metrics-export-port", str(_free_port())]
        command += ["--disable-usage-stats"]
        environment = {
            **os.environ,
            **self.auth,
            NODE: self.mark(node),
            # The head takes a dead node off its list after 3 missed checks 0.5 s apart
            # (default: 5 of 3 s), so that it schedules no trial there meanwhile.
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_failure_threshold": "3",
        }
        out = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr

    def stop(self) -> None:
        for node in ("worker", "head"):
            _kill(self.mark(node))
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture
def cluster():
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_a_search_goes_on_when_a_node_dies_and_loses_no_trial(cluster, tmp_path):
    log = tmp_path / "attempts.jsonl"
    killed: dict = {}

    def kill_the_worker_node_mid_trial() -> None:
        # After two trials on the worker node, early in a third (so that it cannot finish first).
        while not killed and not done.is_set():
            on_worker = [e for e in _events(log) if e["node"] == "worker"]
            ended = {e["trial"] for e in on_worker if e["event"] == "end"}
            running = [e["trial"] for e in on_worker if e["trial"] not in ended and time.time() - e["time"] < 0.5]
            if len(ended) >= 2 and running:
                killed.update(trials=running, at=time.time(), pids=_kill(cluster.mark("worker")))
            time.sleep(0.05)

    done = threading.Event()
    killer = threading.Thread(target=kill_the_worker_node_mid_trial, daemon=True)
    killer.start()
    started = time.time()
    try:
        driver = subprocess.run(
            [sys.executable, DRIVER, cluster.address, tmp_path / "run", log, str(BUDGET)],
            env={**os.environ, **cluster.auth},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        done.set()
    wall = time.time() - started
    assert driver.returncode == 0, driver.stderr[-3000:]
    trials = json.loads(driver.stdout.splitlines()[-1])

    events = _events(log)
    assert killed, f"the worker node ran no third trial to be killed in: {events} {trials}"
    assert killed["pids"]
    assert not _processes(cluster.mark("worker"))
    # Every planned trial recorded once, none failed.
    assert trials == [[n, None] for n in range(BUDGET)]
    with sqlite3.connect(tmp_path / "run" / "journal.sqlite") as db:
        rows = db.execute("SELECT number, status FROM trials ORDER BY number").fetchall()
    assert rows == [(n, "complete") for n in range(BUDGET)]
    # The trials lost with the node ran again, and finished, on the head.
    ends = [e for e in events if e["event"] == "end"]
    for trial in killed["trials"]:
        assert [e["node"] for e in ends if e["trial"] == trial and e["time"] > killed["at"]] == ["head"]
    per_node = Counter(e["node"] for e in ends)
    assert per_node["worker"] >= 2
    assert per_node["head"] >= 2
    ids = {e["node"]: e["id"][:8] for e in events}
    print(
        f"\n{BUDGET} trials planned, {len(rows)} recorded, in {wall:.1f} s; trials finished per node: "
        f"head ({ids['head']}) {per_node['head']}, worker ({ids['worker']}) {per_node['worker']}; "
        f"worker node killed {killed['at'] - started:.1f} s in ({len(killed['pids'])} processes) "
        f"while running trial(s) {killed['trials']}, which ran again on the head"
    )
