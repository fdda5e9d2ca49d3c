"""Every code block of the documentation (docs/**/*.md and README.md) runs here.

How a page runs: its blocks go, in the order they are printed, to ``page_runner.py`` in
a fresh Python process whose working directory is an empty temporary directory
(``TF_CPP_MIN_LOG_LEVEL=2``; the venv's ``automl-codegen`` first on ``PATH``):

- ```` ```python ```` blocks run in one namespace, so a page's blocks build on each other
  as a reader runs them one after another;
- ```` ```bash ```` blocks run with ``bash`` (``set -euo pipefail``), ```` ```console ````
  blocks run their ``$ `` lines (the other lines are output);
- ```` ```toml ```` and ```` ```json ```` blocks are parsed; ```` ```text ```` and
  ```` ```csv ```` blocks are not code.

An HTML comment on the line directly above a fence changes that:

- ``<!-- not run: REASON -->``: the block is not run; REASON must be one of
  ``NOT_RUN`` below, the short list of what this machine cannot do;
- ``<!-- run: script -->``: a python block runs as a script in a process of its own
  (what ``if __name__ == "__main__":`` code needs), not in the page's namespace;
- ``<!-- file: PATH -->``: the block is written to PATH in the temporary directory,
  for the blocks after it (a CSV table, a module, a package's pyproject.toml);
- ``<!-- tested in: tests/...py -->``: a test of its own runs this block with
  assertions of its own (that file must name the page).

The test asserts that every other block ran. Pages whose searches take more than a few
seconds are in ``SLOW`` (marked ``slow``; CI runs them too). The plugin-authoring pages,
docs/plugins/, are run by tests/docs/test_plugin_pages.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNER = Path(__file__).with_name("page_runner.py")

#: A python block that quotes part of a generated file: test_excerpts_are_what_the_code_writes
#: runs the bash block before it on its page, which writes that file (``-o FILE``), and
#: checks that the excerpt's lines are in it, in order (``...`` lines stand for any).
EXCERPT = "an excerpt of a larger file"

#: Why a block may be left unrun; anything else must run.
NOT_RUN = {
    "creates a virtual environment and installs the project",
    "installs from the package index",
    "needs a CUDA device",
    "needs a Ray cluster",
    "needs dataset files that are not in this repository",
    EXCERPT,
    "a benchmark: its figures need a quiet machine",
}

#: Pages that take more than about 20 s on 2 cores.
SLOW = {
    "docs/how-to/deployment.md",
    "docs/how-to/final-training.md",
    "docs/how-to/hardware-aware.md",
    "docs/how-to/one-shot.md",
    "docs/how-to/parallel.md",
    "docs/how-to/report.md",
    "docs/how-to/resume.md",
    "docs/how-to/search-spaces.md",
    "docs/how-to/strategies.md",
    "docs/how-to/time-budget.md",
    "docs/how-to/your-data.md",
    "docs/how-to/objectives.md",
}

RUNS = {"python", "bash", "console"}
PARSED = {"toml", "json"}
NOT_CODE = {"text", "csv"}
ELSEWHERE = ("docs/plugins/",)

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\S*)")
_MARKER = re.compile(r"^<!--\s*(not run|run|file|tested in):\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marker: tuple[str, str] | None
    indent: str


def pages() -> list[str]:
    found = sorted(str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md"))
    return [*(p for p in found if not p.startswith(ELSEWHERE)), "README.md"]


def blocks(page: str) -> list[Block]:
    lines = (ROOT / page).read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, lang = fence.groups()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks), None)
        assert end is not None, f"{page}:{i + 1}: a code fence that is never closed"
        marker = _MARKER.match(lines[i - 1].strip()) if i else None
        code = "\n".join(line[len(indent) :] for line in lines[i + 1 : end]) + "\n"
        found.append(Block(page, i + 1, lang, code, marker.groups() if marker else None, indent))
        i = end + 1
    return found


def _console_commands(code: str) -> str:
    commands, continued = [], False
    for line in code.splitlines():
        if line.startswith("$ ") or continued:
            commands.append(line[2:] if line.startswith("$ ") else line)
            continued = line.endswith("\\")
    return "\n".join(commands) + "\n"


def steps(page: str) -> list[dict]:
    """What ``page_runner.py`` runs for ``page``, in order."""
    out = []
    for block in blocks(page):
        kind, value = block.marker or (None, None)
        base = {"page": page, "line": block.line, "code": block.code}
        if kind in ("not run", "tested in"):
            continue
        if kind == "file":
            out.append({**base, "kind": "file", "path": value})
        elif block.lang == "python":
            out.append({**base, "kind": "script" if kind == "run" else "python"})
        elif block.lang == "bash":
            out.append({**base, "kind": "shell"})
        elif block.lang == "console":
            out.append({**base, "kind": "shell", "code": _console_commands(block.code)})
    return out


def _all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def test_the_docs_have_pages_and_code():
    assert (DOCS / "index.md").is_file()
    assert sum(1 for block in _all_blocks() if block.lang in RUNS) >= 30


def test_every_block_says_what_it_is_and_every_exception_is_allowed():
    problems = []
    for block in _all_blocks():
        where = f"{block.page}:{block.line}"
        if block.indent:
            problems.append(f"{where}: an indented fence (the test would run it, a reader may miss it)")
        if block.lang not in RUNS | PARSED | NOT_CODE:
            problems.append(f"{where}: fence language {block.lang!r}; use one of {sorted(RUNS | PARSED | NOT_CODE)}")
        kind, value = block.marker or (None, None)
        if kind == "not run" and value not in NOT_RUN:
            problems.append(f"{where}: 'not run: {value}' is not an allowed reason ({sorted(NOT_RUN)})")
        if kind == "run" and (value != "script" or block.lang != "python"):
            problems.append(f"{where}: 'run: {value}' on a {block.lang} block; only 'run: script' on python")
        if kind == "file" and (not value or value.startswith("/") or ".." in Path(value).parts):
            problems.append(f"{where}: 'file: {value}' must be a relative path inside the temporary directory")
        if kind == "tested in":
            test = ROOT / value
            if not test.is_file() or block.page not in test.read_text():
                problems.append(f"{where}: 'tested in: {value}' is not a test file that reads {block.page}")
    assert not problems, "\n".join(problems)


def test_data_blocks_parse():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")
    for block in _all_blocks():
        if block.lang == "toml":
            tomllib.loads(block.code)
        elif block.lang == "json":
            json.loads(block.code)


def _runnable_pages() -> list:
    params = []
    for page in pages():
        if steps(page):
            params.append(pytest.param(page, id=page, marks=[pytest.mark.slow] if page in SLOW else []))
    return params


@pytest.mark.parametrize("page", _runnable_pages())
def test_page_runs(page, tmp_path):
    todo = steps(page)
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "steps.json").write_text(json.dumps(todo))
    done = tmp_path / "done.txt"
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "Agg",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    out = subprocess.run(
        [sys.executable, str(RUNNER), str(tmp_path / "steps.json"), str(done)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    ran = [int(line) for line in done.read_text().split()] if done.exists() else []
    assert out.returncode == 0, f"{page}: a block failed\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}"
    assert ran == [step["line"] for step in todo]


def _excerpts() -> list[tuple[Block, Block | None]]:
    found = []
    for page in pages():
        command = None
        for block in blocks(page):
            if block.marker == ("not run", EXCERPT):
                found.append((block, command))
            elif block.lang == "bash" and block.marker is None:
                command = block
    return found


@pytest.mark.parametrize(("excerpt", "command"), _excerpts(), ids=lambda b: f"{b.page}:{b.line}" if b else "")
def test_excerpts_are_what_the_code_writes(excerpt, command, tmp_path):
    where = f"{excerpt.page}:{excerpt.line}"
    assert command is not None, f"{where}: an excerpt needs a bash block before it that writes the file it quotes"
    written = re.search(r"-o (\S+)", command.code)
    assert written, f"{command.page}:{command.line}: writes no file with -o"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["bash", "-c", "set -euo pipefail\n" + command.code], cwd=tmp_path, env=env, check=True)
    lines = iter((tmp_path / written.group(1)).read_text().splitlines())
    for wanted in excerpt.code.splitlines():
        if wanted.strip() in ("", "..."):
            continue
        assert any(line == wanted for line in lines), f"{where}: {wanted!r} is not (or not in this order) in the file"


def test_mkdocs_build_strict(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-6000:]
    assert (tmp_path / "site" / "reference" / "hooks" / "index.html").is_file()
