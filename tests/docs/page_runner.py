"""Run one documentation page's code blocks, in order, in the current directory.

``python page_runner.py STEPS.json DONE.txt``: STEPS.json is the list that
``test_snippets.steps`` builds for a page. Python blocks run with ``exec`` in one
namespace (named ``__main__``), so a page's blocks build on each other as a reader runs
them one after another; a block compiled with the markdown file as its file name and its
own line numbers, so a traceback points at the line of the page. Shell blocks run with
bash, files are written, scripts run in a process of their own. The line of each block
that finished is appended to DONE.txt: the test compares it with the blocks it expected.
"""

from __future__ import annotations

import json
import linecache
import subprocess
import sys
import time
from pathlib import Path


def _python(step: dict, namespace: dict) -> None:
    page, line = step["page"], step["line"]
    # Pad so that line numbers in tracebacks are the markdown file's (the code starts the line after the fence).
    source = "\n" * line + step["code"]
    linecache.cache[page] = (len(source), None, source.splitlines(True), page)
    exec(compile(source, page, "exec"), namespace)


def _script(step: dict) -> None:
    path = Path(f"snippet_line_{step['line']}.py")
    path.write_text(step["code"])
    subprocess.run([sys.executable, str(path)], check=True)


def _shell(step: dict) -> None:
    subprocess.run(["bash", "-c", "set -euo pipefail\n" + step["code"]], check=True)


def _file(step: dict) -> None:
    path = Path(step["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(step["code"])


def main(steps_file: str, done_file: str) -> None:
    steps = json.loads(Path(steps_file).read_text())
    namespace: dict = {"__name__": "__main__"}
    with open(done_file, "a") as done:
        for step in steps:
            print(f"--- {step['page']}:{step['line']} ({step['kind']})", flush=True)
            started = time.monotonic()
            if step["kind"] == "python":
                _python(step, namespace)
            elif step["kind"] == "script":
                _script(step)
            elif step["kind"] == "shell":
                _shell(step)
            else:
                _file(step)
            print(f"--- {step['page']}:{step['line']} took {time.monotonic() - started:.1f} s", flush=True)
            done.write(f"{step['line']}\n")
            done.flush()


if __name__ == "__main__":
    main(*sys.argv[1:])
