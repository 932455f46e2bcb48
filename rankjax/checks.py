"""A config's names against the registries, and its task's own rules.

rankjax.config checks each field's value on its own; `check(cfg)` checks what needs the
registries: that the task, dataset, backbone, pair strategy and selection strategy exist,
and the task's rules (e.g. crowd counting's count protocols). The entry points
(train_and_evaluate, active.run, rankjax.load and the command lines) call it.
"""

from __future__ import annotations

from rankjax import certainty, losses, models, tasks
from rankjax.config import Config
from rankjax.data import splits


def _one_of(field: str, value: str, names: list[str]) -> str:
    return f"{field} must be one of {', '.join(names)}, got {value!r}"


def check(cfg: Config) -> Config:
    """`cfg`, or ValueError naming every name that is not registered and every rule of its
    task that it breaks."""
    try:
        task = tasks.get(cfg.task)
    except KeyError as error:
        raise ValueError(f"config {cfg.name!r}: {error}") from None
    problems = []
    if cfg.backbone not in models.BACKBONES:
        problems.append(_one_of("backbone", cfg.backbone, models.BACKBONES.names()))
    if cfg.pair_strategy not in losses.PAIR_STRATEGIES:
        problems.append(_one_of("pair_strategy", cfg.pair_strategy,
                                losses.PAIR_STRATEGIES.names()))
    elif cfg.pair_strategy in losses.SUBSET_STRATEGIES and cfg.num_pairs <= 0:
        problems.append(f"pair_strategy={cfg.pair_strategy} needs num_pairs > 0")
    if cfg.dataset and cfg.dataset not in splits.for_task(cfg.task):
        problems.append(f"dataset {cfg.dataset!r} is not a {cfg.task!r} dataset; known: "
                        + (", ".join(splits.for_task(cfg.task)) or "none (pass the data to "
                           "train_and_evaluate, and leave dataset empty)"))
    if cfg.test_dataset and cfg.test_dataset not in splits.for_task(cfg.task):
        problems.append(f"test_dataset {cfg.test_dataset!r} is not a {cfg.task!r} dataset")
    if cfg.active_learning and cfg.active_learning not in certainty.SELECTION_STRATEGIES:
        problems.append(f"active_learning must be one of "
                        f"{', '.join(certainty.SELECTION_STRATEGIES.names())} or empty, got "
                        f"{cfg.active_learning!r}")
    problems += task.validate(cfg)
    if problems:
        raise ValueError(f"config {cfg.name!r}: " + "; ".join(problems))
    return cfg
