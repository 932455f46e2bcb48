"""Count level of crowd runs over consecutive blocks of test images (e.g. a video's frames).

    python benchmarks/count_drift.py runs/reproduce/label_scarcity_mall/*_100%/seed1

For each run directory, reads the per-image test predictions that train.py writes
(test/predictions.csv: best checkpoint on validation; test_last/: last checkpoint), sorts
them by image name (Mall: seq_000801.jpg ... seq_002000.jpg, i.e. by time) and prints
the count ratio (mean predicted / mean true count) and MAE of every block of --block
images, and the last validation count ratio logged in metrics.jsonl. On one camera, a
count level that drifts along the test stretch says how far a validation split drawn
from the training stretch can be trusted to pick a checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import numpy as np


def blocks(path: str, block: int) -> list[dict]:
    """[{first, last, truth, ratio, mae}] of consecutive `block`-image chunks of one
    predictions.csv, in name order."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        if not {"name", "true_count", "predicted_count"} <= columns:
            raise SystemExit(f"{path}: not a crowd run's predictions (columns: "
                             f"{', '.join(sorted(columns)) or 'none'})")
        rows = sorted(reader, key=lambda r: r["name"])
    if not rows:
        raise SystemExit(f"{path}: no predictions")
    truth = np.array([float(r["true_count"]) for r in rows])
    predicted = np.array([float(r["predicted_count"]) for r in rows])
    out = []
    for start in range(0, len(rows), block):
        t, p = truth[start:start + block], predicted[start:start + block]
        out.append({"first": rows[start]["name"], "last": rows[start + len(t) - 1]["name"],
                    "truth": float(t.mean()), "ratio": float(p.mean() / t.mean()),
                    "mae": float(np.abs(p - t).mean())})
    return out


def last_validation(workdir: str) -> dict | None:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        records = [json.loads(line) for line in f if '"validation"' in line]
    return records[-1] if records else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+")
    parser.add_argument("--block", type=int, default=200, help="images per block")
    args = parser.parse_args()
    for workdir in args.workdirs:
        validation = last_validation(workdir)
        if validation:
            print(f"{workdir}: validation at step {validation['step']}: count ratio "
                  f"{validation['count_ratio']:.3f}, mae {validation['mae']:.2f}")
        for split, label in (("test", "best on validation"), ("test_last", "last")):
            path = os.path.join(workdir, split, "predictions.csv")
            if not os.path.exists(path):
                print(f"{workdir}: no {path}")
                continue
            print(f"{workdir}: test, {label} checkpoint")
            for b in blocks(path, args.block):
                print(f"  {b['first']} .. {b['last']}: true mean {b['truth']:6.1f}  "
                      f"count ratio {b['ratio']:.3f}  mae {b['mae']:.2f}")


if __name__ == "__main__":
    main()
