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

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(ValueError):
    pass


def _manager(directory: str, max_to_keep: int) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        os.path.abspath(directory), item_names=("state", "meta"),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


class RunCheckpoints:
    def __init__(self, workdir: str):
        self.latest = _manager(os.path.join(workdir, "checkpoints"), 2)
        self.best = _manager(os.path.join(workdir, "best"), 1)

    def save(self, state, meta: dict, best: bool = False) -> None:
        step = int(jax.device_get(state.step))
        manager = self.best if best else self.latest
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
        return self.best.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def restore(self, target, which: str = "latest", task: str | None = None) -> tuple[Any, dict]:
        manager = self.best if which == "best" else self.latest
        step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"no {which} checkpoint in {manager.directory}")
        return restore_from(manager, step, target, task)

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def restore_from(manager: ocp.CheckpointManager, step: int, target, task: str | None
                 ) -> tuple[Any, dict]:
    """Restores `target`'s structure (with its shardings) at `step`, checking the task first."""
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    if task is not None and meta.get("task") != task:
        raise CheckpointError(
            f"checkpoint {manager.directory}/{step} is a {meta.get('task')!r} model "
            f"({meta.get('name')}), but this run is a {task!r} run")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract)))
    return restored.state, meta


def restore_path(path: str, target, task: str | None) -> tuple[Any, dict]:
    """Restores from a checkpoint folder given by path (.../checkpoints/<step> or .../best/<step>)."""
    path = os.path.abspath(path.rstrip("/"))
    parent, name = os.path.dirname(path), os.path.basename(path)
    if not os.path.isdir(path) or not name.isdigit():
        raise CheckpointError(f"{path!r} is not a checkpoint folder (expected .../<step>)")
    manager = _manager(parent, 1000)
    try:
        return restore_from(manager, int(name), target, task)
    finally:
        manager.close()
