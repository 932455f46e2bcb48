"""The errors a user can cause, one class each, importable without JAX or TensorFlow.

Each message names the file, folder or setting and what is wrong with it. The command lines
(rankjax.cli.user_errors) end these with that one line and exit status 2; anything else is
a bug and keeps its traceback. The modules that raise them import them from here (e.g.
rankjax.checkpoints.CheckpointError is this module's class).
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (another config, another run's lock)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored: missing, damaged, or of another network."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class StorageError(OSError):
    """A path that cannot be read or written; the message names it and the reason."""


class WeightsFileError(ValueError):
    """A weights file that cannot be used: the message names it and the reason."""


# What the command lines end with one line (FileNotFoundError: a path given that is not there).
USER_ERRORS = (FileNotFoundError, DatasetError, RunDirError, CheckpointError, TrainingDiverged,
               StorageError, WeightsFileError)
