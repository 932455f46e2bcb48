"""Orbax checkpoints of a run: the latest few for resuming, and the best on validation.

Layout inside a run directory:
    checkpoints/<step>/   latest (max_to_keep=2), written every checkpoint_every steps and at the end
    best/<step>/          the best validation score so far
Each holds the train state and a small JSON `meta` (task, config name, step, metrics),
so a checkpoint of the other task is recognised before its arrays are read. Orbax
writes into a temporary folder and renames it when complete, so a run killed mid-save
never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from typing import Any

import jax
import orbax.checkpoint as ocp

from rankjax import storage
from rankjax.errors import CheckpointError


log = logging.getLogger(__name__)


def _manager(directory: str, max_to_keep: int, writer: bool = False) -> ocp.CheckpointManager:
    # The one process that trains into a run directory (it holds run.lock) deletes the
    # half-written checkpoints of an earlier run's failed save (e.g. on a full disk);
    # readers (eval.py) leave them to their writer.
    return ocp.CheckpointManager(
        storage.absolute(directory), item_handlers={"state": ocp.StandardCheckpointHandler(),
                                                   "meta": ocp.JsonCheckpointHandler()},
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             cleanup_tmp_directories=writer))


def has_latest(workdir: str) -> bool:
    """Whether `workdir` holds a finished latest checkpoint (a folder named by its step);
    False also where it cannot be looked at (the run's own checks say why)."""
    folder = storage.join(workdir, "checkpoints")
    try:
        return storage.isdir(folder) and any(n.isdigit() for n in storage.listdir(folder))
    except storage.StorageError:
        return False


class RunCheckpoints:
    """The run's two checkpoint managers. `writer`: the training process, which saves.

    As a context manager it waits for a save in flight and closes both managers on every
    way out, quietly after an error (a save that failed on a full disk raises its error
    again while it is waited for), so no background write outlives the run.
    """

    def __init__(self, workdir: str, writer: bool = False):
        self.latest = _manager(storage.join(workdir, "checkpoints"), 2, writer)
        self.best = _manager(storage.join(workdir, "best"), 1, writer)
        self._closed = False

    def __enter__(self) -> "RunCheckpoints":
        self._quiet = _QuietFailedSaves()
        self._quiet.__enter__()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if error is None:
                self.close()
                return
            for manager in (self.latest, self.best):
                with contextlib.suppress(Exception):
                    manager.wait_until_finished()
            with contextlib.suppress(Exception):
                self.close()
        finally:
            self._quiet.__exit__()

    def save(self, state, meta: dict, best: bool = False) -> None:
        step = int(jax.device_get(state.step))
        manager = self.best if best else self.latest
        # One save in flight at a time: two managers' concurrent async saves deadlock on
        # their cross-process barriers in multi-process runs.
        self._wait(self.latest if best else self.best)
        _check_room(str(manager.directory), state, step)
        manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                   meta=ocp.args.JsonSave(meta)), force=True)

    def wait(self) -> None:
        self._wait(self.latest)
        self._wait(self.best)

    @staticmethod
    def _wait(manager: ocp.CheckpointManager) -> None:
        """Waits for `manager`'s save in flight; one that failed for lack of space raises
        storage.DiskFull naming the checkpoint folder."""
        try:
            manager.wait_until_finished()
        except Exception as error:
            if storage.is_disk_full(error):
                raise storage.DiskFull(f"cannot save a checkpoint in {manager.directory}: no "
                                       f"space left on its disk (disk full or quota spent)"
                                       ) from error
            raise

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def best_meta(self) -> dict | None:
        step = self.best.latest_step()
        if step is None:
            return None
        try:
            return self.best.restore(step, args=ocp.args.Composite(
                meta=ocp.args.JsonRestore())).meta
        except Exception as error:  # a damaged best checkpoint: the next validation replaces it
            log.warning("best checkpoint %s/%d is unreadable (%s); the next validation will "
                        "replace it", self.best.directory, step, _first_line(error))
            return None

    def restore(self, target, which: str = "latest", task: str | None = None,
                set_aside: bool = False) -> tuple[Any, dict]:
        """The newest readable checkpoint of `which` ("latest" or "best").

        An unreadable one (a truncated or corrupted file) is skipped with a warning for
        the next older one; with `set_aside` (resuming training) it is also moved to
        <workdir>/unreadable_checkpoints/, so it is neither lost nor overwritten. A
        checkpoint of another task or config fails at once (older ones would too).
        """
        manager = self.best if which == "best" else self.latest
        steps = sorted(manager.all_steps(), reverse=True)
        if not steps:
            raise CheckpointError(f"no {which} checkpoint in {manager.directory}")
        problems = []
        for step in steps:
            try:
                restored = restore_from(manager, step, target, task)
                if problems and set_aside:
                    manager.reload()
                return restored
            except UnreadableCheckpoint as error:
                problems.append(str(error))
                log.warning("%s; trying an older checkpoint", error)
                if set_aside and jax.process_index() == 0:
                    aside = storage.join(storage.dirname(str(manager.directory)),
                                         "unreadable_checkpoints", f"{which}_{step}")
                    storage.makedirs(storage.dirname(aside))
                    storage.rename(storage.join(str(manager.directory), str(step)), aside)
                    log.warning("moved the unreadable checkpoint to %s", aside)
        if set_aside:
            manager.reload()
        raise CheckpointError(f"no readable {which} checkpoint in {manager.directory}: "
                              + "; ".join(problems))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.latest.close()
            self.best.close()


class _QuietFailedSaves(logging.Filter):
    """While a run saves: a background save that fails for lack of space is reported once,
    by the run's own error (storage.DiskFull), not also by orbax's logged tracebacks
    (absl's logger) and tensorstore's late callbacks into the closed event loop of the
    failed save (`RuntimeError('Event loop is closed')`, printed as unraisable)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not ((error is not None and storage.is_disk_full(error))
                    or any(text in record.getMessage() for text in storage.DISK_FULL_TEXTS))

    def _unraisable(self, unraisable) -> None:
        if not (isinstance(unraisable.exc_value, RuntimeError)
                and str(unraisable.exc_value) == "Event loop is closed"):
            self._previous_hook(unraisable)

    def __enter__(self) -> None:
        logging.getLogger("absl").addFilter(self)
        self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable

    def __exit__(self, *exc) -> None:
        logging.getLogger("absl").removeFilter(self)
        if sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self._previous_hook


def _check_room(directory: str, state, step: int) -> None:
    """storage.DiskFull before a save that cannot fit: orbax stores the arrays
    uncompressed, so a local disk with less free space than the state's bytes would fail
    part way through the background write (its error then comes only at the next wait,
    among orbax's and tensorstore's own messages)."""
    if not storage.is_local(directory):
        return
    needed = sum(leaf.nbytes for leaf in jax.tree.leaves(state) if hasattr(leaf, "nbytes"))
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise storage.DiskFull(f"cannot save checkpoint step {step} in {directory}: no space "
                               f"left on its disk ({free / 2**20:.1f} MiB free, the checkpoint "
                               f"needs about {needed / 2**20:.1f} MiB)")


class UnreadableCheckpoint(CheckpointError):
    """The files of one checkpoint are damaged (truncated, corrupted, missing)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def restore_from(manager: ocp.CheckpointManager, step: int, target, task: str | None
                 ) -> tuple[Any, dict]:
    """Restores `target`'s structure (with its shardings) at `step`, checking the task and
    the array shapes first. Damaged files raise UnreadableCheckpoint, a checkpoint of
    another task or network CheckpointError, each naming the folder in one line."""
    where = f"checkpoint {manager.directory}/{step}"
    try:
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    except Exception as error:  # orbax raises many types for damaged files
        raise UnreadableCheckpoint(f"{where} is unreadable (its meta: "
                                   f"{_first_line(error)})") from error
    if not isinstance(meta, dict):
        raise UnreadableCheckpoint(f"{where} is unreadable (its meta is {meta!r})")
    if task is not None and meta.get("task") != task:
        raise CheckpointError(
            f"{where} is a {meta.get('task')!r} model ({meta.get('name')}), but this run is a "
            f"{task!r} run")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
        saved = manager.item_metadata(step)["state"]
    except Exception as error:
        raise UnreadableCheckpoint(f"{where} is unreadable (its array metadata: "
                                   f"{_first_line(error)})") from error
    mismatch = _shape_mismatch(saved["params"], abstract.params)
    if mismatch:
        raise CheckpointError(f"{where} holds a different network than this config builds "
                              f"({mismatch}); was it trained with another width or task?")
    try:
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))
    except Exception as error:
        raise UnreadableCheckpoint(f"{where} is unreadable ({_first_line(error)})") from error
    return restored.state, meta


def _shape_mismatch(saved, abstract) -> str:
    """'' if every array of `abstract` is in `saved` with the same shape, else the first
    difference."""
    flat_saved = {jax.tree_util.keystr(path): leaf for path, leaf in
                  jax.tree_util.tree_flatten_with_path(dict(saved))[0]}
    for path, leaf in jax.tree_util.tree_flatten_with_path(dict(abstract))[0]:
        key = jax.tree_util.keystr(path)
        if key not in flat_saved:
            return f"{key} is missing"
        shape = tuple(getattr(flat_saved[key], "shape", ()) or ())
        if shape != tuple(leaf.shape):
            return f"{key} has shape {shape}, expected {tuple(leaf.shape)}"
    return ""


def restore_path(path: str, target, task: str | None) -> tuple[Any, dict]:
    """Restores from a checkpoint folder given by path (.../checkpoints/<step> or .../best/<step>)."""
    path = storage.absolute(path.rstrip("/"))
    parent, name = storage.dirname(path), storage.basename(path)
    if not storage.isdir(path) or not name.isdigit():
        raise CheckpointError(f"{path!r} is not a checkpoint folder (expected .../<step>)")
    manager = _manager(parent, 1000)
    try:
        return restore_from(manager, int(name), target, task)
    finally:
        manager.close()
