"""How fast the command answers when no model is trained: --help and plugins listing.

python benchmarks/cli_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    "automl-codegen --help": ["--help"],
    "automl-codegen plugins --json": ["plugins", "--json"],
}


def main(repeats: int = 7) -> None:
    print("| command | median s | min s |")
    print("|---|---|---|")
    for label, args in COMMANDS.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "automl_codegen.cli", *args], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        print(f"| `{label}` | {statistics.median(times):.3f} | {min(times):.3f} |")


if __name__ == "__main__":
    main()
