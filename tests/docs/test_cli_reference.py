"""docs/reference/cli.md shows what ``automl-codegen <command> --help`` prints, word for word.

The page's text above ``MARKER`` is written by hand; below it, one section per command
holds the real ``--help`` output at 80 columns. When a help text changes, this test fails
and ``python tests/docs/test_cli_reference.py`` rewrites the generated part.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "cli.md"
COMMANDS = ["", "search", "export", "train", "generate", "report", "plugins", "demo"]
MARKER = "<!-- generated below: python tests/docs/test_cli_reference.py -->"


def help_text(command: str) -> str:
    """``automl-codegen [command] --help`` as a terminal 80 columns wide shows it."""
    cli = Path(sys.executable).parent / "automl-codegen"
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "PYTHON_COLORS": "0"}
    args = [str(cli), *([command] if command else []), "--help"]
    return subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout.rstrip() + "\n"


def _title(command: str) -> str:
    return f"## `automl-codegen{' ' + command if command else ''}`"


def render() -> str:
    parts = [MARKER, ""]
    for command in COMMANDS:
        parts += [_title(command), "", "```text", help_text(command).rstrip(), "```", ""]
    return "\n".join(parts)


def shown() -> dict[str, str]:
    """The help text the page shows per command."""
    generated = PAGE.read_text().split(MARKER, 1)[1]
    found = {}
    for command in COMMANDS:
        match = re.search(re.escape(_title(command)) + r"\n\n```text\n(.*?)```", generated, re.S)
        found[command] = match.group(1) if match else None
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=[c or "main" for c in COMMANDS])
def test_the_page_shows_the_real_help(command):
    assert shown()[command] == help_text(command), (
        f"docs/reference/cli.md is out of date for 'automl-codegen {command} --help'; "
        "run: python tests/docs/test_cli_reference.py"
    )


def test_the_page_covers_every_command():
    listed = re.findall(r"^    (\w+)  ", help_text(""), re.M)
    assert set(listed) <= set(COMMANDS), listed


if __name__ == "__main__":
    head = PAGE.read_text().split(MARKER, 1)[0]
    PAGE.write_text(head + render())
    print(f"rewrote {PAGE.relative_to(ROOT)}")
