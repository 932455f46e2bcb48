"""Active learning by ranking consistency: the paper's Algorithm 1.

An image whose ranked sets the network orders inconsistently (its ranking certainty,
rankjax.certainty) is one it does not understand: label those first.

Algorithm 1: start from `labeled_fraction` of the training set; train; score the pool;
move the `per_cycle` least certain images (a fraction of the training set) into the
labeled set; retrain from scratch (as the paper does; `cycle_init=previous` continues
from the previous cycle's best weights instead); repeat `cycles` times. Each
cycle is an ordinary resumable run in <workdir>/cycle_<c>/; the images chosen after
cycle c are saved in cycle_<c>/selection.json before the next cycle starts, so a
rerun after a kill continues at the cycle and step where it stopped, with the same
selections. <workdir>/selected.csv lists (cycle, image, certainty) and
active_learning.csv / .png the test metrics against the labeled fraction.
"""

from __future__ import annotations

import csv
import json
import logging

import numpy as np

from rankjax import (checks, experiment, pictures, restore, rundir, storage, tasks)
from rankjax.data import splits
from rankjax.certainty import SELECTION_STRATEGIES, select
from rankjax.config import Config

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- Algorithm 1

def run(cfg: Config, workdir: str, overwrite: bool = False, progress: bool = True) -> list[dict]:
    """Algorithm 1 in `workdir` (resumable); returns one row per cycle: labeled images,
    labeled fraction and the cycle's test metrics (best checkpoint on validation)."""
    if not cfg.active_learning:
        raise ValueError("active_learning is off in this config (set it to ranking or random)")
    checks.check(cfg)
    task = tasks.get(cfg.task)
    train, test = splits.load(cfg.dataset, cfg.data_dir, cfg.fold, cfg.seed)
    rundir.check_writable(workdir)
    with rundir.RunLock(workdir):
        rundir.prepare(cfg, workdir, overwrite)
        return _cycles(cfg, workdir, task, train, test, progress)


def _cycles(cfg: Config, workdir: str, task, train: list, test: list, progress: bool
            ) -> list[dict]:
    labeled, pool, validation = splits.split_labeled(train, cfg.labeled_fraction,
                                                       cfg.validation_fraction, cfg.seed,
                                                       cfg.validation_split)
    total = len(labeled) + len(pool)
    per_cycle = max(1, round(cfg.per_cycle * total))
    log.info("active learning (%s): %d labeled of %d, +%d per cycle, %d cycles",
             cfg.active_learning, len(labeled), total, per_cycle, cfg.cycles)
    rows, selections = [], []
    for cycle in range(cfg.cycles + 1):
        cycle_dir = storage.join(workdir, f"cycle_{cycle}")
        # Ranked sets come from the images still unlabeled (all of them once none is).
        sources = splits.Sources(labeled, [r.path for r in (pool or labeled)],
                                         validation, test)
        initial = None
        if cycle > 0 and cfg.cycle_init == "previous":
            initial, _ = restore.restore_params(cfg, storage.join(workdir, f"cycle_{cycle - 1}"),
                                            "best")
        metrics = experiment.train_and_evaluate(cfg, cycle_dir, progress=progress,
                                                sources=sources, initial_params=initial)
        rows.append({"cycle": cycle, "labeled": len(labeled),
                     "labeled_fraction": len(labeled) / total, **metrics})
        write_curve(workdir, rows, task.selection_metric)
        log.info("cycle %d: %d labeled (%.0f%%), test %s", cycle, len(labeled),
                 100 * len(labeled) / total, metrics)
        if cycle == cfg.cycles or not pool:
            break
        selection = _selection(cfg, cycle, cycle_dir, pool, per_cycle, progress)
        selections.append(selection)
        chosen = {item["image"] for item in selection["chosen"]}
        labeled = labeled + [r for r in pool if r.path in chosen]
        pool = [r for r in pool if r.path not in chosen]
        write_selected(workdir, selections)
    return rows


def _selection(cfg: Config, cycle: int, cycle_dir: str, pool: list, count: int,
               progress: bool) -> dict:
    """The images chosen after `cycle`: read back if this cycle already chose (resume)."""
    path = storage.join(cycle_dir, "selection.json")
    if storage.exists(path):
        return json.loads(storage.read_text(path))
    params, _ = restore.restore_params(cfg, cycle_dir, "best")
    paths = [r.path for r in pool]
    priority, certainty = SELECTION_STRATEGIES.get(cfg.active_learning)(
        cfg, params, paths, cfg.seed * 1000 + cycle, progress)
    chosen = select(priority, min(count, len(pool)))
    selection = {"cycle": cycle, "strategy": cfg.active_learning, "chosen": [
        {"image": paths[i], "certainty": None if certainty is None else float(certainty[i])}
        for i in chosen]}
    if certainty is not None:
        selection["pool_certainty_mean"] = float(np.mean(certainty))
    if rundir.is_writer():
        rundir.write_atomic(path, lambda f: json.dump(selection, f, indent=1))
    return selection


def write_selected(workdir: str, selections: list[dict]) -> None:
    def write(f):
        writer = csv.writer(f)
        writer.writerow(["cycle", "image", "certainty"])
        for selection in selections:
            for item in selection["chosen"]:
                certainty = item["certainty"]
                writer.writerow([selection["cycle"], item["image"],
                                 "" if certainty is None else f"{certainty:.4f}"])

    if rundir.is_writer():
        rundir.write_atomic(storage.join(workdir, "selected.csv"), write)


def write_curve(workdir: str, rows: list[dict], metric: str) -> None:
    """active_learning.csv (one row per cycle) and a PNG of `metric` vs labeled fraction."""
    if not rundir.is_writer():
        return
    keys = list(dict.fromkeys(key for row in rows for key in row))

    def write(f):
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)

    rundir.write_atomic(storage.join(workdir, "active_learning.csv"), write)
    figure, axis = pictures.plt.subplots(figsize=(5, 3.6))
    axis.plot([100 * r["labeled_fraction"] for r in rows], [r[metric] for r in rows],
              marker="o")
    axis.set_xlabel("labeled images (% of the training set)")
    axis.set_ylabel(f"test {metric}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    pictures.save(figure, storage.join(workdir, "active_learning.png"))
