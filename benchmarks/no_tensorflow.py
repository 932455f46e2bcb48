"""Lets a benchmark that feeds numpy arrays import rankjax where TensorFlow is absent.

rankjax uses TensorFlow for tf.data only. The train-step benchmarks never build a tf.data
pipeline, so on a machine with JAX but no TensorFlow (e.g. a GPU image without the
600 MB TF wheel) TensorFlow is only named at import time (tf.data.AUTOTUNE). Calling
anything of the stand-in raises a RuntimeError that says TensorFlow is missing.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types


def stub_if_missing() -> None:
    """Put a stand-in `tensorflow` module in sys.modules when TensorFlow is absent."""
    try:
        import tensorflow  # noqa: F401
        return
    except ImportError:
        pass

    class _Absent:
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return self

        def __call__(self, *args, **kwargs):
            raise RuntimeError("TensorFlow is not installed; this benchmark ran without it")

        __or__ = __ror__ = __getitem__ = lambda self, *args: self

    module = types.ModuleType("tensorflow")
    module.__spec__ = importlib.machinery.ModuleSpec("tensorflow", None)
    module.__getattr__ = _Absent().__getattr__  # tf.<anything>: the stand-in, dunders absent
    sys.modules["tensorflow"] = module
    sys.modules["tensorflow_datasets"] = _tfds_stand_in()
    print("note: TensorFlow is not installed; stubbed (no tf.data in this benchmark)",
          file=sys.stderr)


def _tfds_stand_in() -> types.ModuleType:
    """`tensorflow_datasets` without TensorFlow: rankjax.data.tfds_builders defines its
    builder classes at import (a version, a registration context, a base class to derive
    from), so this stand-in lets all of that happen and does nothing."""
    class _Inert:
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return self

        def __call__(self, *args, **kwargs):
            return self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __mro_entries__(self, bases):  # `class B(tfds.core.GeneratorBasedBuilder)`
            return (object,)

    module = types.ModuleType("tensorflow_datasets")
    module.__spec__ = importlib.machinery.ModuleSpec("tensorflow_datasets", None)
    module.__getattr__ = _Inert().__getattr__
    return module
