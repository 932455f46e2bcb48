"""rankjax: self-supervised learning to rank for regression with scarce labels, in JAX.

Reimplements Liu, van de Weijer and Bagdanov, "Exploiting Unlabeled Data in CNNs
by Self-supervised Learning to Rank" (TPAMI 2019).
"""

from rankjax import platform as _platform

_platform.apply_cpu_xla_flags()  # before any module below starts XLA

__version__ = "0.2.0"


def load(path: str, which: str = "best", **evaluation):
    """A Predictor of a trained run or checkpoint folder; see rankjax.api.load.

    The one rankjax import inside a function (tests/test_layers.py names it): `import
    rankjax` applies the CPU flags and loads nothing else, so a benchmark on a machine
    without TensorFlow or PyAV imports the modules it needs and no others."""
    from rankjax import api
    return api.load(path, which, **evaluation)
