"""Which images each active-learning strategy chose: their true counts against the pool's.

    python benchmarks/active_selection.py --runs runs/reproduce/active_learning_shb

For every run (<runs>/<strategy>/seed<k>/, made by `benchmarks/reproduce.py`) and cycle:
how many images were chosen, how many of them the network ordered imperfectly
(certainty < 1, ranking only), the pool's mean certainty (ranking only), and the mean
true count (or score) of the chosen images
against the mean of the pool they were chosen from. Reads selected.csv, the cycle's
selection.json and the dataset's labels; trains and predicts nothing.
"""

from __future__ import annotations

import argparse
import glob
import json
import os



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="a table's folder under runs/reproduce")
    args = parser.parse_args()

    import numpy as np

    from rankjax import rundir
    from rankjax.data import splits

    values, pools = {}, {}
    print("strategy  seed  cycle  chosen  imperfect  pool_certainty  chosen_mean_true  "
          "pool_mean_true")
    for run in sorted(glob.glob(os.path.join(args.runs, "*", "seed*"))):
        selections = sorted(glob.glob(os.path.join(run, "cycle_*", "selection.json")))
        if not selections:
            continue
        cfg = rundir.read_config(run)
        key = (cfg.dataset, cfg.data_dir, cfg.seed)
        if key not in values:
            train, _ = splits.load(cfg.dataset, cfg.data_dir, cfg.fold, cfg.seed)
            values[key] = {r.path: float(r.count if hasattr(r, "count") else r.score)
                           for r in train}
            _, pool, _ = splits.split_labeled(train, cfg.labeled_fraction,
                                                cfg.validation_fraction, cfg.seed,
                                                cfg.validation_split)
            pools[key] = [r.path for r in pool]
        truth, pool = values[key], list(pools[key])
        for path in sorted(selections, key=lambda p: int(p.split("cycle_")[-1].split(os.sep)[0])):
            with open(path) as f:
                selection = json.load(f)
            chosen = [item["image"] for item in selection["chosen"]]
            certainty = [item["certainty"] for item in selection["chosen"]]
            imperfect = ("-" if certainty[0] is None else
                         str(sum(c < 1 for c in certainty)))
            pool_certainty = selection.get("pool_certainty_mean")
            pool_certainty = "-" if pool_certainty is None else f"{pool_certainty:.3f}"
            print(f"{cfg.active_learning:8s}  {cfg.seed:4d}  {selection['cycle']:5d}  "
                  f"{len(chosen):6d}  {imperfect:>9s}  {pool_certainty:>14s}  "
                  f"{np.mean([truth[p] for p in chosen]):16.1f}  "
                  f"{np.mean([truth[p] for p in pool]):14.1f}")
            pool = [p for p in pool if p not in set(chosen)]


if __name__ == "__main__":
    main()
