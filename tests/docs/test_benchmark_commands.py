"""The commands of docs/benchmarks.md still fit the scripts they name.

The benchmarks take minutes to hours and need a quiet machine, so the documentation's
tests do not run them (test_snippets.py marks them); this test keeps their commands from
rotting: every script exists, and every option printed is one the script (or, for an
``automl-codegen`` command, the command's ``--help``) declares.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "benchmarks.md"


def commands() -> list[list[str]]:
    """Every command of the page's bash blocks, continuation lines joined, as words; each
    block starts with ``["cd", "."]`` (a block's ``cd`` holds for that block only)."""
    found, inside, pending = [], False, ""
    for line in PAGE.read_text().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            if inside:
                found.append(["cd", "."])
            continue
        if not inside:
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            found += [shlex.split(part) for part in pending.split("&&")]
            pending = ""
    return [words for words in found if words]


def _options(words: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in words if word.startswith("--")]


def test_the_page_has_a_command_per_script():
    scripts = {Path(words[1]).name for words in commands() if words[0] == "python"}
    assert len(scripts) >= 15, scripts


def test_every_script_exists_and_declares_every_option_used():
    problems, workdir = [], ROOT
    for words in commands():
        if words[0] == "cd":
            workdir = ROOT / words[1]
            continue
        if words[0] != "python":
            continue
        script = workdir / words[1]
        if not script.is_file():
            problems.append(f"{words[1]}: no such script (from {workdir.relative_to(ROOT)})")
            continue
        source = script.read_text()
        problems += [f"{words[1]}: no option {option}" for option in _options(words) if f'"{option}"' not in source]
    assert not problems, "\n".join(problems)


def test_every_automl_codegen_command_takes_its_options():
    cli = Path(sys.executable).parent / "automl-codegen"
    for words in commands():
        if words[0] != "automl-codegen":
            continue
        help_text = subprocess.run([str(cli), words[1], "--help"], capture_output=True, text=True, check=True).stdout
        missing = [option for option in _options(words) if option not in help_text]
        assert not missing, f"{' '.join(words)}: {missing}"
