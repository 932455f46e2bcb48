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
    print("note: TensorFlow is not installed; stubbed (no tf.data in this benchmark)",
          file=sys.stderr)
