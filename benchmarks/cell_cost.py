"""A table cell's wall time at two commits, side by side: the same cell and seed trained by
each commit's own runner, one after the other, on this machine (nothing else should run).

    python benchmarks/cell_cost.py --before 8116f3e --table label_scarcity_shb \
        --cells baseline_10% --seed 0 --data_dir ~/data

"after" is this checkout, or --after COMMIT. Without --before, "before" is the committed
result file of the cell (results/TABLE/CELL_seedS.json: its seconds and test metrics, from
whatever machine and load its `machine` names), so only "after" trains. Each commit runs
`benchmarks/reproduce.py --table T --cells C --seeds S` in a temporary run and results
folder (the older commit from a temporary git worktree); the printed seconds are the
result files' own `seconds`, the ratio is before / after (above 1: the cell got
cheaper), and the test metrics show whether the two runs learnt the same thing. Writes
the lines to --output as JSON too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from rankjax.platform import machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cell(checkout: str, table: str, cell: str, seed: int, data_dir: str,
             folder: str) -> dict:
    """The result file of (table, cell, seed) trained by the runner of `checkout`."""
    results = os.path.join(folder, "results")
    command = [sys.executable, os.path.join(checkout, "benchmarks", "reproduce.py"),
               "--table", table, "--cells", cell, "--seeds", str(seed), "--data_dir",
               data_dir, "--runs_dir", os.path.join(folder, "runs"), "--results_dir", results,
               "--quiet"]
    # The checkout's own rankjax, ahead of the installed (editable) one.
    env = {**os.environ, "PYTHONPATH": checkout}
    subprocess.run(command, cwd=checkout, env=env, check=True)
    path = os.path.join(results, table, f"{cell}_seed{seed}.json")
    with open(path) as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="the older commit (default: the committed result "
                                         "file)")
    parser.add_argument("--after", help="the newer commit (default: this checkout)")
    parser.add_argument("--table", default="label_scarcity_shb")
    parser.add_argument("--cells", default="baseline_10%",
                        help="comma-separated cells, each timed at both commits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", default=os.path.expanduser("~/data"))
    parser.add_argument("--output", help="also write the lines here (JSON)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        checkouts = {"before": os.path.join(scratch, "before")} if args.before else {}
        checkouts["after"] = os.path.join(scratch, "after") if args.after else ROOT
        for label, commit in (("before", args.before), ("after", args.after)):
            if commit:
                subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach",
                                checkouts[label], commit], check=True, capture_output=True)
        try:
            for cell in args.cells.split(","):
                timed = {}
                for label, checkout in checkouts.items():
                    result = run_cell(checkout, args.table, cell, args.seed, args.data_dir,
                                      os.path.join(scratch, f"{label}_{len(rows)}"))
                    timed[label] = {"seconds": result["seconds"],
                                    "test": result["metrics"],
                                    "seconds_by_part": result.get("seconds_by_part")}
                if not args.before:
                    with open(os.path.join(ROOT, "results", args.table,
                                           f"{cell}_seed{args.seed}.json")) as f:
                        result = json.load(f)
                    timed["before"] = {"seconds": result["seconds"], "test": result["metrics"],
                                       "machine": result["machine"]}
                row = {"table": args.table, "cell": cell, "seed": args.seed,
                       "before_commit": args.before or "committed result",
                       "after_commit": args.after or "checkout",
                       **timed,
                       "ratio_before_over_after": timed["before"]["seconds"]
                       / timed["after"]["seconds"], "machine": machine()}
                rows.append(row)
                print(f"{args.table} {cell} seed {args.seed}: before "
                      f"{args.before or 'committed result'} "
                      f"{timed['before']['seconds']:.0f} s, after {args.after or 'checkout'} "
                      f"{timed['after']['seconds']:.0f} s, before/after "
                      f"{row['ratio_before_over_after']:.2f}; test mae "
                      f"{timed['before']['test'].get('mae', float('nan')):.2f} vs "
                      f"{timed['after']['test'].get('mae', float('nan')):.2f}", flush=True)
                if "machine" in timed["before"]:
                    print(f"  before: the committed result, made on {timed['before']['machine']}")
                if timed["after"]["seconds_by_part"]:
                    print("  after, seconds by part: " + ", ".join(
                        f"{k} {v:.0f}" for k, v in timed["after"]["seconds_by_part"].items()))
        finally:
            for label, checkout in checkouts.items():
                if checkout != ROOT:
                    subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force",
                                    checkout], check=False, capture_output=True)
    print(f"machine: {machine()}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
