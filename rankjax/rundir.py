"""Files of a run directory, each written atomically (a reader never sees half a file),
on a local folder or a URL (rankjax.storage).

    config.json       the resolved config (a different config here is refused)
    metrics.jsonl     one JSON line per log step and per validation
    run.lock          while a run trains here: its host, process id and start time
    <split>/results.json, predictions.csv   metrics, config, versions, device; per image
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import fnmatch
import importlib.metadata
import io
import json
import logging
import os
import socket

import jax
import tensorflow as tf
from clu import metric_writers

from rankjax import config as config_lib, storage
from rankjax.config import Config
from rankjax.errors import RunDirError

log = logging.getLogger(__name__)

# Fields that may change when a run is resumed: training longer, logging differently, and
# optimisation settings that leave the train state's structure as it is (e.g. a lower
# learning rate after a divergence). Each change is logged in metrics.jsonl.
RESUMABLE_CHANGES = ("steps", "finetune_steps", "log_every", "eval_every", "checkpoint_every",
                     "learning_rate", "lr_decay_every", "lr_decay_factor", "head_lr_multiplier",
                     "weight_decay", "rank_weight", "margin", "patience")
# What --overwrite deletes of a run (never anything else in the folder); glob patterns.
RUN_OUTPUTS = ("checkpoints", "best", "validation", "test", "test_last", "metrics.jsonl",
               "training_curves.png", "summary.json", "unreadable_checkpoints", "tensorboard",
               # active learning (rankjax.active)
               "cycle_*", "selected.csv", "active_learning.csv", "active_learning.png")


def write_atomic(path: str, write, binary: bool = False) -> None:
    """Writes `path` (a local path or URL) through `write(file)` so that readers never
    see half a file (rankjax.storage.write_atomic)."""
    storage.write_atomic(path, write, binary)


@contextlib.contextmanager
def full_disk_stops_the_run(workdir: str):
    """A write that fails for lack of space anywhere in the run (config, a metrics line, a
    checkpoint, a picture, TensorBoard) ends it with one storage.DiskFull naming the run
    directory. What it leaves is whole: every file is written atomically or not at all,
    and orbax's half-written checkpoint is deleted when the run is resumed."""
    try:
        yield
    except Exception as error:
        if not storage.is_disk_full(error):
            raise
        where = str(error).strip().splitlines()[0] if isinstance(error, storage.DiskFull) \
            else "a write failed"
        saved = _complete_checkpoints(workdir)
        then = (f"it resumes from the last complete checkpoint, step {saved[-1]}" if saved
                else "no checkpoint was saved yet, so it starts again")
        raise storage.DiskFull(
            f"the disk holding the run directory {storage.absolute(workdir)!r} is full "
            f"({where}). Free some space and rerun the same command: {then}") from error


def _complete_checkpoints(workdir: str) -> list[int]:
    """The steps of the latest-checkpoint folders orbax finished (named by their step)."""
    folder = storage.join(workdir, "checkpoints")
    try:
        return sorted(int(name) for name in storage.listdir(folder) if name.isdigit())
    except storage.StorageError:
        return []


def is_writer() -> bool:
    """Only process 0 writes run files (every process computes the same values)."""
    return jax.process_index() == 0


def read_config(workdir: str) -> Config:
    path = storage.join(workdir, "config.json")
    if not storage.isdir(workdir):
        raise RunDirError(f"run directory not found: {workdir!r}")
    if not storage.exists(path):
        raise RunDirError(f"{workdir!r} is not a rankjax run directory (no config.json)")
    return config_lib.from_json(storage.read_text(path))


def check_writable(workdir: str) -> None:
    """RunDirError (one line) unless `workdir` can be made and written: a read-only or
    missing parent, /proc, a URL scheme TensorFlow has no filesystem for, a bucket that
    cannot be reached."""
    try:
        storage.check_writable(workdir)
    except storage.StorageError as error:
        raise RunDirError(str(error)) from None


def prepare(cfg: Config, workdir: str, overwrite: bool) -> dict:
    """Refuses a workdir holding another run unless `overwrite`; writes config.json.

    A saved run whose config differs only in RESUMABLE_CHANGES is resumed with them, unless
    `overwrite`: then any difference deletes the saved run (e.g. one trained beyond the
    steps now asked for). Returns the resumable fields that differ from the saved run's,
    {name: (old, new)}.
    """
    storage.makedirs(workdir)
    path = storage.join(workdir, "config.json")
    changed = {}
    if storage.exists(path):
        saved = read_config(workdir)
        changed = {f.name: (getattr(saved, f.name), getattr(cfg, f.name))
                   for f in dataclasses.fields(Config)
                   if getattr(saved, f.name) != getattr(cfg, f.name)}
        blocking = {k: v for k, v in changed.items()
                    if overwrite or k not in RESUMABLE_CHANGES}
        if blocking and not overwrite:
            diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(blocking.items()))
            raise RunDirError(f"{workdir} holds a run with a different config ({diff}). "
                              f"Use another --workdir, or pass --overwrite to delete that run.")
        if blocking and is_writer():
            names = storage.listdir(workdir)
            for pattern in RUN_OUTPUTS:
                for name in fnmatch.filter(names, pattern):
                    storage.remove(storage.join(workdir, name))
        if blocking:
            changed = {}
    if is_writer():
        write_atomic(path, lambda f: f.write(cfg.to_json()))
    return changed


def read_metrics(path: str) -> list[dict]:
    """The rows of a metrics.jsonl, in order; [] if there is none. A last line cut short
    (a process killed while appending it on a filesystem without atomic appends) is
    dropped; a damaged line elsewhere is an error naming the file and the line."""
    if not storage.exists(path):
        return []
    lines = storage.read_text(path).splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                log.warning("%s: dropping its last line, which was cut short", path)
                break
            raise RunDirError(f"{path}: line {number} is not JSON ({line[:60]!r}); was the "
                              f"file edited? Remove that line to resume") from None
    return rows


def validations(path: str, metric: str) -> list[tuple[int, float]]:
    """(step, `metric`) of every validation in a metrics.jsonl, in order."""
    return [(row["step"], row[metric]) for row in read_metrics(path)
            if row.get("kind") == "validation" and metric in row]


def training_averages(path: str) -> dict:
    """Over every logged training step of a run (metrics.jsonl's windows, weighted by their
    steps): the share of steps whose rank hinge was active, the mean pair accuracy and the
    mean losses; {} before any window was logged."""
    sums: dict[str, float] = {}
    steps = 0
    for row in read_metrics(path):
        if row.get("kind") != "train" or "steps_in_window" not in row:
            continue
        steps += row["steps_in_window"]
        for key in ("hinge_active_share", "pair_accuracy", "rank_loss", "regression_loss"):
            if key in row:
                sums[key] = sums.get(key, 0.0) + row[key] * row["steps_in_window"]
    return {**{k: v / steps for k, v in sums.items()}, "steps": steps} if steps else {}


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
        if self.enabled and storage.exists(path):
            kept = [json.dumps(row) + "\n" for row in read_metrics(path)
                    if row["step"] <= resume_step]
            write_atomic(path, lambda f: f.writelines(kept))

    def _summaries(self):
        if self._writer is None and self._tensorboard_dir:
            self._writer = metric_writers.SummaryWriter(self._tensorboard_dir)
        return self._writer

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        storage.append_text(self.path, json.dumps(row) + "\n")
        writer = self._summaries()
        if writer is not None and row.get("kind") in ("train", "validation"):
            writer.write_scalars(int(row["step"]), {
                f"{row['kind']}/{key}": float(value) for key, value in row.items()
                if key not in ("kind", "step") and isinstance(value, (int, float))})
            writer.flush()

    def pictures(self, folder: str, step: int, tag: str = "validation") -> None:
        """Every PNG of `folder` as a TensorBoard image `tag/<file name>` at `step`."""
        writer = self._summaries()
        if writer is None or not storage.isdir(folder):
            return
        writer.write_images(step, {
            f"{tag}/{name[:-4]}": tf.io.decode_png(tf.io.read_file(storage.join(folder, name)),
                                                   3).numpy()
            for name in storage.listdir(folder) if name.endswith(".png")})
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def write_predictions_csv(path: str, predictions: list, value_name: str) -> None:
    """One row per image: truth, prediction, and (where the prediction is bounded, e.g. a
    count never below zero) the network's raw number."""
    raw = any(p.raw is not None for p in predictions)

    def write(f):
        writer = csv.writer(f)
        writer.writerow(["name", f"true_{value_name}", f"predicted_{value_name}", "path"]
                        + ([f"raw_{value_name}"] if raw else []))
        for p in predictions:
            writer.writerow([p.name, f"{p.truth:.4f}", f"{p.predicted:.4f}", p.path]
                            + ([f"{p.raw:.4f}" if p.raw is not None else ""] if raw else []))

    write_atomic(path, write)


class ImagePredictionsCsv:
    """predictions.csv of `eval.py --images`, written as it goes: one flushed row per
    image, so a killed run keeps every finished image and a rerun into the same folder
    continues after the last of them (`done`). A row cut short by a kill is dropped."""

    def __init__(self, path: str, columns: list[str]):
        self.path, self.columns = path, columns
        self.done: dict[str, list[str]] = {}
        if storage.exists(path):
            text = storage.read_text(path)
            lines = text.splitlines(keepends=True)
            if lines and not lines[-1].endswith("\n"):
                lines = lines[:-1]  # the row being written when the process was killed
            rows = list(csv.reader(lines))
            if rows and rows[0] == columns:
                self.done = {row[0]: row for row in rows[1:] if len(row) == len(columns)}
            elif rows:
                raise RunDirError(f"{path} holds other columns ({', '.join(rows[0])}) than "
                                  f"this run writes; use another --output")
        write_atomic(path, lambda f: csv.writer(f).writerows(
            [columns] + list(self.done.values())))

    def add(self, row: list) -> None:
        text = [str(v) if not isinstance(v, float) else f"{v:.4f}" for v in row]
        line = io.StringIO()
        csv.writer(line).writerow(text)
        storage.append_text(self.path, line.getvalue())
        self.done[text[0]] = text


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


# --------------------------------------------------------------------------- one run per folder

LOCK_FILE = "run.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class RunLock:
    """One training process per run directory: `run.lock` holds the holder's host, process
    id and start time while it trains, and is removed on every exit path a process can
    run code on (return, error, Ctrl-C, SIGTERM through the command line's handler).

    A second process is refused with one line naming the holder. A lock left by a process
    that died without removing it (SIGKILL, power loss) is taken over, with a warning,
    when its holder was on this host and is not running any more; a lock of another host
    is never taken over (remove the file by hand once that run is gone). On a local
    filesystem the lock is created exclusively (O_EXCL), so two processes starting at
    once cannot both take it; on a URL it is written after a check, which a start in the
    same second could race. A multi-host run takes it once, on process 0.
    """

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.path = storage.join(workdir, LOCK_FILE)
        self.held = False

    def __enter__(self) -> "RunLock":
        if not is_writer():
            return self
        me = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds")}
        text = json.dumps(me)
        for _ in range(2):
            if self._create(text):
                self.held = True
                return self
            holder = self._holder()
            if holder is None:  # removed in between, or unreadable: try again once
                continue
            if holder.get("host") == me["host"] and not _pid_alive(int(holder.get("pid", -1))):
                log.warning("%s: taking over the lock of process %s (started %s), which is "
                            "no longer running", self.workdir, holder.get("pid"),
                            holder.get("started"))
                storage.remove(self.path)
                continue
            raise RunDirError(
                f"{self.workdir} is in use by another run: process {holder.get('pid')} on "
                f"{holder.get('host')}, started {holder.get('started')} ({self.path}). Wait "
                f"for it to finish, use another --workdir, or delete the lock file if that "
                f"run is gone.")
        raise RunDirError(f"cannot take the lock {self.path}: it keeps changing")

    def _create(self, text: str) -> bool:
        if storage.is_local(self.path):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "w") as f:
                f.write(text)
            return True
        if storage.exists(self.path):
            return False
        write_atomic(self.path, lambda f: f.write(text))
        return True

    def _holder(self) -> dict | None:
        try:
            return json.loads(storage.read_text(self.path))
        except (storage.StorageError, ValueError):
            return None

    def __exit__(self, *exc) -> None:
        if self.held:
            holder = self._holder()
            if holder is not None and (holder.get("host"), holder.get("pid")) == (
                    socket.gethostname(), os.getpid()):
                storage.remove(self.path)
            self.held = False
