"""How each count protocol counts, on the same trained checkpoints: tiles (tiles of the
training input size that do not overlap), stitched (windows of that size that overlap,
each output cell taken from the middle of a window) and whole (the whole image in one
pass).

    python benchmarks/count_protocols.py RUN [RUN ...] [--which best] [--splits validation,test]
    python benchmarks/count_protocols.py runs/reproduce/label_scarcity_shb/*/seed0 --json out.json

For every run directory: its checkpoint (best on validation by default) evaluated on each
split with each protocol: MAE, RMSE, count ratio (mean predicted / mean true count) and
the seconds the pass took. The protocol a preset should count with is chosen on
validation: the count ratio closest to 1 without a higher MAE.
"""

from __future__ import annotations

import argparse
import glob
import time

import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)

from rankjax import experiment, platform, restore, rundir, training  # noqa: E402
from rankjax.data.splits import build_sources  # noqa: E402
from rankjax.tasks import crowd  # noqa: E402


def measure(workdir: str, which: str, splits: list[str]) -> list[dict]:
    cfg = rundir.read_config(workdir)
    params, label = restore.restore_params(cfg, workdir, which)
    sources = build_sources(cfg)
    model = training.build_model(cfg)
    rows = []
    for split in splits:
        records = sources.validation if split == "validation" else sources.test
        if not records:
            continue
        for protocol in crowd.COUNT_PROTOCOLS:
            start = time.perf_counter()
            metrics = experiment.evaluate_split(cfg.replace(count_protocol=protocol), model,
                                                params, records, None, split=split)
            rows.append({"run": workdir, "checkpoint": label, "split": split,
                         "protocol": protocol, "trained_with": cfg.count_protocol,
                         "images": metrics["images"], "mae": metrics["mae"],
                         "rmse": metrics["rmse"], "count_ratio": metrics["count_ratio"],
                         "seconds": time.perf_counter() - start})
            print(f"{workdir} {split:10s} {protocol:8s} images={metrics['images']:4d} "
                  f"mae={metrics['mae']:8.3f} rmse={metrics['rmse']:8.3f} "
                  f"count_ratio={metrics['count_ratio']:.3f} "
                  f"({rows[-1]['seconds']:.1f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories (globs allowed)")
    parser.add_argument("--which", default="best", choices=("best", "latest"))
    parser.add_argument("--splits", default="validation,test")
    parser.add_argument("--json", help="also write every row to this JSON file")
    args = parser.parse_args()
    info = platform.machine()
    print(f"machine: {info.get('cpu')}, {info['cores']} cores ({info.get('vector_flags')}), "
          f"{info['date']}")
    rows = []
    for pattern in args.runs:
        for workdir in sorted(glob.glob(pattern)) or [pattern]:
            rows += measure(workdir, args.which, args.splits.split(","))
    if args.json:
        rundir.write_json(args.json, {"machine": info, "rows": rows})


if __name__ == "__main__":
    main()
