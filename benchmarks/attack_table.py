"""Issue 21's table: hostile inputs tried, clean errors, tracebacks and hangs, by class of attack.

Runs every attack of ``tests/attacks/attack_catalogue.py`` (the list the tests assert) the
same way the tests do, against a small run made first (about 3 s), and prints a Markdown
table and then every attack that did not end in a clean error.

    python benchmarks/attack_table.py              # the whole catalogue, about 90 s
    python benchmarks/attack_table.py --class "bad genotype" --verbose

A clean error is the documented exit status (2 for refused input) with exactly one
``automl-codegen: error:`` line that names the problem; a hang is an attack still running
after its limit (30 s unless the catalogue says otherwise). Attacks marked as known
failures (``xfail``: a bug in a file of another change) are counted as what they do, and
listed with the reason.

Target: 0 tracebacks and 0 hangs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# The catalogue lives with the tests, which import it the same way (pytest puts its folder first).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "attacks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from attack_catalogue import ATTACKS, CLASSES, attempt, make_small_run, release_locks

COLUMNS = ("clean", "traceback", "hang", "other")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class", dest="group", choices=CLASSES, help="only the attacks of this class")
    parser.add_argument("--verbose", action="store_true", help="print each attack's verdict as it ends")
    args = parser.parse_args()
    attacks = [a for a in ATTACKS if args.group is None or a.group == args.group]
    counts: dict[str, Counter] = {group: Counter() for group in CLASSES}
    findings = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="attack-table-") as workdir:
        small_run = make_small_run(Path(workdir) / "small-run")
        for number, attack in enumerate(attacks):
            tmp = Path(workdir) / f"{number:04d}"
            tmp.mkdir()
            try:
                outcome = attempt(attack, tmp, small_run)
            finally:
                release_locks()
            verdict = outcome.verdict(attack)
            kind = verdict.partition(":")[0]
            counts[attack.group][kind] += 1
            counts[attack.group]["xfail"] += attack.xfail is not None
            if kind != "clean":
                findings.append((attack, verdict, outcome))
            if args.verbose:
                print(f"{attack.group:<28} {attack.name:<44} {verdict} ({outcome.seconds:.1f} s)", file=sys.stderr)
    elapsed = time.perf_counter() - started

    print("| class | tried | clean errors | tracebacks | hangs | other | known (xfail) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total: Counter = Counter()
    for group in CLASSES:
        row = counts[group]
        tried = sum(row[c] for c in COLUMNS)
        if not tried:
            continue
        total.update(row)
        print(f"| {group} | {tried} | " + " | ".join(str(row[c]) for c in (*COLUMNS, "xfail")) + " |")
    tried = sum(total[c] for c in COLUMNS)
    print(f"| **all** | **{tried}** | " + " | ".join(f"**{total[c]}**" for c in (*COLUMNS, "xfail")) + " |")
    print(f"\n{tried} attacks in {elapsed:.0f} s")
    for attack, verdict, outcome in findings:
        last = outcome.stderr.strip().splitlines()[-1:] or ["(no output)"]
        known = f"\n    known: {attack.xfail}" if attack.xfail else ""
        print(f"\n- {attack.group} / {attack.name}: {verdict}\n    {last[0][:300]}{known}")
    unexpected = [f for f in findings if f[0].xfail is None]
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
