"""Tables of the paper's claims (declared in experiments/tables/, one module each), run cell
by cell, aggregated over seeds, judged and reported.

A `Table` is a list of `Cell`s (a preset plus overrides) and the seeds to run each with.
`run_table` trains every (cell, seed) in its own run directory through
`experiment.train_and_evaluate` (resumable: rerunning continues a killed cell, and a
cell whose result file exists is skipped) and writes one small JSON result per run.
`summarise` turns the result files into mean +- std per cell, a CSV, Markdown and a
plot, with a verdict per claim, so RESULTS.md can be regenerated without training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from experiments import statistics, tables as tables_lib
from experiments.declare import DATA_DIR, Cell, Claim, Table  # noqa: F401  (re-exported)
from rankjax import active, config as config_lib, evaluation, experiment, rundir
from rankjax.data import splits
from rankjax import pictures
from rankjax import presets, restore, tasks, training
from rankjax.platform import machine

TABLES = tables_lib.load()


def cell_config(cell: Cell, seed: int, data_dir: str) -> config_lib.Config:
    cfg = presets.get_preset(cell.preset)
    changes: dict[str, Any] = {k: v.replace(DATA_DIR, data_dir) if isinstance(v, str) else v
                               for k, v in cell.overrides.items()}
    changes["seed"] = seed
    if cell.data_subdir:
        changes["data_dir"] = os.path.join(data_dir, cell.data_subdir)
    if cell.overrides.get("paradigm") == "rank_then_finetune" and not cell.overrides.get(
            "finetune_steps"):
        changes["finetune_steps"] = cfg.steps  # as many regression steps as ranking steps
    return config_lib.apply_overrides(cfg, changes)


def settings(cfg: config_lib.Config) -> dict:
    """What decides a run's numbers, as JSON: its resolved config but the name and data
    folder (a machine's path). Each result file keeps it, so that a preset changed after
    its runs is noticed instead of mixing old runs into a new table."""
    fields = {k: v for k, v in dataclasses.asdict(cfg).items()
              if k not in ("name", "data_dir", "test_data_dir")}
    return json.loads(json.dumps(fields))


def stale_fields(table: Table, result: dict) -> dict:
    """{field: (the run's value, the cell's value now)} where a result file was made with
    another config than its cell declares today; {} when it matches (or, for a file from
    before configs were recorded, cannot be checked). A field the file lacks was added to
    Config after its run, which therefore ran as the field's default does."""
    if "config" not in result:
        return {}
    recorded = {**settings(config_lib.Config()), **result["config"]}
    now = settings(cell_config(_cell(table, result), result["seed"], DATA_DIR))
    return {k: (recorded.get(k), v) for k, v in now.items() if recorded.get(k) != v}


def check_current(table: Table, results: list[dict], results_dir: str) -> None:
    """Raises, naming each file and field, if a result was made with another config than
    its cell declares now (a preset changed): those runs must be moved away and rerun."""
    stale = []
    for result in results:
        diff = stale_fields(table, result)
        if diff:
            changes = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(diff.items()))
            stale.append(f"{result_path(results_dir, table, _cell(table, result), result['seed'])}"
                         f" ({changes})")
    if stale:
        raise ValueError(f"table {table.name}: result files made with a config the table no "
                         f"longer declares; move them away (and their run directories) to "
                         f"rerun those cells: " + "; ".join(stale))


def _cell(table: Table, result: dict) -> Cell:
    return next(c for c in table.cells if c.name == result["cell"])


def result_path(results_dir: str, table: Table, cell: Cell, seed: int) -> str:
    return os.path.join(results_dir, table.name, f"{cell.name}_seed{seed}.json")


def code_version() -> dict:
    """The commit of the rankjax checkout a run trained with, and whether it had
    uncommitted changes (None where this is no git checkout)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": bool(dirty)}


def run_table(table: Table, data_dir: str, runs_dir: str, results_dir: str,
              seeds: tuple[int, ...] | None = None, progress: bool = True,
              cells: tuple[str, ...] | None = None) -> list[dict]:
    """Trains every missing (cell, seed) (of `cells` only, if given; seed by seed, so
    that a partial table has whole seeds); returns every result of the table."""
    seeds = tuple(seeds or table.seeds)
    unknown = set(cells or ()) - {cell.name for cell in table.cells}
    if unknown:
        raise ValueError(f"table {table.name} has no cell {', '.join(sorted(unknown))}; its "
                         f"cells: {', '.join(cell.name for cell in table.cells)}")
    check_current(table, load_results(table, results_dir), results_dir)
    chosen = [cell for cell in table.cells if not cells or cell.name in cells]
    todo = [(cell, seed) for seed in seeds for cell in chosen
            if not os.path.isfile(result_path(results_dir, table, cell, seed))]
    bar = tqdm(total=len(chosen) * len(seeds), initial=len(chosen) * len(seeds) -
               len(todo), unit="run", desc=table.name, disable=not progress)
    for cell, seed in todo:
        same = identical_result(table, cell, seed, data_dir, results_dir)
        if same is not None:  # trained once for another table: the same run, not a rerun
            rundir.write_atomic(result_path(results_dir, table, cell, seed),
                                lambda f: json.dump(same, f, indent=1, sort_keys=True))
            bar.update(1)
            continue
        cfg = cell_config(cell, seed, data_dir).replace(name=f"{table.name}_{cell.name}")
        workdir = os.path.join(runs_dir, table.name, cell.name, f"seed{seed}")
        bar.set_postfix_str(f"{cell.name} seed {seed}")
        start = time.time()
        curve = None
        if cfg.active_learning:
            curve = active.run(cfg, workdir, progress=False)
            last_dir = os.path.join(workdir, f"cycle_{curve[-1]['cycle']}")
            metrics = {k: v for k, v in curve[-1].items()
                       if k not in ("cycle", "labeled", "labeled_fraction")}
        else:
            last_dir = workdir
            metrics = experiment.train_and_evaluate(cfg, workdir, progress=False)
        with open(os.path.join(last_dir, "test_last", "results.json")) as f:
            last = json.load(f)["metrics"]
        with open(os.path.join(last_dir, "summary.json")) as f:
            summary = json.load(f)
        result = {"table": table.name, "cell": cell.name, "seed": seed, "metrics": metrics,
                  **({"curve": curve} if curve else {}),
                  "metrics_last_checkpoint": last,
                  "preset": cell.preset, "overrides": cell.overrides,
                  "config": settings(cell_config(cell, seed, DATA_DIR)),
                  "seconds": round(time.time() - start, 1),
                  "machine": machine(), "workdir": workdir,
                  # What makes the file stand alone (the last training of a curve run).
                  "code": code_version(), "versions": rundir.environment()["versions"],
                  "seconds_by_part": summary["seconds"], "best_step": summary["best_step"],
                  "best_validation": summary["best_validation"], "steps": summary["steps"],
                  "stopped_early": summary.get("stopped_early"),
                  # > 0: the run was resumed, and `seconds` holds only the last process's.
                  "resumed_from": summary["resumed_from"],
                  "training": summary["training"], "training_mean": summary["training_mean"],
                  "data": summary["data"]}
        if not curve:
            result.update(ranking_check(cfg, workdir))
        path = result_path(results_dir, table, cell, seed)
        rundir.write_atomic(path, lambda f: json.dump(result, f, indent=1, sort_keys=True))
        bar.update(1)
    bar.close()
    return load_results(table, results_dir)


def ranking_check(cfg: config_lib.Config, workdir: str) -> dict:
    """{"ranking_check": ...}: how the run's last checkpoint orders ranked sets made from
    held-out test images (Task.ranking_check, e.g. distortion levels per type for quality
    runs), or {} for a task without such a check."""
    task = tasks.get(cfg.task)
    if not _has_ranking_check(task):
        return {}
    params, label = restore.restore_params(cfg, workdir, "latest")
    _, test = splits.load(cfg.dataset, cfg.data_dir, cfg.fold, cfg.seed)
    predict = evaluation.make_predict_fn(training.build_model(cfg))
    return {"ranking_check": {"checkpoint": label,
                              **task.ranking_check(cfg, predict, params, test)}}


def identical_result(table: Table, cell: Cell, seed: int, data_dir: str,
                     results_dir: str) -> dict | None:
    """The result of a cell of another table whose run is this one (same preset,
    overrides and data, hence the same config but its name), relabelled, or None."""
    wanted = cell_config(cell, seed, data_dir).replace(name="")
    for other in TABLES.values():
        for twin in other.cells:
            path = result_path(results_dir, other, twin, seed)
            if other.name == table.name or not os.path.isfile(path):
                continue
            if cell_config(twin, seed, data_dir).replace(name="") == wanted:
                with open(path) as f:
                    result = json.load(f)
                if not _stands_alone(result, wanted):
                    continue  # an older file without what a run of today records
                check_current(other, [result], results_dir)
                return {**result, "table": table.name, "cell": cell.name,
                        "overrides": cell.overrides, "same_run_as": f"{other.name}/{twin.name}"}
    return None


def _stands_alone(result: dict, cfg: config_lib.Config) -> bool:
    """Whether an earlier table's result file holds what a run of today records (best
    validation, training activity, the task's held-out ranking check): only such a file
    may stand for a run of another table."""
    needed = ["best_validation", "training"]
    if _has_ranking_check(tasks.get(cfg.task)):
        needed.append("ranking_check")
    return all(key in result for key in needed)


def _has_ranking_check(task: tasks.Task) -> bool:
    return type(task).ranking_check is not tasks.Task.ranking_check


def load_results(table: Table, results_dir: str) -> list[dict]:
    """Every result file of the table, in the order of its cells."""
    folder = os.path.join(results_dir, table.name)
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    results = []
    for cell in table.cells:
        for name in names:
            if name.startswith(f"{cell.name}_seed") and name.endswith(".json"):
                with open(os.path.join(folder, name)) as f:
                    results.append(json.load(f))
    return results


def summarise(table: Table, results: list[dict]) -> list[dict]:
    """One row per cell with results (per cell and cycle in curve tables): n seeds, mean
    and std (ddof=1) of every metric."""
    rows = []
    for cell in table.cells:
        runs = [r for r in results if r["cell"] == cell.name]
        if not runs:
            continue
        if table.kind == "curve" and "curve" in runs[0]:
            cycles = min(len(r["curve"]) for r in runs)
            for cycle in range(cycles):
                points = [r["curve"][cycle] for r in runs]
                row = {"cell": f"{cell.name}@{cycle}", "seeds": len(runs),
                       "strategy": cell.name, "labeled_fraction": float(np.mean(
                           [p["labeled_fraction"] for p in points]))}
                row.update(_spread(points))
                row["minutes_per_run"] = _minutes_per_run(runs)
                rows.append(row)
            continue
        row = {"cell": cell.name, "seeds": len(runs), **{
            k: cell.overrides.get(k) for k in (table.x_field, table.line_field) if k}}
        if table.kind == "curve":  # a reference run beside the curves
            row.update(strategy=cell.name, reference=True)
        if table.split == "validation":  # a sweep: validation numbers only
            row.update(_spread([{f"validation_{k}": v for k, v in r["best_validation"].items()}
                                for r in runs]))
            row["minutes_per_run"] = _minutes_per_run(runs)
            rows.append(_with_training(row, runs))
            continue
        row.update(_spread([r["metrics"] for r in runs]))
        for metric in table.metrics_of_last_checkpoints:
            if all(metric in r.get("metrics_last_checkpoint", {}) for r in runs):
                # Each run's last checkpoint too: selection on a small validation split
                # can pick an early one (see the Mall table).
                row.update(_spread([{f"{metric}_last": r["metrics_last_checkpoint"][
                    metric]} for r in runs]))
        row["minutes_per_run"] = _minutes_per_run(runs)
        rows.append(_with_training(row, runs))
    return rows


def _minutes_per_run(runs: list[dict]) -> float:
    """Mean wall minutes of the runs that trained in one go: a resumed run's file holds only
    its last process's time (NaN when every run of the cell was resumed)."""
    whole = [r["seconds"] for r in runs if not r.get("resumed_from")]
    return float(np.mean(whole) / 60) if whole else float("nan")


def _with_training(row: dict, runs: list[dict]) -> dict:
    """`row` with the share of training steps whose rank hinge was active, where every run
    recorded it (result files from before 2026-12-04 did not)."""
    if all("hinge_active_share" in r.get("training", {}) for r in runs):
        row.update(_spread([{"hinge_active_share": r["training"]["hinge_active_share"]}
                            for r in runs]))
    return row


def _spread(metrics: list[dict]) -> dict:
    out = {}
    for metric, value in metrics[0].items():
        if metric in ("cycle", "labeled", "labeled_fraction") or not isinstance(
                value, (int, float)):
            continue
        values = np.array([m[metric] for m in metrics], np.float64)
        out[f"{metric}_mean"] = float(values.mean())
        out[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


@dataclasses.dataclass(frozen=True)
class Judged:
    """One claim judged on its paired seeds (experiments.statistics)."""
    claim: Claim
    paired: statistics.Paired | None
    holm_p: float
    verdict: statistics.Verdict
    paper_gain: float | None      # the paper's relative gain in this table's units
    worse_mean: float | None      # the `worse` cell's mean over the paired seeds
    shared: int = 0               # how many seeds both cells ran

    def unpaired(self) -> str:
        """What stands in for a verdict when fewer than 2 seeds are shared."""
        return ("not run yet" if not self.shared else
                f"too few seeds ({self.shared} of {statistics.MIN_SEEDS}; one seed both "
                f"cells ran, no paired test)")

    def numbers(self, table: "Table") -> str:
        """The gain, its 95 % interval and p-values, for a table row."""
        p = self.paired
        if p is None:
            return ""
        digits = 3 if table.higher_is_better else 2
        text = (f"{_gain(p, digits)}, t-test p {p.t_p:.3g}, Holm p {self.holm_p:.3g}, "
                f"sign-flip p {p.sign_flip_p:.3g}, n {p.n}")
        if self.paper_gain is not None:
            text += f"; the paper's gain here {self.paper_gain:+.{digits}f}"
        return text

    def short(self) -> str:
        if self.verdict is statistics.Verdict.TOO_FEW_SEEDS:
            return f"too few seeds ({self.paired.n} of {statistics.MIN_SEEDS})"
        return self.verdict.value


def judge(table: Table, results: list[dict]) -> list[Judged]:
    """Every claim of `table`, judged by the paired statistics on the seeds both of its
    cells ran (the table's primary metric, each run's best checkpoint on validation;
    experiments.statistics): the per-seed gains, their t-test and 95 % interval, the
    exact sign-flip p, Holm's adjustment over the table's claims, and the verdict."""
    pairs = []
    for claim in table.claims:
        a, b = (_per_seed(table, results, name) for name in (claim.better, claim.worse))
        pairs.append((claim, statistics.paired(a, b, table.higher_is_better), b,
                      len(set(a) & set(b))))
    adjusted = statistics.holm([p.t_p if p else float("nan") for _, p, _, _ in pairs])
    judged = []
    for (claim, paired, b, shared), holm_p in zip(pairs, adjusted):
        worse_mean = float(np.mean([b[s] for s in paired.seeds])) if paired else None
        scale = abs(worse_mean) if worse_mean is not None else 0.0
        paper = claim.paper_gain * scale if claim.paper_gain is not None else None
        margin = (claim.margin * scale if claim.matches and claim.margin is not None
                  else None)
        verdict = statistics.judge(paired, holm_p, paper, margin)
        if claim.matches and claim.needs and verdict is statistics.Verdict.SUPPORTED:
            # Matching B says something only if B is better than the comparison it stands
            # for (e.g. 40 % of random labels better than 20 %).
            a2, b2 = (_per_seed(table, results, name) for name in claim.needs)
            needed = statistics.paired(a2, b2, table.higher_is_better)
            if statistics.judge(needed, needed.t_p if needed else float("nan")) \
                    is not statistics.Verdict.SUPPORTED:
                verdict = statistics.Verdict.INCONCLUSIVE
        judged.append(Judged(claim, paired, holm_p, verdict, paper, worse_mean, shared))
    return judged


def verdicts(table: Table, results: list[dict]) -> list[tuple[Claim, str]]:
    """(claim, verdict in words with its numbers) for every claim of `table`; in cell
    tables also the same paired test on the last checkpoints, marked secondary (the
    declared checkpoint is the best on validation: that one gives the verdict)."""
    out = []
    for j in judge(table, results):
        if j.paired is None:
            out.append((j.claim, j.unpaired()))
            continue
        text = f"{j.short()} ({j.numbers(table)})"
        last = (statistics.paired(*(_per_seed(table, results, name, "metrics_last_checkpoint")
                                    for name in (j.claim.better, j.claim.worse)),
                                  table.higher_is_better) if table.kind == "cells" else None)
        if last is not None:
            digits = 3 if table.higher_is_better else 2
            text += (f"; secondary, last checkpoints: {_gain(last, digits)}, t-test p "
                     f"{last.t_p:.3g}, n {last.n}")
        out.append((j.claim, text))
    return out


def readme_block(table: Table, results: list[dict]) -> str:
    """A short generated summary of `table` for another document (README): per cell the
    seeds, the headline metric and count ratio (mean ± std), then each claim's verdict."""
    rows = summarise(table, results)
    key = ("validation_" if table.split == "validation" else "") + table.metric
    extra = "count_ratio" if any("count_ratio_mean" in row for row in rows) else ""
    lines = [f"| cell | seeds | {key} (best checkpoint on validation) |"
             + (f" {extra} |" if extra else ""), "|---|---|---|" + ("---|" if extra else "")]
    for row in rows:
        lines.append(f"| {row['cell']} | {row['seeds']} | {row[f'{key}_mean']:.4g} ± "
                     f"{row[f'{key}_std']:.2g} |" + (f" {row[f'{extra}_mean']:.3g} |"
                                                    if extra else ""))
    lines += [""] + [f"- {claim.text}: {verdict}" for claim, verdict in verdicts(table, results)]
    return "\n".join(lines) + "\n"


def _gain(p: statistics.Paired, digits: int) -> str:
    """ "gain +m [low, high]": a paired mean gain and its 95 % interval."""
    return (f"gain {p.mean:+.{digits}f} [{p.ci95[0]:+.{digits}f}, "
            f"{p.ci95[1]:+.{digits}f}]")


def _mean_std(values, mean_format: str, std_format: str) -> str:
    """ "mean ± std" over seeds (ddof 1), or the mean alone for one value."""
    values = np.asarray(values, np.float64)
    return (f"{values.mean():{mean_format}} ± {values.std(ddof=1):{std_format}}"
            if len(values) > 1 else f"{values.mean():{mean_format}}")


def cells_block(picked: list[tuple[list[dict], str]]) -> str:
    """Markdown: per (a table's results, cell), the command a user runs for that cell, its
    seeds, test MAE of the best checkpoint on validation and of the last (mean ± std), count
    ratio, minutes per run and the machines the runs' files name."""
    lines = ["| command | seeds | test MAE, best on validation | last checkpoint | "
             "count ratio (best / last) | minutes per run | machines |",
             "|---|---|---|---|---|---|---|"]
    for results, cell in picked:
        runs = [r for r in results if r["cell"] == cell]
        if not runs:
            continue
        best, last = (np.array([r[key]["mae"] for r in runs])
                      for key in ("metrics", "metrics_last_checkpoint"))
        ratio_best, ratio_last = (np.mean([r[key]["count_ratio"] for r in runs])
                                  for key in ("metrics", "metrics_last_checkpoint"))
        flags = " ".join(f"--{k} {v}" for k, v in sorted(runs[0]["overrides"].items())
                         if k != "labeled_fraction" or v != 1.0)
        machines = sorted({f"{r['machine']['cpu']}, {r['machine']['date']}" for r in runs})
        best, last = (_mean_std(values, ".3g", ".2g") for values in (best, last))
        lines.append(f"| `python train.py --preset {runs[0]['preset']} {flags}` | {len(runs)} "
                     f"| {best} | {last} | {ratio_best:.2f} / {ratio_last:.2f} "
                     f"| {_minutes_per_run(runs):.0f} | {'; '.join(machines)} |")
    return "\n".join(lines) + "\n"


def presets_block(table: Table, results: list[dict]) -> str:
    """Markdown for a table of presets (e.g. pretrained_presets): per cell the command a
    user runs, its seeds, the table's test metric of the best checkpoint on validation and
    of the last (mean ± std over seeds), the training-mean predictor's on the same test
    images, minutes per run and the machines the runs' files name."""
    metric = table.metric
    lines = [f"| command | seeds | test {metric}, best on validation | last checkpoint | "
             f"training-mean predictor | minutes per run | machines |",
             "|---|---|---|---|---|---|---|"]
    for cell in table.cells:
        runs = [r for r in results if r["cell"] == cell.name]
        if not runs:
            continue
        best, last, mean = (_mean_std([r[key][metric] for r in runs], ".3g", ".2g")
                            for key in ("metrics", "metrics_last_checkpoint", "training_mean"))
        flags = " ".join(f"--{k} {v}" for k, v in sorted(runs[0]["overrides"].items()))
        machines = sorted({f"{r['machine']['cpu']}, {r['machine']['date']}" for r in runs})
        lines.append(f"| `python train.py --preset {runs[0]['preset']} {flags}` | {len(runs)} "
                     f"| {best} | {last} | {mean} | {_minutes_per_run(runs):.1f} | "
                     f"{'; '.join(machines)} |")
    return "\n".join(lines) + "\n"


def zoom_level_block(results_dir: str) -> str | None:
    """The README's table of examples/zoom_level.py (block `zoom_level`) from its per-seed
    files (results/zoom_level/seed*.json, written by the example's --results_file): test
    MAE of zoom of the best checkpoint on validation and of the last (mean ± std over
    seeds), SROCC, the training-mean predictor, and the example's declared claim judged
    as a claim table's is (paired by seed); None without files."""
    folder = os.path.join(results_dir, "zoom_level")
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if name.endswith(".json")) if os.path.isdir(folder) else []
    if not paths:
        return None
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    seeds = sorted(r["seed"] for r in runs)

    def per_seed(paradigm: str, key: str) -> dict[int, float]:
        return {r["seed"]: r[paradigm][key]["mae"] for r in runs}

    def spread(key: str, paradigm: str = "", metric: str = "mae") -> str:
        return _mean_std([(r[paradigm] if paradigm else r)[key][metric] for r in runs],
                         ".3f", ".3f")

    first = runs[0]
    lines = [f"| test images: {first['test_images']}, seeds {', '.join(map(str, seeds))} "
             "| MAE of zoom, best on validation | last checkpoint | SROCC (best) |",
             "|---|---|---|---|",
             f"| training mean for every image | "
             f"{spread('training_mean')} | | (constant) |"]
    for paradigm, label in (("baseline", "regression only (`baseline`)"),
                            ("multitask", "regression + ranking (`multitask`)")):
        lines.append(f"| {label} | {spread('test', paradigm)} | "
                     f"{spread('test_last', paradigm)} | "
                     f"{spread('test', paradigm, 'srocc')} |")
    best = statistics.paired(per_seed("multitask", "test"), per_seed("baseline", "test"),
                             higher_is_better=False)
    last = statistics.paired(per_seed("multitask", "test_last"),
                             per_seed("baseline", "test_last"), higher_is_better=False)
    claim = "ranking lowers the test MAE of zoom"
    if best is None:
        lines += ["", f"- {claim}: one seed, no paired test"]
    else:
        verdict = statistics.judge(best, best.t_p)
        words = (f"too few seeds ({best.n} of {statistics.MIN_SEEDS})"
                 if verdict is statistics.Verdict.TOO_FEW_SEEDS else verdict.value)
        lines += ["", f"- {claim}: {words} ({_gain(best, 3)}, t-test p {best.t_p:.3g}, "
                      f"sign-flip p {best.sign_flip_p:.3g}, n {best.n}; per seed "
                      + ", ".join(f"{g:+.3f}" for g in best.gains) + "); secondary, last "
                      f"checkpoints: {_gain(last, 3)}, t-test p {last.t_p:.3g}, n {last.n}"]
    machines = sorted({f"{r['machine']['cpu']} ({r['machine']['cores']} cores), "
                       f"{r['machine']['date']}" for r in runs})
    minutes = np.mean([r["seconds"] for r in runs]) / 60
    lines.append(f"- {first['labeled_images']} labeled and {first['unlabeled_images']} "
                 f"unlabeled images, {first['steps']} steps; runs on {'; '.join(machines)}, "
                 f"{minutes:.1f} minutes per seed (both runs); from results/zoom_level/")
    return "\n".join(lines) + "\n"


def benchmark_record(results_dir: str, name: str) -> dict | None:
    """The file a benchmark wrote, results/benchmarks/<name>.json; None without it."""
    path = os.path.join(results_dir, "benchmarks", f"{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def pretrained_check_block(results_dir: str) -> str | None:
    """The README's numbers of benchmarks/pretrained_check.py (block `pretrained_check`):
    rankjax's EfficientNet-Lite0 ImageNet logits against the PyTorch port's, per size and
    depthwise path, from results/benchmarks/pretrained_check.json; None without it."""
    record = benchmark_record(results_dir, "pretrained_check")
    if record is None:
        return None
    lines = ["| input | depthwise path | max abs logit difference | top-5 classes agree |",
             "|---|---|---|---|"]
    for row in record["rows"]:
        lines.append(f"| {row['size']} | {row['depthwise']} | {row['max_abs_logit_diff']:.2g} "
                     f"| {'yes' if row['top5_agree'] else 'no'} ({row['top5'][0]} first) |")
    m = record["machine"]
    lines += ["", f"`{record['command']}` on {m['cpu']} ({m['cores']} cores), {m['date']}, "
                  f"torch {record['versions']['torch']}, jax {record['versions']['jax']} "
                  f"(results/benchmarks/pretrained_check.json)."]
    return "\n".join(lines) + "\n"


def startup_block(results_dir: str) -> str | None:
    """BENCHMARKS.md's start-up times of the command lines (block `startup`), from
    results/benchmarks/startup.json (benchmarks/startup.py); None without it."""
    record = benchmark_record(results_dir, "startup")
    if record is None:
        return None
    library = next(r for r in record["rows"] if "rankjax.commands" in r["command"])
    lines = ["| command | seconds (median) | x importing rankjax.commands | modules loaded |",
             "|---|---|---|---|"]
    for row in record["rows"]:
        lines.append(f"| `{row['command']}` | {row['median_s']:.2f} | "
                     f"{row['median_s'] / library['median_s']:.2f} | {row['modules']} |")
    m = record["machine"]
    lines += ["", f"`{record['command']}` ({record['repeats']} runs of each, interleaved) on "
                  f"{m['cpu']} ({m['cores']} cores; {m.get('vector_flags', '')}), {m['date']}, "
                  f"Python {m['python']}; load average {record['load_average_at_end']:.2f} at "
                  f"its end (results/benchmarks/startup.json)."]
    return "\n".join(lines) + "\n"


def transcript_block(results_dir: str, name: str, same_as: str = "") -> str | None:
    """A README block showing what a newcomer's command printed (shortened), from
    results/transcripts/<name>.json (scripts/readme_transcripts.py), with its wall time,
    machine and load; with `same_as` (a table's result file of the same command), whether
    its test metrics are that file's to the last digit. None without the file."""
    path = os.path.join(results_dir, "transcripts", f"{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    m = record["machine"]
    flags = m.get("vector_flags", "").split()
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    lines = ["```", f"$ {record['command']}", *record["lines"], "```", "",
             f"It took {record['seconds']:.0f} s on {m['cpu']} ({m['cores']} cores, "
             f"{vectors}), {m['date']}, load average "
             f"{record['load_average_before']:.1f} when it started (results/transcripts/"
             f"{name}.json, written by `python scripts/readme_transcripts.py`)."]
    if same_as and os.path.isfile(os.path.join(results_dir, same_as)):
        with open(os.path.join(results_dir, same_as)) as f:
            table_metrics = json.load(f)["metrics"]
        printed = next((json.loads(line.split(":", 1)[1]) for line in record["lines"]
                        if line.startswith("test metrics:")), None)
        same = printed is not None and all(printed.get(k) == v for k, v in
                                           table_metrics.items())
        lines[-1] += (f" Its test metrics are {'the same to the last digit as' if same else 'not'}"
                      f" those of results/{same_as}, the same command run by the table "
                      f"runner{' (the default is deterministic)' if same else ''}.")
    return "\n".join(lines) + "\n"


def fill_blocks(text: str, blocks: dict[str, str]) -> str:
    """`text` with the part between `<!-- results:NAME -->` and `<!-- /results:NAME -->`
    replaced by blocks[NAME] (names without a block are left as they are)."""
    for name, block in blocks.items():
        start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}{start}\n{block}{end}{tail}"
    return text


def claims_at_a_glance(tables: list[tuple[Table, list[dict]]]) -> str:
    """Markdown: one row per claim of every (table, its results): the paper's or ours, the
    verdict and the numbers it rests on (the tables below give the reasoning)."""
    lines = ["## Every claim at a glance", "",
             "Each claim is judged on the per-seed differences of its two cells (the same "
             "labeled images and initial weights in both), on the table's metric of each "
             "run's best checkpoint on validation: the mean gain in the claimed direction "
             "with its 95 % confidence interval (paired t-test), the t-test's p, Holm's "
             "adjustment over the table's claims, the exact sign-flip p, and n seeds. "
             "Supported / contradicted: Holm p < 0.05 and the interval excludes 0 on that "
             "side; paper-sized effect excluded: the interval ends below the gain the "
             "paper reports; too few seeds: fewer than "
             f"{statistics.MIN_SEEDS} (numbers shown, no verdict). Whose: the paper's "
             "claim, or ours (a test of an explanation of what the paper's tables showed "
             "here).", "",
             *_claim_rows(tables)]
    return "\n".join(lines) + "\n"


def claims_block(tables: list[tuple[Table, list[dict]]]) -> str:
    """A generated block for the README: every claim of `tables` (their results may be
    empty: "not run yet") with its verdict and numbers, as RESULTS.md's glance table."""
    return "\n".join(_claim_rows(tables)) + "\n"


def claims_plot(tables: list[tuple[Table, list[dict]]], path: str) -> str | None:
    """A forest plot of every claim of `tables` that has a paired test: the mean gain in
    the claimed direction with its 95 % interval, as a percentage of the `worse` cell's
    mean (so MAE and SROCC claims share an axis), the paper's relative gain beside it, and
    n seeds and the verdict in the label. None when no claim has two paired seeds."""
    judged = [(table, j) for table, results in tables for j in judge(table, results)
              if j.paired is not None and j.worse_mean]
    if not judged:
        return None
    plt = pictures.plt  # Agg backend, chosen by rankjax.pictures
    colours = {statistics.Verdict.SUPPORTED: "tab:green",
               statistics.Verdict.CONTRADICTED: "tab:red",
               statistics.Verdict.PAPER_SIZED_EXCLUDED: "tab:orange"}
    figure, axis = plt.subplots(figsize=(8, 0.6 * len(judged) + 1.5))
    for row, (table, j) in enumerate(reversed(judged)):
        scale = 100 / abs(j.worse_mean)
        low, high = (scale * end for end in j.paired.ci95)
        colour = colours.get(j.verdict, "tab:gray")
        axis.errorbar(scale * j.paired.mean, row, xerr=[[scale * j.paired.mean - low],
                                                        [high - scale * j.paired.mean]],
                      fmt="o", color=colour, capsize=3)
        if j.claim.paper_gain is not None:
            axis.plot(100 * j.claim.paper_gain, row, "D", color="black", markersize=5,
                      label="the paper's gain" if "the paper's gain" not in
                      axis.get_legend_handles_labels()[1] else None)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_yticks(range(len(judged)))
    axis.set_yticklabels([f"{table.name}: {j.claim.better} vs {j.claim.worse}\n"
                          f"n {j.paired.n}, {j.short()}" for table, j in reversed(judged)],
                         fontsize=7)
    axis.set_xlabel("gain in the claimed direction, % of the worse cell's mean\n"
                    "(mean and 95 % interval over paired seeds; the best checkpoints)",
                    fontsize=8)
    if axis.get_legend_handles_labels()[1]:
        axis.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return path


def _claim_rows(tables: list[tuple[Table, list[dict]]]) -> list[str]:
    lines = ["| table | claim | whose | verdict | numbers |", "|---|---|---|---|---|"]
    for table, results in tables:
        for j in judge(table, results):
            whose = j.claim.whose(table)
            short = j.short() if j.paired else j.unpaired()
            lines.append(f"| {table.name} | {j.claim.text} | {whose} | {short} | "
                         f"{j.numbers(table)} |")
    return lines


def _per_seed(table: Table, results: list[dict], name: str,
              checkpoint: str = "metrics") -> dict[int, float]:
    """{seed: the table's metric} of a cell, or of "<cell>@<cycle>" in curve tables;
    `checkpoint="metrics_last_checkpoint"`: of each run's last checkpoint (seeds whose
    result has none are left out)."""
    cell, _, cycle = name.partition("@")
    values = {}
    for r in results:
        if r["cell"] != cell:
            continue
        if cycle:
            if "curve" in r and int(cycle) < len(r["curve"]):
                values[r["seed"]] = r["curve"][int(cycle)][table.metric]
        elif table.metric in r.get(checkpoint, {}):
            values[r["seed"]] = r[checkpoint][table.metric]
    return values


def paired_claims(table: Table, results: list[dict]) -> list[dict]:
    """Cell tables: for each claim, its `better` cell minus its `worse` cell, seed by seed
    (the seeds both ran), on the best checkpoints and on the last ones. Pairing by seed
    removes what the two runs of a seed share (the labeled subset, the initial weights)."""
    if table.kind != "cells":
        return []
    rows = []
    for claim in table.claims:
        row = {"better": claim.better, "worse": claim.worse}
        for key, checkpoint in (("best", "metrics"), ("last", "metrics_last_checkpoint")):
            a, b = (_per_seed(table, results, name, checkpoint)
                    for name in (claim.better, claim.worse))
            row[key] = {s: a[s] - b[s] for s in sorted(set(a) & set(b))}
        if row["best"]:
            rows.append(row)
    return rows


def paired_by_seed(table: Table, results: list[dict]) -> list[dict]:
    """Curve tables: per cycle, the first strategy's metric minus the second's for each seed
    both ran (the two share the seed's initial labeled set and first training, so the
    per-seed difference isolates the selection)."""
    strategies = [c.name for c in table.cells if c.overrides.get("active_learning")]
    if table.kind != "curve" or len(strategies) < 2:
        return []
    first, second = ({r["seed"]: r["curve"] for r in results
                      if r["cell"] == name and "curve" in r} for name in strategies[:2])
    seeds = sorted(set(first) & set(second))
    rows = []
    for cycle in range(min((min(len(first[s]), len(second[s])) for s in seeds), default=0)):
        differences = [first[s][cycle][table.metric] - second[s][cycle][table.metric]
                       for s in seeds]
        rows.append({"cycle": cycle, "labeled_fraction": first[seeds[0]][cycle][
            "labeled_fraction"], "seeds": seeds, "differences": differences,
            "mean": float(np.mean(differences))})
    return rows


def write_csv(path: str, rows: list[dict]) -> None:
    import csv

    keys = list(dict.fromkeys(k for row in rows for k in row))

    def write(f):
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)

    rundir.write_atomic(path, write)


def plot(table: Table, rows: list[dict], path: str) -> str | None:
    """Metric vs the x field, one line per line-field value, error bars = std over seeds."""
    if not table.x_field or not rows:
        return None
    plt = pictures.plt  # Agg backend, chosen by rankjax.pictures

    key = ("validation_" if table.split == "validation" else "") + table.metric
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for row in rows:
        if row.get("reference"):
            axis.axhline(row[f"{key}_mean"], linestyle="--", color="gray",
                         label=row["cell"])
    rows = [row for row in rows if not row.get("reference")]
    for line in dict.fromkeys(row[table.line_field] for row in rows):
        points = sorted((row[table.x_field], row[f"{key}_mean"],
                         row[f"{key}_std"]) for row in rows
                        if row[table.line_field] == line)
        x, y, err = zip(*points)
        axis.errorbar(x, y, yerr=err, marker="o", capsize=3, label=line)
    axis.set_xlabel(table.x_field.replace("_", " "))
    axis.set_ylabel(f"{table.split} {table.metric} (mean ± std over seeds)")
    axis.set_title(table.title, fontsize=9)
    axis.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


# Each table's note: experiments/notes/<table>.md, Markdown. A number in it is written as
# {{ expression }} (or {{ expression :format }}) and filled in from the table's result
# files when the report is built; see `fill_note`.
NOTES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes")
PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}", re.S)
DECIMAL = re.compile(r"(?<![\w.])[-+]?\d+\.\d+")
# Tables declared from this date on may not type a decimal number into their note: each
# comes from a placeholder. Older notes are listed by `typed_numbers` (--check_notes).
GENERATED_NOTES_FROM = "2026-12-04"


class NoteError(ValueError):
    pass


def _field(result: dict, key: str):
    """`key` is a dotted path; a number indexes a list (e.g. "curve.1.mae")."""
    value = result
    for part in key.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(key)
    return value


def note_functions(table: Table, results: list[dict]) -> dict:
    """What a note's placeholders may call; `key` is a dotted path in a result file
    (e.g. "metrics.mae", "best_validation.mae", "training.hinge_active_share", "curve.1.mae"
    for the second cycle of an active-learning curve):
    value(cell, seed, key); mean / std / minimum / maximum (cell, key) over seeds;
    difference(a, b, seed, key) and mean_difference(a, b, key) over the seeds both ran;
    below(a, b, key): on how many of those seeds a's value is below b's;
    seeds(cell): how many seeds ran."""
    by_cell: dict[str, dict[int, dict]] = {}
    for result in results:
        by_cell.setdefault(result["cell"], {})[result["seed"]] = result

    def runs(cell):
        if cell not in by_cell:
            raise KeyError(f"cell {cell!r} has no result file")
        return by_cell[cell]

    def values(cell, key):
        return [float(_field(r, key)) for _, r in sorted(runs(cell).items())]

    def value(cell, seed, key):
        if seed not in runs(cell):
            raise KeyError(f"cell {cell!r} has no seed {seed}")
        return float(_field(runs(cell)[seed], key))

    def shared(a, b):
        return sorted(set(runs(a)) & set(runs(b)))

    return {
        "value": value,
        "mean": lambda cell, key: float(np.mean(values(cell, key))),
        "std": lambda cell, key: float(np.std(values(cell, key), ddof=1)),
        "minimum": lambda cell, key: min(values(cell, key)),
        "maximum": lambda cell, key: max(values(cell, key)),
        "seeds": lambda cell: len(runs(cell)),
        "difference": lambda a, b, seed, key: value(a, seed, key) - value(b, seed, key),
        "mean_difference": lambda a, b, key: float(np.mean(
            [value(a, s, key) - value(b, s, key) for s in shared(a, b)])),
        "below": lambda a, b, key: sum(value(a, s, key) < value(b, s, key)
                                       for s in shared(a, b)),
    }


def note_template(table: Table) -> str:
    path = os.path.join(NOTES_DIR, f"{table.name}.md")
    if not os.path.isfile(path):
        return ""
    with open(path) as f:
        return f.read().strip()


def fill_note(table: Table, results: list[dict]) -> str:
    """The table's note with every {{ expression :format }} computed from `results`. Once
    every (cell, seed) of the table ran, a placeholder that no result file can fill raises
    NoteError naming it (before, it reads "(not run yet)"); so does a decimal number typed
    into the note of a table declared from GENERATED_NOTES_FROM on."""
    template = note_template(table)
    if table.declared >= GENERATED_NOTES_FROM and typed_numbers(template):
        raise NoteError(f"experiments/notes/{table.name}.md types "
                        f"{', '.join(typed_numbers(template))}: write each number as a "
                        f"{{{{ placeholder }}}} filled from the result files")
    functions = note_functions(table, results)
    ran = {(r["cell"], r["seed"]) for r in results}
    complete = all((cell.name, seed) in ran for cell in table.cells for seed in table.seeds)

    def fill(match):
        body = match.group(1).strip()
        expression, separator, spec = body.rpartition(" :")
        if not separator:
            expression, spec = body, ""
        try:
            number = eval(expression, {"__builtins__": {}}, functions)  # noqa: S307
        except Exception as error:  # a missing cell, seed or key
            if not complete and isinstance(error, KeyError):
                return "(not run yet)"  # the table is still running
            raise NoteError(f"experiments/notes/{table.name}.md: {{{{{match.group(1)}}}}} "
                            f"cannot be filled from results/{table.name}: {error}") from error
        return format(number, spec.strip() or ".3g")

    return PLACEHOLDER.sub(fill, template)


def typed_numbers(template: str) -> list[str]:
    """The decimal numbers typed by hand into a note (outside its placeholders)."""
    return DECIMAL.findall(PLACEHOLDER.sub("", template))


def markdown(table: Table, rows: list[dict], results: list[dict], command: str,
             picture: str | None = None) -> str:
    metrics = [k[:-5] for k in dict.fromkeys(k for row in rows for k in row)
               if k.endswith("_mean") and k[:-5] != "images"]
    lines = [f"## {table.title} (`{table.name}`)", "", f"Command: `{command}`", ""]
    note = fill_note(table, results)
    if note:
        lines += [note, ""]
    machines = {(r["machine"].get("cpu", ""), r["machine"].get("vector_flags", ""),
                 r["machine"].get("cores")) for r in results}
    dates = sorted({r["machine"].get("date", "") for r in results})
    for cpu, flags, cores in sorted(machines, key=str):
        lines.append(f"Machine: {cpu}, {cores} cores ({flags}). ")
    if dates:
        lines.append(f"Dates: {dates[0]} to {dates[-1]}." if len(dates) > 1 else
                     f"Date: {dates[0]}.")
    lines += ["", "| cell | seeds | " + " | ".join(metrics) + " | paper | minutes per run |",
              "|---" * (len(metrics) + 4) + "|"]
    for row in rows:
        cells = [f"{row[f'{m}_mean']:.4g} ± {row[f'{m}_std']:.2g}" if f"{m}_mean" in row
                 else "" for m in metrics]  # e.g. no `_last` metric in an old result file
        paper = table.paper.get(row["cell"], "")
        minutes = (f"{row['minutes_per_run']:.1f}" if np.isfinite(row["minutes_per_run"])
                   else "resumed")
        name = row["cell"]
        if table.kind == "curve" and row.get("labeled_fraction"):
            name += f" ({100 * row['labeled_fraction']:.0f}% labeled)"
        lines.append(f"| {name} | {row['seeds']} | " + " | ".join(cells) +
                     f" | {paper} | {minutes} |")
    done = {row["cell"].split("@")[0] for row in rows}
    missing = [c.name for c in table.cells if c.name not in done]
    if missing:
        lines += ["", f"Not run yet: {', '.join(missing)}."]
    paired = paired_by_seed(table, results)
    if paired:
        a, b = [c.name for c in table.cells if c.overrides.get("active_learning")][:2]
        lines += ["", f"Paired by seed ({a} minus {b}, test {table.metric}; each seed's two "
                  "runs share their first cycle):", "",
                  "| labeled | " + " | ".join(f"seed {s}" for s in paired[0]["seeds"]) +
                  " | mean |", "|---" * (len(paired[0]["seeds"]) + 2) + "|"]
        lines += [f"| {100 * p['labeled_fraction']:.0f}% | " + " | ".join(
            f"{d:+.3g}" for d in p["differences"]) + f" | {p['mean']:+.3g} |" for p in paired]
    claim_pairs = paired_claims(table, results)
    digits = 3 if table.higher_is_better else 2

    def both(best, last):
        return f"{best:+.{digits}f}" + ("" if last is None else f" ({last:+.{digits}f})")

    if claim_pairs:
        seeds = sorted({s for p in claim_pairs for s in p["best"]})
        lines += ["", f"Paired by seed (first cell minus second, test {table.metric} of the "
                  "best checkpoint on validation; of the last checkpoint in brackets; "
                  + ("positive: the first is better" if table.higher_is_better else
                     "negative: the first is better") + "):", "",
                  "| pair | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
                  "|---" * (len(seeds) + 2) + "|"]
        for p in claim_pairs:
            cells = [both(p["best"][s], p["last"].get(s)) if s in p["best"] else ""
                     for s in seeds]
            mean_last = (float(np.mean(list(p["last"].values())))
                         if p["last"].keys() == p["best"].keys() else None)
            lines.append(f"| {p['better']} - {p['worse']} | " + " | ".join(cells) + " | " +
                         both(float(np.mean(list(p["best"].values()))), mean_last) + " |")
    if table.claims:
        lines += ["", "Verdicts:", ""]
        lines += [f"- {claim.text}: {verdict}" for claim, verdict in verdicts(table, results)]
    if picture:
        lines += ["", f"![{table.name}]({picture})"]
    return "\n".join(lines) + "\n"
