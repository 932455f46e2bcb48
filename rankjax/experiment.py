"""train_and_evaluate(cfg, workdir): the whole run, resumable, with files a user can read.

Run directory:
    config.json            the resolved config (a different config here is refused)
    metrics.jsonl          one JSON line per log step and per validation
    checkpoints/, best/    orbax checkpoints (latest two; best on validation)
    validation/step_N/     pictures of a few validation images (tasks that draw them)
    test/                  results.json, predictions.csv, pictures: best checkpoint on validation
    test_last/             the same for the last checkpoint
    training_curves.png
    summary.json           wall time per part of the run, best step, test metrics

Rerunning the same command resumes from the last checkpoint; in deterministic mode a
run killed at any point and restarted ends with the same numbers as one that never
stopped (the input pipeline skips to the batch it would have read next). Nothing here
depends on the task: the trainer asks rankjax.tasks for everything task-specific.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from clu import periodic_actions
from tqdm import tqdm

from rankjax import (checkpoints, checks, evaluation, input_pipeline, pictures, rundir,
                     sharding, stopping, storage, tasks, timing, training)
from rankjax.config import Config
from rankjax.data import splits
from rankjax.data.splits import Sources
from rankjax.errors import RunDirError, TrainingDiverged
from rankjax.tasks.base import Evaluation

log = logging.getLogger(__name__)

__all__ = ["train_and_evaluate", "evaluate_split", "RunDirError", "TrainingDiverged", "Sources"]


# Fewer validation images than this get a warning: the best checkpoint is chosen on them.
SMALL_VALIDATION = 10


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    steps: int          # global step at which this phase ends
    labeled: bool
    ranked: bool
    # Starts with a new optimizer (moments, step count and so the learning-rate schedule
    # begin again), as fine-tuning a ranking network with a fresh solver does.
    fresh_optimizer: bool = False


def phases(cfg: Config) -> list[Phase]:
    if cfg.paradigm == "baseline":
        return [Phase("baseline", cfg.steps, True, False)]
    if cfg.paradigm == "rank_only":
        return [Phase("rank_only", cfg.steps, False, True)]
    if cfg.paradigm == "rank_then_finetune":
        return [Phase("rank", cfg.steps, False, True),
                Phase("finetune", cfg.steps + cfg.finetune_steps, True, False,
                      fresh_optimizer=True)]
    return [Phase("multitask", cfg.steps, True, True)]


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


@jax.jit
def _window_start(metrics: dict) -> dict:
    """A log window's running sums from its first step's metrics, with `hinge_active` (1 if
    the step's rank hinge was above zero)."""
    if "rank_loss" in metrics:
        metrics = {**metrics, "hinge_active": (metrics["rank_loss"] > 0).astype(jnp.float32)}
    return metrics


@jax.jit
def _window_add(window: dict, metrics: dict) -> dict:
    return jax.tree.map(jnp.add, window, _window_start(metrics))


def _window_means(window: dict, steps: int) -> dict:
    """Every training metric averaged over the steps of its log window (hinge_active
    becomes the share of those steps with an active hinge)."""
    means = {k: v / steps for k, v in _scalars(window).items()}
    if "hinge_active" in means:
        means["hinge_active_share"] = means.pop("hinge_active")
    return {**means, "steps_in_window": steps}


def evaluate_split(cfg: Config, model, params, records: list, out_dir: str | None,
                   checkpoint: str = "", split: str = "test", tables: bool = True) -> dict:
    """Metrics of `records`; with `out_dir`, also the task's pictures and (if `tables`)
    results.json and predictions.csv, all from one prediction pass."""
    task = tasks.get(cfg.task)
    if not records:
        raise ValueError(f"nothing to evaluate: the {split} split is empty")
    if jax.process_count() > 1:
        result, shown = _evaluate_in_slices(cfg, task, model, params, records)
    else:
        result = shown = task.evaluate(cfg, evaluation.make_predict_fn(model), params, records)
    if out_dir and rundir.is_writer():
        if tables:
            rundir.write_predictions_csv(storage.join(out_dir, "predictions.csv"),
                                         result.predictions, task.value_name)
            rundir.write_results(storage.join(out_dir, "results.json"), result.metrics, cfg,
                                 split, checkpoint)
        task.save_pictures(cfg, shown, out_dir, split)  # process 0's slice when split up
    return result.metrics


def _evaluate_in_slices(cfg: Config, task, model, params, records: list):
    """Multi-process evaluation: process p predicts the p-th contiguous slice of the split
    with a host copy of the (replicated) weights, (truth, prediction) pairs are gathered,
    and every process computes the metrics of the whole split.

    Returns (the whole split's Evaluation, without extras; this process's own Evaluation,
    which pictures are drawn from)."""
    from jax.experimental import multihost_utils

    count, index = jax.process_count(), jax.process_index()
    per = -(-len(records) // count)
    start = min(index * per, len(records))
    mine = records[start:start + per]
    local_params = jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), params)
    own = (task.evaluate(cfg, evaluation.make_predict_fn(model), local_params, mine,
                         first_index=start) if mine else Evaluation({}, [], []))
    rows = np.full((per, 3), np.nan, np.float64)  # truth, prediction, raw (NaN: none)
    rows[:len(mine)] = [(p.truth, p.predicted, np.nan if p.raw is None else p.raw)
                        for p in own.predictions]
    gathered = np.asarray(multihost_utils.process_allgather(rows)).reshape(-1, 3)
    predictions = [evaluation.Prediction(r.name, float(t), float(v), r.path,
                                         None if np.isnan(raw) else float(raw))
                   for r, (t, v, raw) in zip(records, gathered[:len(records)])]
    return Evaluation(task.metrics(predictions), predictions, records), own


def train_and_evaluate(cfg: Config, workdir: str, overwrite: bool = False,
                       progress: bool = True, sources: Sources | None = None,
                       initial_params=None) -> dict:
    """Trains `cfg` in `workdir` (resuming if it holds this run) and evaluates on the test split.

    Returns the test metrics of the best checkpoint on validation (in `test/`; the last
    checkpoint's are in `test_last/`, and they are the same run when the last was best
    or there is no validation split). `summary.json` records where the wall time went
    (start-up, compilation, training steps, validation, checkpoints, test) and which
    step was best.

    `sources` gives the data explicitly (which records are labeled, which images are
    the unlabeled pool, validation and test), e.g. for sweeps and active-learning cycles;
    by default the configured dataset is read and split. `initial_params` starts a new
    run from those weights instead of the config's initialisation (a resumed run ignores
    it). Returns the test metrics.
    Safe to call several times in one process; multi-host setup
    (`sharding.maybe_initialize_distributed`) is the caller's, once per process.
    """
    clock = timing.PartClock()
    with clock("startup"):
        # The config's names are checked, and the data read (and any problem with it
        # reported), before the run directory is touched; then the folder must be
        # writable and free.
        checks.check(cfg)
        sources = splits.build_sources(cfg) if sources is None else sources
        if initial_params is None and not checkpoints.has_latest(workdir):
            initial_params = _pretrained_params(cfg)  # None unless the config imports some
        rundir.check_writable(workdir)
    with rundir.RunLock(workdir), rundir.full_disk_stops_the_run(workdir):
        with clock("startup"):
            changed = rundir.prepare(cfg, workdir, overwrite)
        with checkpoints.RunCheckpoints(workdir, writer=True) as store:
            return _train(cfg, workdir, changed, store, progress, sources, initial_params,
                          clock)


@dataclasses.dataclass
class _Loop:
    """What the training loop carries from step to step, and what it trains with."""
    cfg: Config
    workdir: str
    task: tasks.Task
    sources: Sources
    store: checkpoints.RunCheckpoints
    clock: timing.PartClock
    mesh: jax.sharding.Mesh
    model: object
    tx: object
    state: object
    train_step: object
    usable: object
    metrics_log: rundir.MetricsLog
    best: float | None                  # the best validation value so far
    history: list[tuple[int, float]]    # (step, validation value), this run's every one
    total: int = 0                      # the step the run ends at
    stopped_early: int | None = None
    bar: tqdm | None = None

    @property
    def meta(self) -> dict:
        return {"task": self.cfg.task, "name": self.cfg.name}


class _Window:
    """The training metrics of one log window, summed on the device, and its speed."""

    def __init__(self, images_per_step: int):
        self.images_per_step = images_per_step
        self.restart()

    def restart(self) -> None:
        self.sums, self.steps, self.started = None, 0, time.perf_counter()

    def add(self, metrics: dict) -> None:
        self.sums = _window_start(metrics) if self.sums is None else _window_add(self.sums,
                                                                                metrics)
        self.steps += 1


def _train(cfg: Config, workdir: str, changed: dict, store: checkpoints.RunCheckpoints,
           progress: bool, sources: Sources, initial_params, clock: timing.PartClock) -> dict:
    with clock("startup"):
        _describe_data(cfg, sources)
        loop, start = _start(cfg, workdir, changed, store, sources, initial_params, clock)
    _plan_the_end(loop, start)
    loop.bar = tqdm(total=loop.total, initial=start, unit="step", dynamic_ncols=True,
                    disable=not progress or jax.process_index() != 0, desc=cfg.name)
    resumed_from, phase_start = start, 0
    for phase in phases(cfg):
        if start >= phase.steps or loop.stopped_early:
            phase_start = phase.steps
            continue
        _train_phase(loop, phase, start, phase_start)
        if loop.stopped_early:
            break
        start = phase_start = phase.steps
    loop.bar.close()
    return _finish(loop, resumed_from)


def _describe_data(cfg: Config, sources: Sources) -> None:
    """The data: lines of the log, and warnings about too few images."""
    log.info("data: %d labeled, %d unlabeled, %d validation, %d test images",
             len(sources.labeled), len(sources.unlabeled), len(sources.validation),
             len(sources.test))
    for line in tasks.get(cfg.task).describe(cfg):
        log.info("data: %s", line)
    if any(p.labeled for p in phases(cfg)) and len(sources.labeled) < cfg.labeled_batch:
        log.warning("only %d labeled image(s), fewer than labeled_batch %d: every batch "
                    "repeats them; label more images or raise --labeled_fraction",
                    len(sources.labeled), cfg.labeled_batch)
    if 0 < len(sources.validation) < SMALL_VALIDATION:
        log.warning("only %d validation image(s) choose the best checkpoint: a noisy "
                    "choice; raise --validation_fraction (now %g) for more",
                    len(sources.validation), cfg.validation_fraction)


def _start(cfg: Config, workdir: str, changed: dict, store, sources: Sources,
           initial_params, clock: timing.PartClock) -> tuple[_Loop, int]:
    """The loop at the run's start or its last checkpoint, and that step."""
    task = tasks.get(cfg.task)
    mesh = sharding.make_mesh()
    log.info("devices: %d %s device(s) in %d process(es); batch sharded over all of them",
             jax.device_count(), jax.default_backend(), jax.process_count())
    model, tx = training.build_model(cfg), training.make_optimizer(cfg)
    state, start = _restore_or_create(cfg, workdir, store, model, tx, mesh, changed,
                                      initial_params)
    best_meta = store.best_meta()
    metrics_log = rundir.MetricsLog(storage.join(workdir, "metrics.jsonl"), start,
                                    storage.join(workdir, "tensorboard"))
    if changed and start > 0:
        metrics_log.write({"kind": "config_change", "step": start,
                           "changes": {k: list(v) for k, v in sorted(changed.items())}})
    return _Loop(cfg, workdir, task, sources, store, clock, mesh, model, tx, state,
                 train_step=training.make_train_step(cfg, model, tx, mesh),
                 usable=training.make_state_check(cfg, model, mesh), metrics_log=metrics_log,
                 best=best_meta["metrics"][task.selection_metric] if best_meta else None,
                 history=rundir.validations(storage.join(workdir, "metrics.jsonl"),
                                            task.selection_metric)), start


def _plan_the_end(loop: _Loop, start: int) -> None:
    """The step the run ends at: the config's, or `start` where an earlier process of this
    run stopped early there."""
    loop.total = phases(loop.cfg)[-1].steps
    if start > loop.total:
        raise RunDirError(f"{loop.workdir} is already trained to step {start}, beyond the "
                          f"{loop.total} steps asked for; evaluate it with eval.py, or use "
                          f"--overwrite")
    history, task = loop.history, loop.task
    if history and history[-1][0] == start and _patience_spent(loop.cfg, task, history):
        loop.stopped_early = loop.total = start
        log.info("stopped early at step %d (no validation %s better by %g %% in the last %d); "
                 "--patience 0 trains the remaining steps", start, task.selection_metric,
                 100 * PATIENCE_MIN_GAIN, loop.cfg.patience)


def _train_phase(loop: _Loop, phase: Phase, start: int, phase_start: int) -> None:
    """Steps `start` to the end of `phase`, logging, validating and saving as due."""
    cfg, process_count, process_index = loop.cfg, jax.process_count(), jax.process_index()
    if phase.fresh_optimizer and start == phase_start:
        loop.state = training.with_fresh_optimizer(loop.state, loop.tx, loop.mesh)
    lr_offset = phase_start if phase.fresh_optimizer else 0
    labeled = cfg.labeled_batch // process_count if phase.labeled else 0
    groups = cfg.ranked_groups // process_count if phase.ranked else 0
    with loop.clock("startup"):
        batches = input_pipeline.train_batches(loop.sources, cfg, cfg.seed, labeled, groups,
                                               process_index, process_count,
                                               start_batch=start - phase_start)
    if process_count > 1:
        log.info("input: process %d of %d reads rows [%d, %d) of every %d labeled images "
                 "and ranked sets [%d, %d) of every %d", process_index, process_count,
                 process_index * labeled, (process_index + 1) * labeled,
                 labeled * process_count, process_index * groups,
                 (process_index + 1) * groups, groups * process_count)
    window = _Window((labeled + groups * cfg.ranked_per_group) * process_count)
    compiled = False
    due = [Due(every, last=loop.total)
           for every in (cfg.log_every, cfg.eval_every, cfg.checkpoint_every)]
    for step in range(start, phase.steps):
        stopping.raise_if_requested()
        with loop.clock("training steps" if compiled else "compilation and first step"):
            batch = sharding.global_batch(next(batches), loop.mesh)
            loop.state, metrics = loop.train_step(loop.state, batch)
            window.add(metrics)
            if not compiled:
                jax.block_until_ready(metrics)
                compiled, window.started = True, time.perf_counter()
        done = step + 1
        loop.bar.update(1)
        logs, validates, checkpoints_now = (each(done) for each in due)
        if logs or checkpoints_now or validates:
            _stop_if_diverged(loop, phase, metrics, batch, done, checkpoints_now or validates)
        if logs:
            _log_window(loop, phase, window, done, lr_offset)
        if validates and loop.sources.validation and _validate(loop, done):
            return  # stopped early
        if checkpoints_now:
            with loop.clock("checkpoints"):
                loop.store.save(loop.state, {**loop.meta, "step": done})


def _stop_if_diverged(loop: _Loop, phase: Phase, metrics: dict, batch, done: int,
                      saves: bool) -> None:
    """A non-finite loss stops the run; so does, before anything is evaluated or saved, a
    state whose weights or loss on this batch are not finite: no checkpoint ever holds a
    broken state."""
    with loop.clock("training steps"):
        loss = float(jax.device_get(metrics["loss"]))
        problem = (f"loss is {loss}" if not np.isfinite(loss) else
                   "the weights stopped giving a finite loss"
                   if saves and not bool(loop.usable(loop.state, batch)) else "")
    if not problem:
        return
    store = loop.store
    store.wait()
    kept = (f"The last good checkpoint (step {store.latest_step()}) is kept in "
            f"{loop.workdir}; rerun with a lower --learning_rate (or --rank_weight) to resume "
            f"from it" if store.latest_step() is not None else
            "No checkpoint was saved; rerun with a lower --learning_rate (or --rank_weight)")
    raise TrainingDiverged(f"{problem} at step {done} ({phase.name}); stopped. {kept}, or "
                           f"check the inputs.")


def _log_window(loop: _Loop, phase: Phase, window: _Window, done: int,
                lr_offset: int) -> None:
    """One train line of metrics.jsonl (the window's means) and the progress bar's numbers."""
    rate = window.steps * window.images_per_step / (time.perf_counter() - window.started)
    row = _window_means(window.sums, window.steps)
    window.restart()
    row.update(kind="train", step=done, phase=phase.name,
               learning_rate=float(training.learning_rate_schedule(loop.cfg)(
                   done - 1 - lr_offset)),
               images_per_second=rate, **loop.task.readable_losses(loop.cfg, row))
    loop.metrics_log.write(row)
    shown = ("count_loss" if "count_loss" in row else "regression_loss", "rank_loss")
    loop.bar.set_postfix({k: f"{row[k]:.4g}" for k in shown if k in row}
                         | {"img/s": f"{rate:.1f}"})


def _validate(loop: _Loop, done: int) -> bool:
    """Validates at step `done`, saves the best checkpoint, and returns whether patience
    is spent (the run stops early here)."""
    cfg, task, folder = loop.cfg, loop.task, storage.join(loop.workdir, "validation",
                                                          f"step_{done}")
    with loop.clock("validation"):
        result = evaluate_split(cfg, loop.model, loop.state.eval_params,
                                loop.sources.validation, folder, split="validation",
                                tables=False)
        loop.metrics_log.write({"kind": "validation", "step": done, **result})
        loop.metrics_log.pictures(folder, done)
    loop.bar.write(f"step {done}: validation " + ", ".join(
        f"{k}={v:.4g}" for k, v in result.items()))
    loop.history.append((done, result[task.selection_metric]))
    if task.better(result[task.selection_metric], loop.best):
        loop.best = result[task.selection_metric]
        with loop.clock("checkpoints"):
            loop.store.save(loop.state, {**loop.meta, "step": done, "metrics": result},
                            best=True)
    if not _patience_spent(cfg, task, loop.history):
        return False
    loop.stopped_early = loop.total = done
    loop.bar.write(f"step {done}: stopped early: the last {cfg.patience} validations "
                   f"improved {task.selection_metric} by less than "
                   f"{100 * PATIENCE_MIN_GAIN:g} %")
    loop.metrics_log.write({"kind": "stopped_early", "step": done})
    return True


def _finish(loop: _Loop, resumed_from: int) -> dict:
    """The last checkpoint, the test of the best and the last, the curves, warnings and
    summary.json; returns the best checkpoint's test metrics."""
    cfg, task, store, workdir, total = (loop.cfg, loop.task, loop.store, loop.workdir,
                                        loop.total)
    metrics_path = storage.join(workdir, "metrics.jsonl")
    with loop.clock("checkpoints"):
        if store.latest_step() != total:
            store.save(loop.state, {**loop.meta, "step": total})
        store.wait()
    with loop.clock("test"):
        test_metrics, last_metrics, best_step = _test_best_and_last(
            cfg, workdir, store, loop.model, loop.tx, loop.mesh, loop.state,
            loop.sources.test, total)
    log.info("test metrics of the last checkpoint (step %d): %s", total, last_metrics)
    if rundir.is_writer():
        with loop.clock("test"):
            pictures.training_curves(metrics_path, storage.join(workdir, "training_curves.png"),
                                     task.selection_metric)
    best_meta = store.best_meta() if best_step is not None else None
    store.close()
    loop.metrics_log.close()
    best_validation = best_meta and best_meta["metrics"]
    warnings = task.run_warnings(cfg, best_validation) + _still_improving(
        task, rundir.validations(metrics_path, task.selection_metric), loop.stopped_early)
    for warning in warnings:
        log.warning("%s", warning)
    if rundir.is_writer():
        rundir.write_json(storage.join(workdir, "summary.json"), {
            "steps": total, "resumed_from": resumed_from, "stopped_early": loop.stopped_early,
            "best_step": best_step, "best_validation": best_validation,
            "test": test_metrics, "test_last": last_metrics,
            "training_mean": task.training_mean_metrics(loop.sources.labeled,
                                                        loop.sources.test),
            "data": data_summary(loop.sources),
            "training": rundir.training_averages(metrics_path),
            "warnings": warnings, "seconds": loop.clock.split()})
    return test_metrics


def data_summary(sources: Sources) -> dict:
    """What a run trained and was tested on: sizes, and a digest of the labeled images'
    names (two runs with the same digest labeled the same images)."""
    names = sorted(os.path.basename(r.path) for r in sources.labeled)
    return {"labeled": len(sources.labeled), "unlabeled": len(sources.unlabeled),
            "validation": len(sources.validation), "test": len(sources.test),
            "labeled_digest": hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]}


def _still_improving(task, scores: list[tuple[int, float]], stopped_early) -> list[str]:
    """A warning when the last validation (of `scores`: step, value) was the best so far
    and better than the one before: the run most likely stopped before it had learnt what
    it could."""
    if stopped_early:
        return []
    if len(scores) < 2 or not all(task.better(scores[-1][1], value)
                                  for _, value in scores[:-1]):
        return []
    return [f"trained too briefly: validation {task.selection_metric} was still improving at "
            f"the last evaluation (step {scores[-1][0]}: {scores[-1][1]:.4g}, before "
            f"{scores[-2][1]:.4g}); rerun with more --steps (it resumes)"]


def _pretrained_params(cfg: Config):
    """A new run's initial weights where the config imports pretrained ones (else None):
    read before the run directory is written, so a missing, refused or damaged weights
    file leaves nothing behind. The same values as training.create_train_state's own
    initialisation from the run's seed."""
    if cfg.init != "imagenet":
        return None
    init_rng, _ = jax.random.split(jax.random.key(cfg.seed))
    return training.init_params(cfg, training.build_model(cfg), init_rng)


def _restore_or_create(cfg: Config, workdir: str, store, model, tx, mesh, changed: dict,
                       initial_params):
    """(state, step): the run's last readable checkpoint if it has one, else a new state."""
    if store.latest_step() is None:
        return training.create_train_state(cfg, model, tx, jax.random.key(cfg.seed), mesh,
                                           initial_params), 0
    # Restored into abstract shapes: no initialisation, no pretrained weights read.
    state, _ = store.restore(training.abstract_train_state(cfg, model, tx, mesh),
                             task=cfg.task, set_aside=True)
    start = int(jax.device_get(state.step))
    log.info("resumed from step %d in %s", start, workdir)
    if changed:
        log.info("changed on resume: %s", ", ".join(f"{k} {a} -> {b}" for k, (a, b)
                                                     in sorted(changed.items())))
    return state, start


def _test_best_and_last(cfg: Config, workdir: str, store, model, tx, mesh, state,
                        records: list, total: int) -> tuple[dict, dict, int | None]:
    """Test metrics of the best checkpoint on validation (test/) and of the last one
    (test_last/), and the best step (None without validation). The test split is
    predicted once when the best checkpoint is the last."""
    last_label = storage.join(workdir, "checkpoints", str(total))
    last_metrics = evaluate_split(cfg, model, state.eval_params, records,
                                  storage.join(workdir, "test_last"), last_label)
    best_step = store.best.latest_step()
    if best_step is None or best_step == total:  # no validation split, or the last was best
        if rundir.is_writer():
            storage.remove(storage.join(workdir, "test"))
            storage.copytree(storage.join(workdir, "test_last"), storage.join(workdir, "test"))
        return last_metrics, last_metrics, best_step
    best_state, _ = store.restore(training.abstract_train_state(cfg, model, tx, mesh),
                                  "best", cfg.task)
    best_metrics = evaluate_split(cfg, model, best_state.eval_params, records,
                                  storage.join(workdir, "test"),
                                  storage.join(workdir, "best", str(best_step)))
    return best_metrics, last_metrics, best_step


# Early stopping (--patience): validations must improve the best value by at least this
# share of it to count as progress (on a few images, smaller gains are noise).
PATIENCE_MIN_GAIN = 0.01


def _patience_spent(cfg: Config, task, history: list[tuple[int, float]]) -> bool:
    """Whether the last `patience` validations of `history` failed to beat the best value
    before them by PATIENCE_MIN_GAIN of it (0 patience: never)."""
    if not cfg.patience or len(history) <= cfg.patience:
        return False
    before = [v for _, v in history[:-cfg.patience] if np.isfinite(v)]
    recent = [v for _, v in history[-cfg.patience:] if np.isfinite(v)]
    if not before or not recent:
        return False
    pick = max if task.higher_is_better else min
    best_before, best_recent = pick(before), pick(recent)
    gain = (best_recent - best_before) * (1 if task.higher_is_better else -1)
    return gain < PATIENCE_MIN_GAIN * abs(best_before)


class Due(periodic_actions.PeriodicAction):
    """clu's periodic trigger for a step of the loop: `due(step)` is true on multiples of
    `every` (0: never) and at step `last`. Ask it once after every step, in order (clu
    checks that); the loop itself does what is due, so it can stop a run or break out.

    >>> due = Due(every=3, last=4)
    >>> [step for step in range(1, 5) if due(step)]
    [3, 4]
    """

    def __init__(self, every: int, last: int):
        super().__init__(every_steps=every or None, on_steps=[last])

    def _apply(self, step: int, t: float) -> None:
        pass
