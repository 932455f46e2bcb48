"""A trained network's weights from a run directory or one checkpoint folder.

Restored into the abstract shapes of the run's config (`jax.eval_shape`): no
initialisation runs and no pretrained weight file is read. rankjax.api (prediction)
and rankjax.active (each cycle's selection) both restore through here.
"""

from __future__ import annotations

from typing import Any

import jax

from rankjax import checkpoints, sharding, storage, training
from rankjax.config import Config


def run_of_checkpoint(path: str) -> str | None:
    """The run directory of .../checkpoints/<step> or .../best/<step>, if it is one."""
    path = storage.absolute(path.rstrip("/"))
    if storage.basename(path).isdigit():
        run = storage.dirname(storage.dirname(path))
        if storage.exists(storage.join(run, "config.json")):
            return run
    return None


def restore_params(cfg: Config, workdir: str, which: str = "latest",
                   checkpoint: str | None = None) -> tuple[Any, str]:
    """(params, checkpoint folder) of a run: its latest or best checkpoint, or `checkpoint`.

    Restored into abstract shapes: no initialisation runs and no pretrained weight file
    is read.
    """
    if which not in ("latest", "best"):
        raise ValueError(f"which must be 'latest' or 'best', got {which!r}")
    mesh = sharding.make_mesh(jax.local_devices()[:1])
    model, tx = training.build_model(cfg), training.make_optimizer(cfg)
    target = training.abstract_train_state(cfg, model, tx, mesh)
    if checkpoint:
        state, _ = checkpoints.restore_path(checkpoint, target, cfg.task)
        return state.eval_params, storage.absolute(checkpoint)
    store = checkpoints.RunCheckpoints(workdir)
    try:
        if which == "best" and store.best.latest_step() is None:
            which = "latest"  # a run without validation split has no best checkpoint
        state, meta = store.restore(target, which, cfg.task)
    except checkpoints.CheckpointError as error:
        if which != "best" or not str(error).startswith("no readable"):
            raise
        raise checkpoints.CheckpointError(f"{error}; --which latest evaluates the last "
                                          f"checkpoint instead") from None
    finally:
        store.close()
    folder = "checkpoints" if which == "latest" else "best"
    return state.eval_params, storage.join(workdir, folder, str(meta["step"]))


