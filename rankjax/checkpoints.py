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

import logging
from typing import Any

import jax
import orbax.checkpoint as ocp

from rankjax import storage


log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    pass


def _manager(directory: str, max_to_keep: int) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        storage.absolute(directory), item_handlers={"state": ocp.StandardCheckpointHandler(),
                                                   "meta": ocp.JsonCheckpointHandler()},
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


class RunCheckpoints:
    def __init__(self, workdir: str):
        self.latest = _manager(storage.join(workdir, "checkpoints"), 2)
        self.best = _manager(storage.join(workdir, "best"), 1)

    def save(self, state, meta: dict, best: bool = False) -> None:
        step = int(jax.device_get(state.step))
        manager = self.best if best else self.latest
        # One save in flight at a time: two managers' concurrent async saves deadlock on
        # their cross-process barriers in multi-process runs.
        (self.latest if best else self.best).wait_until_finished()
        manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                   meta=ocp.args.JsonSave(meta)), force=True)

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

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
        self.latest.close()
        self.best.close()


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
