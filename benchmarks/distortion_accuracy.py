"""Which distortion types a trained quality run has learnt to order, one number per type.

    python benchmarks/distortion_accuracy.py --workdir runs/iqa_clive_cpu_small

A run's logged pair_accuracy mixes every distortion type of its ranked sets in one
number. This makes ranked sets of each type at the run's levels (2-5 for the CPU presets'
4-image sets) from one seeded random crop of each of the first --images test images, and prints
per type the share of level pairs the checkpoint orders correctly (0.5 = chance) and its
mean score per level. Types the run was not trained on can be asked for with
--distortions: they show whether what was learnt transfers. Writes
distortion_accuracy.json into the run directory.
"""

from __future__ import annotations

import argparse
import json
import os
import time


import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)
from rankjax import cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--which", default="best", choices=("best", "latest"))
    parser.add_argument("--images", type=int, default=100, help="test images to use")
    parser.add_argument("--distortions", default="",
                        help="comma-separated types (default: the run's and the paper's four)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops and the noise")
    args = parser.parse_args()
    cli.setup_logging()

    from rankjax import evaluation, platform, restore, rundir, tasks, training
    from rankjax.data import splits

    cfg = rundir.read_config(args.workdir)
    if cfg.task != "iqa":
        cli.fail(f"{args.workdir} is a {cfg.task!r} run; this measures quality runs (task iqa)")
    params, label = restore.restore_params(cfg, args.workdir, args.which)
    _, test = splits.load(cfg.dataset, cfg.data_dir, cfg.fold, cfg.seed)
    predict = evaluation.make_predict_fn(training.build_model(cfg))
    start = time.time()
    try:
        check = tasks.get(cfg.task).ranking_check(
            cfg, predict, params, test, images=args.images,
            kinds=tuple(k for k in args.distortions.split(",") if k), seed=args.seed)
    except ValueError as error:
        cli.fail(str(error))
    result, levels = check["types"], tuple(check["levels"])
    info = platform.machine()
    print(f"checkpoint: {label}; {check['images']} test images, levels {levels}, "
          f"{time.time() - start:.0f} s on "
          f"{info.get('cpu')} ({info.get('cores')} cores), {info['date']}")
    for kind, row in result.items():
        trained = "trained" if kind in cfg.distortions else "not trained on"
        means = ", ".join(f"{v:.2f}" for v in row["mean_score_per_level"])
        print(f"{kind:26s} pair accuracy {row['pair_accuracy']:.3f}   mean score per level "
              f"[{means}]   ({trained})")
    out = os.path.join(args.workdir, "distortion_accuracy.json")
    record = {"checkpoint": label, **check}
    rundir.write_atomic(out, lambda f: json.dump(record, f, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
