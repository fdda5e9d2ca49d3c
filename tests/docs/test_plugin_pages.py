"""The plugin how-to pages (docs/plugins/*.md), each followed as a plugin author would.

Every page holds one example package: a ```toml block (its pyproject.toml) and ```python
blocks whose first line names the file (``# automl_codegen_greedy/__init__.py``). The
blocks are written out exactly as printed, the package is installed with pip into a
private site directory, and then, as the page says: ``automl-codegen plugins --json``
lists it with its distribution, the package's own tests (the conformance checks of
``automl_codegen.testing``) pass, and the page's ``$ automl-codegen ...`` commands run
in a subprocess that sees the site directory and do what the page says they do.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[2] / "docs" / "plugins"
KINDS = ["objective", "strategy", "emitter", "space", "profiler", "dataset", "evaluator", "executor", "lifecycle"]

_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_FILE_LINE = re.compile(r"# ((?:[\w.-]+/)*[\w.-]+\.(?:py|toml))")


def page_text(kind: str) -> str:
    return (PAGES / f"{kind}.md").read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block, in page order."""
    return _FENCE.findall(text)


def package_files(kind: str) -> dict[str, str]:
    """The example package of a page: path -> text, from the blocks whose first line names a file."""
    files: dict[str, str] = {}
    for language, body in fenced_blocks(page_text(kind)):
        match = _FILE_LINE.fullmatch(body.split("\n", 1)[0].strip())
        if language in ("toml", "python") and match:
            path = match.group(1)
            assert path not in files, f"{kind}.md prints {path} twice"
            files[path] = body
    return files


def other_python(kind: str) -> list[str]:
    """The page's python blocks that are not files of its package (usage examples), in order."""
    text = page_text(kind)
    found = []
    for match in _FENCE.finditer(text):
        language, body = match.groups()
        above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if language == "python" and not _FILE_LINE.fullmatch(body.split("\n", 1)[0].strip()):
            assert "not run" not in above, f"{kind}.md leaves a python block unrun"
            found.append(body)
    return found


def console_lines(kind: str) -> list[str]:
    """The ``$ `` command lines of the page's console blocks (continuations joined)."""
    lines = []
    for language, body in fenced_blocks(page_text(kind)):
        if language == "console":
            lines += [line[2:] for line in body.replace("\\\n", " ").splitlines() if line.startswith("$ ")]
    return lines


def split_command(line: str) -> tuple[dict[str, str], list[str]]:
    """``NAME=value ... command args`` as the environment it sets and the command's words."""
    words = shlex.split(line)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def page_command(kind: str, subcommand: str) -> tuple[dict[str, str], list[str]]:
    """The environment and arguments of the page's one ``automl-codegen SUBCOMMAND ...`` command."""
    found = [
        (env, words[1:])
        for env, words in map(split_command, console_lines(kind))
        if words[:2] == ["automl-codegen", subcommand]
    ]
    assert len(found) == 1, f"{kind}.md should show one `automl-codegen {subcommand}` command, not {len(found)}"
    return found[0]


@dataclass(frozen=True)
class Example:
    """A page's example package, written out and installed."""

    kind: str
    package: Path
    site: Path
    distribution: metadata.Distribution

    @property
    def plugins(self) -> dict[str, str]:
        """The distribution's entry points in the ``automl_codegen`` group: name -> module."""
        return {ep.name: ep.value for ep in self.distribution.entry_points if ep.group == "automl_codegen"}

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.site), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def cli(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``automl-codegen ARGS`` in ``cwd``, with the example installed."""
        return subprocess.run(
            [sys.executable, "-m", "automl_codegen.cli", *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
        )

    def python(self, code: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=600
        )


@pytest.fixture(scope="session")
def example(tmp_path_factory, pip_install_into):
    """``example(kind)``: the page's package written out as printed and pip-installed (once per session)."""
    built: dict[str, Example] = {}

    def build(kind: str) -> Example:
        if kind not in built:
            root = tmp_path_factory.mktemp(f"{kind}_page")
            package = root / "package"
            for relative, text in package_files(kind).items():
                path = package / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            site = root / "site"
            pip_install_into(site, package)
            (distribution,) = metadata.distributions(path=[str(site)])
            built[kind] = Example(kind, package, site, distribution)
        return built[kind]

    return build


_LISTINGS: dict[str, list[dict]] = {}


def listed(example: Example, tmp_path: Path) -> list[dict]:
    """``automl-codegen plugins --json`` with the example installed (run once per page)."""
    if example.kind not in _LISTINGS:
        out = example.cli("plugins", "--json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "broken" not in out.stderr, out.stderr
        _LISTINGS[example.kind] = json.loads(out.stdout)
    return _LISTINGS[example.kind]


def run_and_check(example: Example, subcommand: str, cwd: Path) -> subprocess.CompletedProcess:
    """The page's ``automl-codegen SUBCOMMAND ...`` command, run in ``cwd``; it must succeed."""
    env, args = page_command(example.kind, subcommand)
    out = example.cli(*args, cwd=cwd, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def trials_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


# -- every page ----------------------------------------------------------------------------

#: The shell commands a page may show besides `automl-codegen`: what the ``example`` fixture
#: and test_the_package_tests_pass do for them.
SETUP_COMMANDS = {"pip install -e .", "pytest tests"}

#: kind -> the `automl-codegen` subcommands (besides `plugins`) that the page's own test runs
RUN_HERE = {
    "objective": {"search"},
    "strategy": {"search"},
    "emitter": {"search", "export"},
    "space": {"search", "generate"},
    "profiler": {"search"},
    "dataset": {"search"},
    "evaluator": {"search"},
    "executor": {"search"},
    "lifecycle": {"search"},
}

#: kind -> (registered name, kind in `automl-codegen plugins`, the check its tests must call)
EXPECTED = {
    "objective": ("params_per_point", "objective", "check_objective"),
    "strategy": ("greedy", "strategy", "check_strategy"),
    "emitter": ("numpy", "emitter", "check_emitter"),
    "space": ("plain-cnn", "search_space", "check_space"),
    "profiler": ("flash", "profiler", None),  # no checker for profilers: the page's tests build a model
    "dataset": ("wine", "dataset", None),  # nor for datasets: the page's tests check the split
    "evaluator": ("probe", "evaluator", None),  # nor for evaluators: the page's tests call evaluate
    "executor": ("threads", "executor", None),  # nor for executors: the page's tests submit calls
    "lifecycle": ("patience", "hooks", None),  # nor for lifecycle hooks: the page's tests run searches
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_page_prints_a_whole_package(kind, example):
    files = package_files(kind)
    assert "pyproject.toml" in files, f"{kind}.md has no `# pyproject.toml` block"
    assert any(path.startswith("tests/") for path in files), f"{kind}.md shows no tests for its package"
    built = example(kind)
    assert built.distribution.requires == ["automl-codegen"]
    assert built.plugins, "no plugin under [project.entry-points.automl_codegen]"
    modules = {value.partition(":")[0] for value in built.plugins.values()}
    assert all((built.site / module.replace(".", "/")).is_dir() for module in modules), modules


@pytest.mark.parametrize("kind", KINDS)
def test_every_command_on_the_page_is_run_here(kind):
    for line in console_lines(kind):
        _, words = split_command(line)
        if words[0] == "automl-codegen":
            assert words[1] in {"plugins", *RUN_HERE[kind]}, f"{kind}.md: no test runs `{line}`"
        else:
            assert line in SETUP_COMMANDS, f"{kind}.md: no test runs `{line}`"


@pytest.mark.parametrize("kind", KINDS)
def test_the_plugins_command_on_the_page_lists_it(kind, example, tmp_path):
    built = example(kind)
    commands = [
        words[1:] for _, words in map(split_command, console_lines(kind)) if words[:2] == ["automl-codegen", "plugins"]
    ]
    assert commands, f"{kind}.md does not show `automl-codegen plugins`"
    for command in commands:
        out = built.cli(*command, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        rows = [line for line in out.stdout.splitlines() if line.split()[1:2] == [EXPECTED[kind][0]]]
        assert rows, out.stdout
        assert built.distribution.metadata["Name"] in rows[0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_package_is_listed_with_its_distribution(kind, example, tmp_path):
    built = example(kind)
    name, listed_kind, _ = EXPECTED[kind]
    rows = [r for r in listed(built, tmp_path) if r["name"] == name and r["kind"] == listed_kind]
    assert len(rows) == 1, f"`automl-codegen plugins` does not list the {listed_kind} {name!r}"
    dist = built.distribution.metadata
    assert (rows[0]["distribution"], rows[0]["version"]) == (dist["Name"], dist["Version"])
    assert rows[0]["plugin"] in built.plugins


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, marks=pytest.mark.slow) if k == "lifecycle" else k for k in KINDS],  # it runs searches
)
def test_the_package_tests_pass(kind, example):
    """The page's tests for its package (the conformance checks) pass against the installed package."""
    built = example(kind)
    _, _, check = EXPECTED[kind]
    tests = "".join(text for path, text in package_files(kind).items() if path.startswith("tests/"))
    if check:
        assert f"{check}(" in tests, f"{kind}.md's tests do not call {check}"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=built.package,
        env={**built.env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # this environment's plugins are not needed
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout, out.stdout[-2000:]
    assert "skipped" not in out.stdout, out.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("kind", [kind for kind in KINDS if other_python(kind)])
def test_the_python_examples_on_the_page_run(kind, example, tmp_path):
    """The page's python blocks that are not package files run, in order, in one process."""
    out = example(kind).python("\n".join(other_python(kind)), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]


# -- the index page ------------------------------------------------------------------------


def test_the_index_links_every_kind_page():
    text = page_text("index")
    for kind in KINDS:
        assert f"]({kind}.md)" in text, f"index.md does not link {kind}.md"
    assert not [k for k in ("index", *KINDS) if not (PAGES / f"{k}.md").is_file()]
    assert sorted(p.stem for p in PAGES.glob("*.md")) == sorted(["index", *KINDS])


def test_the_index_commands_run(tmp_path):
    commands = [split_command(line) for line in console_lines("index")]
    assert {" ".join(words) for _, words in commands if words[0] != "automl-codegen"} <= SETUP_COMMANDS
    listed_commands = [words for _, words in commands if words[0] == "automl-codegen"]
    assert {tuple(words[:2]) for words in listed_commands} == {("automl-codegen", "plugins")}
    for words in listed_commands:
        out = subprocess.run(
            [sys.executable, "-m", "automl_codegen.cli", *words[1:]], cwd=tmp_path, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        if "--json" in words:
            assert {"strategy", "search_space", "emitter", "hooks"} <= {row["kind"] for row in json.loads(out.stdout)}
        else:
            assert "evolution" in out.stdout


def test_the_index_python_examples_run(tmp_path):
    code = "\n".join(other_python("index"))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "strategy 'beam' has no option(s) ['widht']" in out.stdout
    assert "strategy 'beam': width must be an integer from 1 to 64, got 0" in out.stdout


# -- objective -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_objective_drives_a_search(example, tmp_path):
    run_and_check(example("objective"), "search", tmp_path)
    trials = trials_of(tmp_path / "runs" / "energy")
    assert trials
    for trial in trials:
        metrics = trial["metrics"]
        expected = metrics["params"] / max(metrics["accuracy"] * 100, 1e-9)
        assert trial["objectives"] == {"params_per_point": pytest.approx(expected)}
    best = json.loads((tmp_path / "runs" / "energy" / "summary.json").read_text())["best"]
    assert best["objectives"]["params_per_point"] == min(t["objectives"]["params_per_point"] for t in trials)


# -- strategy ------------------------------------------------------------------------------


def test_the_strategy_lists_its_option(example, tmp_path):
    row = next(r for r in listed(example("strategy"), tmp_path) if r["name"] == "greedy")
    assert [(o["name"], o["type"], o["default"]) for o in row["options"]] == [("step", "int", 1)]


@pytest.mark.slow
def test_every_greedy_proposal_moves_step_choices_of_the_best_so_far(example, tmp_path):
    from automl_codegen.plugins import get_registry

    _, command = page_command("strategy", "search")
    step = int(command[command.index("--strategy-option") + 1].removeprefix("step="))
    run_and_check(example("strategy"), "search", tmp_path)
    trials = trials_of(tmp_path / "runs" / "greedy")
    assert len(trials) == int(command[command.index("--budget-trials") + 1])
    shape, classes = trials[0]["architecture"]["input_shape"], trials[0]["architecture"]["num_classes"]
    space = get_registry().get("search_space", "chain-cnn")(shape, classes)
    best = None
    for trial in trials:
        if best is not None:
            before, after = space.encode(best["genotype"]), space.encode(trial["genotype"])
            moved = [a != b for a, b in zip(before, after, strict=True)]
            assert sum(moved) == step, (trial["number"], best["number"])
        accuracy = trial["objectives"].get("accuracy")
        if trial["status"] == "complete" and (best is None or accuracy > best["objectives"]["accuracy"]):
            best = trial
    assert best["number"] > 0, "it never moved from its random start"
    summary = json.loads((tmp_path / "runs" / "greedy" / "summary.json").read_text())
    assert summary["best"]["objectives"]["accuracy"] == best["objectives"]["accuracy"]


# -- emitter -------------------------------------------------------------------------------


def _write_table(path: Path) -> None:
    """300 rows of 4 features; the class is decided by two of them."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).round(4)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    lines = ["a,b,c,d,label", *(",".join([*map(str, row), f"class{label}"]) for row, label in zip(x, y, strict=True))]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_the_numpy_module_computes_what_the_trained_network_does(example, tmp_path):
    import importlib.util

    import numpy as np
    import torch

    from automl_codegen import Architecture
    from automl_codegen_plugins.torch_model import build_model

    built = example("emitter")
    _write_table(tmp_path / "table.csv")
    run_and_check(built, "search", tmp_path)
    run_and_check(built, "export", tmp_path)
    run = tmp_path / "runs" / "table"
    out = tmp_path / "out" / "numpy"
    assert sorted(p.name for p in out.iterdir()) == ["model_numpy.py", "weights.npz"]

    best = json.loads((run / "summary.json").read_text())["best"]
    trial = next(t for t in trials_of(run) if t["number"] == best["number"])
    source = (out / "model_numpy.py").read_text()
    assert f"Validation accuracy {trial['metrics']['accuracy']:.4f}." in source
    assert "import torch" not in source

    architecture = Architecture.from_json((run / "best.json").read_text())
    reference = build_model(architecture)
    reference.load_state_dict(torch.load(run / trial["weights"], weights_only=True))
    reference.eval()
    spec = importlib.util.spec_from_file_location("page_model_numpy", out / "model_numpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    got = module.build_model(str(out / "weights.npz"))(x)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert got.shape == (16, architecture.num_classes)
    np.testing.assert_allclose(got, expected, atol=1e-4)


# -- search space --------------------------------------------------------------------------


def _import_file(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_space_is_searched_and_its_genotypes_lowered(example, tmp_path):
    import torch

    built = example("space")
    run_and_check(built, "search", tmp_path)
    trials = trials_of(tmp_path / "runs" / "plain")
    assert len(trials) == 3
    for trial in trials:
        genotype, nodes = trial["genotype"], trial["architecture"]["nodes"]
        assert sorted(genotype) == ["depth", "kernel", "pool", "width"]
        convs = [n["attrs"] for n in nodes if n["op"] == "conv2d"]
        assert [c["out_channels"] for c in convs] == [genotype["width"] * 2**i for i in range(genotype["depth"])]
        assert {c["kernel_size"] for c in convs} == {genotype["kernel"]}
        assert {n["op"] for n in nodes} >= {f"{genotype['pool']}_pool2d", "global_avg_pool", "linear"}

    run_and_check(built, "generate", tmp_path)
    source = (tmp_path / "plain.py").read_text()
    assert source.count("F.avg_pool2d(") == 2
    model = _import_file(tmp_path / "plain.py", "page_plain_cnn").build_model()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(8, (5, 5)), (16, (5, 5))]
    assert tuple(model.eval()(torch.zeros(2, 1, 8, 8)).shape) == (2, 4)


# -- profiler ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_profiler_measures_every_trial_for_the_objective_and_the_constraint(example, tmp_path):
    from automl_codegen import Architecture

    run_and_check(example("profiler"), "search", tmp_path)
    trials = trials_of(tmp_path / "runs" / "flash")
    assert len(trials) == 3
    for trial in trials:
        flash_kb = Architecture.from_dict(trial["architecture"]).num_params / 1024  # 8 bits a weight
        assert trial["metrics"]["flash_kb"] == flash_kb
        assert "latency_ms" not in trial["metrics"]  # --profiler replaced torch-cpu
        assert trial["objectives"] == {"accuracy": trial["metrics"]["accuracy"], "flash_kb": flash_kb}
        assert (trial["constraint_violation"] == 0) == (flash_kb <= 16)


# -- dataset -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_search_on_the_dataset_fits_networks_to_it_and_learns(example, tmp_path):
    run_and_check(example("dataset"), "search", tmp_path)
    trials = trials_of(tmp_path / "runs" / "wine")
    assert len(trials) == 2
    for trial in trials:
        assert trial["status"] == "complete"
        assert (trial["architecture"]["input_shape"], trial["architecture"]["num_classes"]) == ([13], 3)
        assert {node["op"] for node in trial["architecture"]["nodes"]} <= {
            "linear",
            "batchnorm1d",
            "layer_norm",
            "relu",
            "gelu",
            "silu",
            "dropout",
            "add",
        }  # the mlp space: the dataset says it is a table
    best = json.loads((tmp_path / "runs" / "wine" / "summary.json").read_text())["best"]
    assert best["metrics"]["accuracy"] > 0.8  # three classes: chance is a third


# -- evaluator -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_probe_scores_trials_without_training_and_runs_the_profilers(example, tmp_path):
    from automl_codegen import Architecture

    run_and_check(example("evaluator"), "search", tmp_path)
    trials = trials_of(tmp_path / "runs" / "probe")
    assert len(trials) == 3
    for trial in trials:
        assert trial["status"] == "complete", trial["error"]
        metrics = trial["metrics"]
        assert 0 <= metrics["accuracy"] <= 1
        assert metrics["latency_ms"] > 0  # the default torch-cpu profiler ran on the probe's model
        assert metrics["params"] == Architecture.from_dict(trial["architecture"]).num_params
        assert not {"epochs", "train_loss", "test_accuracy"} & set(metrics)  # nothing was trained
        assert trial["weights"] is None
    best = json.loads((tmp_path / "runs" / "probe" / "summary.json").read_text())["best"]
    assert best["metrics"]["accuracy"] > 0.4  # four classes: chance is a quarter


# -- executor ------------------------------------------------------------------------------


@pytest.mark.slow
def test_trials_run_at_once_in_the_threads(example, tmp_path):
    run_and_check(example("executor"), "search", tmp_path)
    run = tmp_path / "runs" / "threads"
    trials = trials_of(run)
    assert [t["status"] for t in trials] == ["complete"] * 4
    elapsed = json.loads((run / "summary.json").read_text())["elapsed_s"]
    assert elapsed < sum(t["duration_s"] for t in trials)


# -- lifecycle -----------------------------------------------------------------------------


def test_the_lifecycle_plugin_is_listed_with_its_hooks(example, tmp_path):
    row = next(r for r in listed(example("lifecycle"), tmp_path) if r["name"] == "patience")
    assert set(row["hooks"]) == {"on_search_start", "on_new_best", "on_trial_end"}


@pytest.mark.slow
def test_the_search_stops_patience_trials_after_its_last_new_best(example, tmp_path):
    env, command = page_command("lifecycle", "search")
    patience, budget = int(env["AUTOML_CODEGEN_PATIENCE"]), int(command[command.index("--budget-trials") + 1])
    out = run_and_check(example("lifecycle"), "search", tmp_path)
    assert "a plugin asked the search to stop early" in out.stdout + out.stderr
    run = tmp_path / "runs" / "patience"
    best = json.loads((run / "summary.json").read_text())["best"]
    assert len(trials_of(run)) == best["number"] + 1 + patience < budget
