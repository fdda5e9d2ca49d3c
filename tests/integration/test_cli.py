"""The automl-codegen command end to end, in subprocesses like a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from automl_codegen_plugins.datasets.synthetic import load_synthetic

SYNTHETIC = ["--dataset", "synthetic", "--dataset-option", "num_samples=300", "--dataset-option", "num_classes=3"]


def cli(*args, check=False, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-m", "automl_codegen.cli", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_help_is_fast_and_imports_no_framework_nor_numpy():
    code = "import sys, time; t=time.perf_counter(); from automl_codegen.cli import build_parser; build_parser(); print('torch' in sys.modules, 'tensorflow' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
    started = time.perf_counter()
    help_out = cli("--help", check=True)
    elapsed = time.perf_counter() - started
    assert "search" in help_out.stdout
    assert "export" in help_out.stdout
    # Generous: the point is that no framework import sits on the path, not a timing race.
    assert elapsed < 5, elapsed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["search", "--strategy", "bayesian", "-o", "{tmp}/r"],
            "automl-codegen: error: unknown strategy 'bayesian'; installed: ",
        ),
        (
            ["search", "--dataset", "imagenet", "-o", "{tmp}/r"],
            "automl-codegen: error: unknown dataset 'imagenet'; installed: ",
        ),
        (
            ["search", "--constraint", "latency_ms = 2", "-o", "{tmp}/r"],
            "automl-codegen: error: cannot parse constraint 'latency_ms = 2'",
        ),
        (
            ["search", "--budget-trials", "0", "-o", "{tmp}/r"],
            "automl-codegen: error: budget['trials'] must be a positive int, got 0",
        ),
        (["search", "--objective", "speed", "-o", "{tmp}/r"], "automl-codegen: error: unknown objective 'speed'"),
        (
            ["export", "{tmp}/nowhere", "-o", "{tmp}/out"],
            "automl-codegen: error: run directory '{tmp}/nowhere' does not exist",
        ),
        (
            ["generate", "{tmp}/missing.json", "-o", "{tmp}/m.py"],
            "automl-codegen: error: cannot read '{tmp}/missing.json'",
        ),
        (
            ["search", "--dataset-option", "oops", "-o", "{tmp}/r"],
            "automl-codegen: error: --dataset-option expects KEY=VALUE, got 'oops'",
        ),
        (
            ["search", "--resume", "{tmp}/r", "--budget-trials", "4"],
            "automl-codegen: error: run directory '{tmp}/r' does not exist",
        ),
        (
            ["search", "--device", "gpu", "-o", "{tmp}/r"],
            "automl-codegen: error: device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, args, message):
    out = cli(*[a.format(tmp=tmp_path) for a in args])
    assert out.returncode == 2, out
    assert out.stderr.startswith(message.format(tmp=tmp_path)), out.stderr
    assert "Traceback" not in out.stderr


def test_search_refuses_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    out = cli("search", *SYNTHETIC, "--budget-trials", "1", "-o", tmp_path / "docs")
    assert out.returncode == 2
    assert "exists and is not empty" in out.stderr
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"


def test_generate_rejects_a_hostile_architecture(tmp_path):
    arch = {
        "input_shape": [1, 8, 8],
        "num_classes": 2,
        "nodes": [
            {"name": "x_ = __import__('os').system('echo pwned')", "op": "relu", "inputs": ["input_"], "attrs": {}}
        ],
        "output": "x",
    }
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(arch))
    out = cli("generate", path, "-o", tmp_path / "model.py")
    assert out.returncode == 2
    assert "is not a valid name" in out.stderr
    assert not (tmp_path / "model.py").exists()


def test_plugins_lists_every_builtin_with_its_distribution():
    rows = json.loads(cli("plugins", "--json", check=True).stdout)
    kinds = {(r["kind"], r["name"]) for r in rows}
    assert {
        ("strategy", "evolution"),
        ("search_space", "chain-cnn"),
        ("emitter", "pytorch"),
        ("dataset", "digits"),
    } <= kinds
    assert {r["distribution"] for r in rows if r["module"].startswith("automl_codegen_plugins.")} == {"automl-codegen"}
    assert set(rows[0]) == {"name", "kind", "plugin", "module", "distribution", "version", "description", "options"}


@pytest.mark.slow
def test_search_export_generate_and_run_without_the_project(tmp_path, bare_python):
    run = tmp_path / "run"
    args = [
        "search",
        "--strategy",
        "evolution",
        "--objective",
        "accuracy",
        "--objective",
        "latency_ms",
        "--budget-trials",
        "4",
        "--epochs",
        "3",
        "--strategy-option",
        "population_size=2",
        "--strategy-option",
        "sample_size=2",
        "--seed",
        "1",
        "--quiet",
    ]
    out = cli(*args, *SYNTHETIC, "-o", run)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""  # --quiet
    cli("export", run, "--emitter", "pytorch", "-o", tmp_path / "export", check=True)
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    best = max(trials, key=lambda t: t["metrics"]["accuracy"])

    # The test split the search used, handed to a user who has torch but not this project.
    data = load_synthetic(seed=1, num_samples=300, num_classes=3)
    np.save(tmp_path / "x_test.npy", data.x_test)
    np.save(tmp_path / "y_test.npy", data.y_test)
    script = textwrap.dedent(
        """
        import numpy as np, torch
        from model import build_model
        model = build_model("model.pt")
        x = torch.from_numpy(np.load("../x_test.npy"))
        y = torch.from_numpy(np.load("../y_test.npy"))
        with torch.no_grad():
            print((model(x).argmax(1) == y).float().mean().item())
        """
    )
    result = subprocess.run([str(bare_python), "-c", script], cwd=tmp_path / "export", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # The same predictions on every test image (float32 mean vs exact fraction).
    assert float(result.stdout) == pytest.approx(best["metrics"]["test_accuracy"], abs=1e-6)

    generated = cli(
        "generate", run / "best.json", "--emitter", "pytorch", "-o", tmp_path / "gen" / "model.py", check=True
    )
    assert generated.stdout.strip().endswith("model.py")
    source = (tmp_path / "gen" / "model.py").read_text()
    assert "import torch" in source
    assert "automl_codegen" not in source


def test_generate_from_a_space_genotype(tmp_path):
    out = cli("generate", "--space", "darts-cell", "--genotype", "DARTS_V2", "-o", tmp_path / "darts_v2.py", check=True)
    source = (tmp_path / "darts_v2.py").read_text()
    assert "which has 3,349,342 parameters" in source
    assert source.count("\nclass ") < 12  # one class per block kind, not one per cell
    assert out.stdout.strip().endswith("darts_v2.py")
    small = cli(
        "generate", "--space", "nb201", "--space-option", "channels=8", "--space-option", "cells_per_stage=1",
        "--genotype", "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|",
        "-o", "-",
    )  # fmt: skip
    assert small.returncode == 0, small.stderr
    assert "class Cell(nn.Module)" in small.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", "nb201"], "--space nb201 needs --genotype TEXT (the genotype in the space's notation)"),
        (
            ["--space", "nb201", "--genotype", "junk"],
            "'junk' is not a NAS-Bench-201 cell string: it has 1 node(s) separated by '+', not 3.",
        ),
        ([], "generate needs ARCH.json, or --space SPACE --genotype TEXT"),
    ],
)
def test_generate_from_a_space_errors(tmp_path, args, message):
    out = cli("generate", *args, "-o", tmp_path / "m.py")
    assert out.returncode == 2
    assert out.stderr.startswith(f"automl-codegen: error: {message}"), out.stderr


def test_a_misspelt_export_emitter_is_refused_before_searching(tmp_path):
    out = cli("search", *SYNTHETIC, "--budget-trials", "1", "--emitter", "bogus", "-o", tmp_path / "r")
    assert out.returncode == 2
    assert out.stderr.startswith("automl-codegen: error: unknown emitter 'bogus'"), out.stderr
    assert not (tmp_path / "r").exists()  # nothing was searched


def test_when_no_trial_meets_the_constraints_the_summary_and_the_export_say_so(tmp_path):
    args = ["search", *SYNTHETIC, "--budget-trials", "1", "--epochs", "1", "--profiler", "none"]
    out = cli(*args, "--constraint", "epochs > 5", "--emitter", "pytorch", "-o", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    assert "no trial met the constraints (epochs > 5)" in out.stdout
    assert "warning: exporting trial 0, which violates the constraints" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/latin1.json"], "'{tmp}/latin1.json' is not UTF-8 text; an architecture file is JSON"),
        (["--space", "chain-cnn", "--genotype", "{{}}"], "--space chain-cnn needs --input-shape and --num-classes"),
        (
            ["--space", "chain-cnn", "--input-shape", "1,8,8", "--num-classes", "10", "--genotype", "nope"],
            "--genotype 'nope' is not a chain-cnn genotype: Expecting value",
        ),
        (["--space", "nb201", "--genotype", "1" * 5000], "--genotype '111"),
        (["--space", "chain-cnn", "--input-shape", "1,x,8", "--genotype", "{{}}"], "--input-shape takes C,H,W"),
    ],
)
def test_generate_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "latin1.json").write_bytes(b'\xff\xfe{"a"')
    out = cli("generate", *[a.format(tmp=tmp_path) for a in args], "-o", tmp_path / "m.py")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("automl-codegen: error: " + message.format(tmp=tmp_path)), out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr) < 400  # a 5,000-digit genotype is not echoed whole


def test_generate_lowers_a_chain_cnn_genotype_given_the_sizes(tmp_path):
    genotype = (
        '{"stages": [{"op": "conv", "kernel": 3, "width": 8, "depth": 1, "stride": 2, "skip": false, "expand": 2}]}'
    )
    out = cli(
        "generate", "--space", "chain-cnn", "--space-option", "num_stages=1", "--input-shape", "1,28,28",
        "--num-classes", "10", "--genotype", genotype, "-o", tmp_path / "m.py",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "class ChainCNN" in (tmp_path / "m.py").read_text()


def test_a_damaged_run_directory_gets_one_line_not_a_traceback(tmp_path):
    import sqlite3

    run = tmp_path / "r"
    cli(
        "search",
        *SYNTHETIC,
        "--budget-trials",
        "1",
        "--epochs",
        "1",
        "--profiler",
        "none",
        "--quiet",
        "-o",
        run,
        check=True,
    )
    damages = {
        "trials.jsonl": "automl-codegen: error: Is a directory: ",
        ".lock": f"automl-codegen: error: Is a directory: '{run}/.lock'",
    }
    for name, message in damages.items():
        (run / name).unlink(missing_ok=True)
        (run / name).mkdir()
        out = cli("search", "--resume", run, "--budget-trials", "1", "--quiet")
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith(message), out.stderr
        assert "Traceback" not in out.stderr
        (run / name).rmdir()
    with sqlite3.connect(run / "journal.sqlite") as db:
        config = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps({**config, "training": 5}),))
    out = cli("search", "--resume", run, "--budget-trials", "1", "--quiet")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(
        f"automl-codegen: error: run '{run}' cannot be resumed: the recorded configuration is damaged (TypeError: "
    ), out.stderr


@pytest.fixture
def read_only_run(tmp_path, make_immutable):
    """A finished run made unwritable even for root, as a read-only archive."""
    run = tmp_path / "archived"
    cli("search", *SYNTHETIC, "--budget-trials", "1", "--epochs", "1", "--profiler", "none", "-o", run, check=True)
    make_immutable(run)
    return run


def test_a_read_only_run_can_be_reported_and_exported(read_only_run, tmp_path):
    with pytest.raises(PermissionError, match="Operation not permitted"):
        (read_only_run / "probe").write_text("")
    out = cli("report", read_only_run, "--no-html", "-o", tmp_path / "report")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report" / "report.png").is_file()
    out = cli("export", read_only_run, "-o", tmp_path / "code")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "code" / "model.py").is_file()
    # The report's default place is inside the run: the error says where else to write it.
    out = cli("report", read_only_run)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "automl-codegen: error: cannot write the report into the run directory (Operation not permitted); "
        "write it elsewhere with -o OUT_DIR"
    )


@pytest.mark.parametrize("command", ["search", "export", "train", "generate", "report", "plugins", "demo"])
def test_every_subcommand_help_describes_it_and_shows_examples(command):
    out = cli(command, "--help", check=True).stdout
    usage, description = out.split("\n\n", 2)[:2]
    assert usage.startswith(f"usage: automl-codegen {command}")
    assert len(description.split()) >= 12  # a sentence or two, not just the usage line
    examples = out.split("examples:\n", 1)[1].splitlines()
    assert examples
    assert all(line.startswith(f"  automl-codegen {command}") for line in examples)
    assert "--export" not in out  # one flag name for an emitter: --emitter
    for positional in ("RUN_DIR ", "ARCH.json "):
        if f"  {positional}" in out:
            assert out.split(f"  {positional}", 1)[1].splitlines()[0].strip()  # it has help text


def test_search_still_takes_the_first_releases_export_flag(tmp_path):
    out = cli("search", *SYNTHETIC, "--budget-trials", "1", "--export", "bogus", "-o", tmp_path / "r")
    assert out.returncode == 2
    assert out.stderr.startswith("automl-codegen: error: unknown emitter 'bogus'"), out.stderr
