"""rankjax: self-supervised learning to rank for regression with scarce labels, in JAX.

Reimplements Liu, van de Weijer and Bagdanov, "Exploiting Unlabeled Data in CNNs
by Self-supervised Learning to Rank" (TPAMI 2019).

`import rankjax` applies the CPU XLA flags (rankjax.platform) and loads nothing else, so
the command lines' --help and the train-step benchmarks import only the modules they use.
`rankjax.load` (rankjax.api.load: a Predictor of a trained run) is resolved on first use,
by the lazy attributes of PEP 562 declared in `LAZY` below; tests/test_layers.py counts
them as imports of this package.
"""

import importlib

from rankjax import platform as _platform

_platform.apply_cpu_xla_flags()  # before any module below starts XLA

__version__ = "0.2.0"

# Attributes of the package that are another module's, loaded on first use: name -> module.
LAZY = {"load": "rankjax.api"}


def __getattr__(name: str):
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'rankjax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(LAZY))
