"""train_and_evaluate(cfg, workdir): the whole run, resumable, with files a user can read.

Run directory:
    config.json            the resolved config (a different config here is refused)
    metrics.jsonl          one JSON line per log step and per validation
    checkpoints/, best/    orbax checkpoints (latest two; best on validation)
    validation/step_N/     density pictures of a few validation images (crowd)
    test/                  results.json, predictions.csv, pictures of the final model
    training_curves.png

Rerunning the same command resumes from the last checkpoint; in deterministic mode a
run killed at any point and restarted ends with the same numbers as one that never
stopped (the input pipeline skips to the batch it would have read next).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time

import jax
import numpy as np
from tqdm import tqdm

from rankjax import (checkpoints, config as config_lib, evaluation, input_pipeline, pictures,
                     sharding, training)
from rankjax.config import Config

log = logging.getLogger(__name__)
# Fields that may change when a run is resumed (training longer, logging differently).
RESUMABLE_CHANGES = ("steps", "finetune_steps", "log_every", "eval_every", "checkpoint_every")


class RunDirError(ValueError):
    pass


class TrainingDiverged(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    steps: int          # global step at which this phase ends
    labeled: bool
    ranked: bool


def phases(cfg: Config) -> list[Phase]:
    if cfg.paradigm == "baseline":
        return [Phase("baseline", cfg.steps, True, False)]
    if cfg.paradigm == "rank_only":
        return [Phase("rank_only", cfg.steps, False, True)]
    if cfg.paradigm == "rank_then_finetune":
        return [Phase("rank", cfg.steps, False, True),
                Phase("finetune", cfg.steps + cfg.finetune_steps, True, False)]
    return [Phase("multitask", cfg.steps, True, True)]


def prepare_workdir(cfg: Config, workdir: str, overwrite: bool) -> None:
    """Refuses a workdir holding another run unless `overwrite`; writes config.json."""
    path = os.path.join(workdir, "config.json")
    if os.path.isfile(path):
        with open(path) as f:
            saved = config_lib.from_json(f.read())
        changed = {f.name: (getattr(saved, f.name), getattr(cfg, f.name))
                   for f in dataclasses.fields(Config)
                   if getattr(saved, f.name) != getattr(cfg, f.name)}
        blocking = {k: v for k, v in changed.items() if k not in RESUMABLE_CHANGES}
        if blocking and not overwrite:
            diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(blocking.items()))
            raise RunDirError(f"{workdir} holds a run with a different config ({diff}). "
                              f"Use another --workdir, or pass --overwrite to delete that run.")
        if blocking:
            for name in ("checkpoints", "best", "validation", "test", "metrics.jsonl",
                         "training_curves.png"):
                target = os.path.join(workdir, name)
                if os.path.isdir(target):
                    shutil.rmtree(target)
                elif os.path.exists(target):
                    os.remove(target)
    if jax.process_index() == 0:
        evaluation.write_atomic(path, lambda f: f.write(cfg.to_json()))


class MetricsLog:
    """Appends JSON lines; on resume, drops lines past the restored step (a killed run's)."""

    def __init__(self, path: str, resume_step: int):
        self.path = path
        self.enabled = jax.process_index() == 0
        if self.enabled and os.path.isfile(path):
            with open(path) as f:
                kept = [line for line in f if json.loads(line)["step"] <= resume_step]
            evaluation.write_atomic(path, lambda f: f.writelines(kept))

    def write(self, row: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


def validate(cfg: Config, model, params, records: list, out_dir: str | None) -> dict:
    metrics, predictions, maps = evaluation.evaluate(cfg, model, params, records,
                                                     keep_maps=3 if out_dir else 0)
    if out_dir and maps and jax.process_index() == 0:
        os.makedirs(out_dir, exist_ok=True)
        for item in maps:
            save_density_picture(cfg, item, os.path.join(
                out_dir, os.path.splitext(item["record"].name)[0] + ".png"))
    return metrics


def save_density_picture(cfg: Config, item: dict, path: str) -> str:
    from rankjax import density as density_lib

    record = item["record"]
    height, width = record.height, record.width
    hp, wp = item["image"].shape[1:3]
    grid = (height // 4, width // 4)
    truth = density_lib.density_map(record.points, cfg.density_sigma, (height, width),
                                     None, grid).numpy()
    predicted = item["density"][: -(-height // 16), : -(-width // 16)]
    image = item["image"][0, :height, :width]
    return pictures.density_panels(path, image, predicted, truth,
                                   f"{record.name}: {record.count} people")


def write_test_outputs(cfg: Config, model, params, records: list, out_dir: str,
                       checkpoint: str, split: str = "test") -> dict:
    """results.json, predictions.csv and pictures (crowd: best and worst images)."""
    metrics, predictions, _ = evaluation.evaluate(cfg, model, params, records)
    if jax.process_index() != 0:
        return metrics
    os.makedirs(out_dir, exist_ok=True)
    evaluation.write_predictions_csv(os.path.join(out_dir, "predictions.csv"), predictions,
                                     cfg.task)
    evaluation.write_results(os.path.join(out_dir, "results.json"), metrics, cfg, split,
                             checkpoint)
    if cfg.task == "crowd":
        errors = [abs(p.predicted - p.truth) for p in predictions]
        order = np.argsort(errors)
        chosen = {"best": order[:2], "worst": order[::-1][:2]}
        by_index = {int(i) for group in chosen.values() for i in group}
        items = [item for i, item in enumerate(input_pipeline.crowd_eval_images(
            [records[j] for j in sorted(by_index)], cfg))]
        _, maps = evaluation.crowd_predictions(model, params, items, keep_maps=len(items))
        maps_by_name = {m["record"].name: m for m in maps}
        for label, indices in chosen.items():
            for rank, i in enumerate(indices):
                item = maps_by_name[records[int(i)].name]
                stem = os.path.join(out_dir, f"{label}{rank}_" +
                                    os.path.splitext(records[int(i)].name)[0])
                save_density_picture(cfg, item, stem + ".png")
                record, prediction = records[int(i)], predictions[int(i)]
                pictures.overlay(stem + "_overlay.png",
                                 item["image"][0, :record.height, :record.width],
                                 item["density"][: -(-record.height // 16),
                                                 : -(-record.width // 16)],
                                 f"{record.name}: predicted {prediction.predicted:.1f}, "
                                 f"true {prediction.truth:.0f}")
    return metrics


def train_and_evaluate(cfg: Config, workdir: str, overwrite: bool = False,
                       progress: bool = True) -> dict:
    """Trains `cfg` in `workdir` (resuming if it holds this run) and evaluates on the test split."""
    sharding.maybe_initialize_distributed(cfg.distributed)
    os.makedirs(workdir, exist_ok=True)
    prepare_workdir(cfg, workdir, overwrite)
    sources = input_pipeline.build_sources(cfg)
    log.info("data: %d labeled, %d unlabeled, %d validation, %d test images",
             len(sources.labeled), len(sources.unlabeled), len(sources.validation),
             len(sources.test))

    mesh = sharding.make_mesh()
    log.info("devices: %d %s device(s) in %d process(es); batch sharded over all of them",
             jax.device_count(), jax.default_backend(), jax.process_count())
    trainer = training.create_training(cfg, jax.random.key(cfg.seed), mesh)
    store = checkpoints.RunCheckpoints(workdir)
    state, start = trainer.state, 0
    if store.latest_step() is not None:
        state, _ = store.restore(state, task=cfg.task)
        start = int(jax.device_get(state.step))
        log.info("resumed from step %d in %s", start, workdir)
    best_meta = store.best_meta()
    metric_name = evaluation.selection_metric(cfg.task)
    best = best_meta["metrics"][metric_name] if best_meta else None
    metrics_log = MetricsLog(os.path.join(workdir, "metrics.jsonl"), start)
    meta = {"task": cfg.task, "name": cfg.name}
    schedule = training.learning_rate_schedule(cfg)
    process_count, process_index = jax.process_count(), jax.process_index()
    plan = phases(cfg)
    total = plan[-1].steps
    if start > total:
        raise RunDirError(f"{workdir} is already trained to step {start}, beyond the {total} "
                          f"steps asked for; evaluate it with eval.py, or use --overwrite")

    bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
               disable=not progress or process_index != 0, desc=cfg.name)
    phase_start = 0
    for phase in plan:
        if start >= phase.steps:
            phase_start = phase.steps
            continue
        labeled = cfg.labeled_batch // process_count if phase.labeled else 0
        groups = cfg.ranked_groups // process_count if phase.ranked else 0
        batches = input_pipeline.train_batches(sources, cfg, cfg.seed, labeled, groups,
                                               process_index, process_count,
                                               start_batch=start - phase_start)
        images_per_step = (labeled + groups * cfg.ranked_per_group) * process_count
        window_start, window_steps = time.perf_counter(), 0
        for step in range(start, phase.steps):
            local = next(batches)
            batch = sharding.global_batch(training.make_batch(
                cfg, local.get("labeled"), local.get("ranked")), mesh)
            state, metrics = trainer.train_step(state, batch)
            window_steps += 1
            done = step + 1
            bar.update(1)
            is_last = done == total
            if done % cfg.log_every == 0 or is_last or done % cfg.checkpoint_every == 0:
                row = _scalars(metrics)
                if not np.isfinite(row["loss"]):
                    store.wait()
                    raise TrainingDiverged(
                        f"loss is {row['loss']} at step {done} ({phase.name}); stopped. The last "
                        f"good checkpoint (step {store.latest_step()}) is kept in {workdir}. "
                        f"Lower learning_rate or rank_weight, or check the inputs.")
                rate = window_steps * images_per_step / (time.perf_counter() - window_start)
                window_start, window_steps = time.perf_counter(), 0
                row.update(kind="train", step=done, phase=phase.name,
                           learning_rate=float(schedule(done - 1)), images_per_second=rate)
                metrics_log.write(row)
                bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "regression_loss",
                                 "rank_loss") if k in row} | {"img/s": f"{rate:.1f}"})
            if (done % cfg.eval_every == 0 or is_last) and sources.validation:
                out = os.path.join(workdir, "validation", f"step_{done}") \
                    if cfg.task == "crowd" else None
                result = validate(cfg, trainer.model, state.params, sources.validation, out)
                metrics_log.write({"kind": "validation", "step": done, **result})
                bar.write(f"step {done}: validation " + ", ".join(
                    f"{k}={v:.4g}" for k, v in result.items()))
                value = result[metric_name]
                improved = best is None or (value > best if evaluation.higher_is_better(cfg.task)
                                            else value < best)
                if improved:
                    best = value
                    store.save(state, {**meta, "step": done, "metrics": result}, best=True)
            if done % cfg.checkpoint_every == 0 or is_last:
                store.save(state, {**meta, "step": done})
        start = phase_start = phase.steps
    bar.close()
    if store.latest_step() != total:
        store.save(state, {**meta, "step": total})
    store.wait()

    test_metrics = write_test_outputs(cfg, trainer.model, state.params, sources.test,
                                      os.path.join(workdir, "test"),
                                      os.path.join(workdir, "checkpoints", str(total)))
    if process_index == 0:
        pictures.training_curves(os.path.join(workdir, "metrics.jsonl"),
                                 os.path.join(workdir, "training_curves.png"))
    store.close()
    return test_metrics
