"""How a trained run's ranking certainty C(z) is spread over its unlabeled pool.

    python benchmarks/certainty.py --workdir runs/reproduce/label_scarcity_shb/multitask_10%/seed0

Active learning by ranking (rankjax.active) labels the least certain images first; that
only helps if certainty varies between images. This prints the distribution of C(z)
over the run's pool (K = the run's certainty_pairs), how many images are ordered
perfectly, and the Spearman correlation of certainty with the images' true counts or
scores (labels the pool has but the run did not use), and writes certainty.csv.
"""

from __future__ import annotations

import argparse
import csv
import os
import time


import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)
from rankjax import cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--which", default="best", choices=("best", "latest"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled ranked sets")
    args = parser.parse_args()
    cli.setup_logging()

    import numpy as np
    from scipy import stats

    from rankjax import platform, restore, rundir
    from rankjax.data import splits
    from rankjax.certainty import pool_certainty

    cfg = rundir.read_config(args.workdir)
    params, label = restore.restore_params(cfg, args.workdir, args.which)
    train, _ = splits.load(cfg.dataset, cfg.data_dir, cfg.fold, cfg.seed)
    _, pool, _ = splits.split_labeled(train, cfg.labeled_fraction, cfg.validation_fraction,
                                        cfg.seed, cfg.validation_split)
    start = time.time()
    certainty = pool_certainty(cfg, params, [r.path for r in pool], args.seed, progress=True)
    seconds = time.time() - start
    truth = np.array([r.count if hasattr(r, "count") else r.score for r in pool], float)
    quantiles = np.quantile(certainty, [0, 0.1, 0.5, 0.9, 1])
    info = platform.machine()
    print(f"checkpoint: {label}; pool: {len(pool)} images, K = {cfg.certainty_pairs} pairs, "
          f"{seconds:.0f} s on {info.get('cpu')} ({info.get('cores')} cores), {info['date']}")
    print(f"certainty mean {certainty.mean():.3f}, std {certainty.std():.3f}; quantiles 0/10/50/"
          f"90/100 %: {', '.join(f'{q:.2f}' for q in quantiles)}")
    print(f"ordered perfectly (C = 1): {np.mean(certainty == 1):.1%} of the pool")
    rho = stats.spearmanr(certainty, truth)[0] if np.ptp(certainty) > 0 else float("nan")
    print(f"Spearman correlation of certainty with the true value: {rho:.3f}")
    out = os.path.join(args.workdir, "certainty.csv")
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "certainty", "true_value"])
        writer.writerows((r.path, f"{c:.4f}", t) for r, c, t in zip(pool, certainty, truth))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
