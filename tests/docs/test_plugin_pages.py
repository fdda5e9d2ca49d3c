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
KINDS = ["objective"]

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


def page_commands(kind: str) -> list[list[str]]:
    """The ``$ automl-codegen ...`` command lines of a page's console blocks, as arguments."""
    commands = []
    for language, body in fenced_blocks(page_text(kind)):
        if language != "console":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if line.startswith("$ automl-codegen "):
                commands.append(shlex.split(line[2:])[1:])
    return commands


def page_command(kind: str, subcommand: str) -> list[str]:
    """The page's first ``automl-codegen SUBCOMMAND ...`` command."""
    found = [c for c in page_commands(kind) if c[0] == subcommand]
    assert found, f"{kind}.md shows no `automl-codegen {subcommand}` command"
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


def listed(example: Example, tmp_path: Path) -> list[dict]:
    out = example.cli("plugins", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "broken" not in out.stderr, out.stderr
    return json.loads(out.stdout)


def run_and_check(example: Example, subcommand: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """The page's ``automl-codegen SUBCOMMAND ...`` command, run in ``cwd``; it must succeed."""
    out = example.cli(*page_command(example.kind, subcommand), cwd=cwd, **kwargs)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def trials_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


# -- every page ----------------------------------------------------------------------------

#: kind -> (registered name, kind in `automl-codegen plugins`, the check its tests must call)
EXPECTED = {
    "objective": ("params_per_point", "objective", "check_objective"),
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
def test_the_package_is_listed_with_its_distribution(kind, example, tmp_path):
    built = example(kind)
    name, listed_kind, _ = EXPECTED[kind]
    rows = [r for r in listed(built, tmp_path) if r["name"] == name and r["kind"] == listed_kind]
    assert len(rows) == 1, f"`automl-codegen plugins` does not list the {listed_kind} {name!r}"
    dist = built.distribution.metadata
    assert (rows[0]["distribution"], rows[0]["version"]) == (dist["Name"], dist["Version"])
    assert rows[0]["plugin"] in built.plugins


@pytest.mark.parametrize("kind", KINDS)
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
        env=built.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout, out.stdout[-2000:]
    assert "skipped" not in out.stdout, out.stdout[-2000:]


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
