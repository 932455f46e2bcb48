"""Files of a run directory, each written atomically (a reader never sees half a file).

    config.json       the resolved config (a different config here is refused)
    metrics.jsonl     one JSON line per log step and per validation
    <split>/results.json, predictions.csv   metrics, config, versions, device; per image
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import glob
import importlib.metadata
import json
import os
import shutil

import jax

from rankjax import config as config_lib
from rankjax.config import Config

# Fields that may change when a run is resumed: training longer, logging differently, and
# optimisation settings that leave the train state's structure as it is (e.g. a lower
# learning rate after a divergence). Each change is logged in metrics.jsonl.
RESUMABLE_CHANGES = ("steps", "finetune_steps", "log_every", "eval_every", "checkpoint_every",
                     "learning_rate", "lr_decay_every", "lr_decay_factor", "head_lr_multiplier",
                     "weight_decay", "rank_weight", "margin")
# What --overwrite deletes of a run (never anything else in the folder); glob patterns.
RUN_OUTPUTS = ("checkpoints", "best", "validation", "test", "test_last", "metrics.jsonl",
               "training_curves.png", "summary.json", "unreadable_checkpoints", "tensorboard",
               # active learning (rankjax.active)
               "cycle_*", "selected.csv", "active_learning.csv", "active_learning.png")


class RunDirError(ValueError):
    pass


def write_atomic(path: str, write) -> None:
    """Writes through a temporary file and renames it, so readers never see half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        write(f)
    os.replace(tmp, path)


def is_writer() -> bool:
    """Only process 0 writes run files (every process computes the same values)."""
    return jax.process_index() == 0


def read_config(workdir: str) -> Config:
    path = os.path.join(workdir, "config.json")
    if not os.path.isdir(workdir):
        raise RunDirError(f"run directory not found: {workdir!r}")
    if not os.path.isfile(path):
        raise RunDirError(f"{workdir!r} is not a rankjax run directory (no config.json)")
    with open(path) as f:
        return config_lib.from_json(f.read())


def prepare(cfg: Config, workdir: str, overwrite: bool) -> dict:
    """Refuses a workdir holding another run unless `overwrite`; writes config.json.

    Returns the resumable fields that differ from the saved run's, {name: (old, new)}.
    """
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    changed = {}
    if os.path.isfile(path):
        saved = read_config(workdir)
        changed = {f.name: (getattr(saved, f.name), getattr(cfg, f.name))
                   for f in dataclasses.fields(Config)
                   if getattr(saved, f.name) != getattr(cfg, f.name)}
        blocking = {k: v for k, v in changed.items() if k not in RESUMABLE_CHANGES}
        if blocking and not overwrite:
            diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(blocking.items()))
            raise RunDirError(f"{workdir} holds a run with a different config ({diff}). "
                              f"Use another --workdir, or pass --overwrite to delete that run.")
        if blocking and is_writer():
            for pattern in RUN_OUTPUTS:
                for target in glob.glob(os.path.join(glob.escape(workdir), pattern)):
                    if os.path.isdir(target):
                        shutil.rmtree(target)
                    else:
                        os.remove(target)
        if blocking:
            changed = {}
    if is_writer():
        write_atomic(path, lambda f: f.write(cfg.to_json()))
    return changed


class MetricsLog:
    """Appends JSON lines; on resume, drops lines past the restored step (a killed run's).

    With `tensorboard_dir`, every number of a train or validation line is also a
    TensorBoard scalar (`train/loss`, `validation/mae`, ...), and `pictures` adds PNGs
    (e.g. the validation density pictures) as TensorBoard images:
    `tensorboard --logdir runs`.
    """

    def __init__(self, path: str, resume_step: int, tensorboard_dir: str | None = None):
        self.path = path
        self.enabled = is_writer()
        self._tensorboard_dir = tensorboard_dir if self.enabled else None
        self._writer = None
        if self.enabled and os.path.isfile(path):
            with open(path) as f:
                kept = [line for line in f if json.loads(line)["step"] <= resume_step]
            write_atomic(path, lambda f: f.writelines(kept))

    def _summaries(self):
        if self._writer is None and self._tensorboard_dir:
            import tensorflow as tf
            self._writer = tf.summary.create_file_writer(self._tensorboard_dir)
        return self._writer

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        writer = self._summaries()
        if writer is not None and row.get("kind") in ("train", "validation"):
            import tensorflow as tf
            with writer.as_default(step=int(row["step"])):
                for key, value in row.items():
                    if key not in ("kind", "step") and isinstance(value, (int, float)):
                        tf.summary.scalar(f"{row['kind']}/{key}", float(value))
            writer.flush()

    def pictures(self, folder: str, step: int, tag: str = "validation") -> None:
        """Every PNG of `folder` as a TensorBoard image `tag/<file name>` at `step`."""
        writer = self._summaries()
        if writer is None or not os.path.isdir(folder):
            return
        import tensorflow as tf
        with writer.as_default(step=step):
            for name in sorted(os.listdir(folder)):
                if name.endswith(".png"):
                    image = tf.io.decode_png(tf.io.read_file(os.path.join(folder, name)), 3)
                    tf.summary.image(f"{tag}/{name[:-4]}", image[None], step=step)
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def write_predictions_csv(path: str, predictions: list, value_name: str) -> None:
    def write(f):
        writer = csv.writer(f)
        writer.writerow(["name", f"true_{value_name}", f"predicted_{value_name}", "path"])
        for p in predictions:
            writer.writerow([p.name, f"{p.truth:.4f}", f"{p.predicted:.4f}", p.path])

    write_atomic(path, write)


def write_image_predictions_csv(path: str, rows: list[tuple[str, float]], value_name: str
                                ) -> None:
    def write(f):
        writer = csv.writer(f)
        writer.writerow(["path", f"predicted_{value_name}"])
        writer.writerows((p, f"{v:.4f}") for p, v in rows)

    write_atomic(path, write)


def environment() -> dict:
    versions = {}
    for package in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "tensorflow-cpu",
                    "tensorflow", "tensorflow-datasets", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    device = jax.devices()[0]
    return {"versions": versions, "backend": jax.default_backend(),
            "device": getattr(device, "device_kind", str(device)),
            "device_count": jax.device_count(), "process_count": jax.process_count(),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_json(path: str, data: dict) -> None:
    write_atomic(path, lambda f: json.dump(data, f, indent=2, sort_keys=True))


def write_results(path: str, metrics: dict, cfg: Config, split: str, checkpoint: str) -> None:
    results = {"metrics": metrics, "split": split, "checkpoint": checkpoint,
               "config": dataclasses.asdict(cfg), **environment()}
    write_atomic(path, lambda f: json.dump(results, f, indent=2, sort_keys=True))
