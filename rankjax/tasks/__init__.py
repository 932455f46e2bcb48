"""Tasks: everything that differs between regression problems, behind one interface.

A task owns its network, regression target and loss, the ranking score of an image,
how labeled samples and ranked sets are drawn, the evaluation protocol, metrics and
pictures, and which metric selects the best checkpoint (rankjax.tasks.base.Task).
The trainer, input pipeline, evaluation loop and command lines ask the task; none
of them knows which one it is.

    crowd   density-map counting, nested crops rank (rankjax.tasks.crowd)
    iqa     image quality, distortion levels rank (rankjax.tasks.score)

A new problem is a `ScoreTask` (one score per image) or a `Task` subclass,
registered with `register(task)`; see examples/ and the README.
"""

from rankjax.registry import Registry
from rankjax.tasks.base import Task
from rankjax.tasks.crowd import CrowdTask
from rankjax.tasks.score import QualityTask, ScoreTask

TASKS = Registry("task")


def register(task: Task, replace: bool = False) -> Task:
    """Makes `task` available by name to configs, train.py (--task) and rankjax.load."""
    return TASKS.register(task.name, task, replace=replace)


def get(name: str) -> Task:
    return TASKS.get(name)


register(CrowdTask())
register(QualityTask())

__all__ = ["TASKS", "Task", "CrowdTask", "ScoreTask", "QualityTask", "register", "get"]
