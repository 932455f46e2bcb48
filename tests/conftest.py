"""Test setup: 8 fake CPU devices for the sharding tests, fast-compiling XLA, quiet
TensorFlow, a compilation cache for child processes, shared fixtures."""

import os

from fixtures import FAST_COMPILE  # before JAX starts

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + f" {FAST_COMPILE} --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import tempfile  # noqa: E402

# Child processes (the command-line tests) share compiled programs through JAX's persistent
# cache: a resumed or repeated tiny run loads its train step instead of compiling it again.
# The synthetic datasets are generated once per session, never in the user's ~/.cache.
# One folder per test session: the first pytest process makes it (pytest-xdist's workers
# inherit it, so they share the datasets and compiled programs) and deletes it at exit.
_CACHE_KEYS = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
               "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES")
if "RANKJAX_TEST_CACHE" not in os.environ:
    _SESSION_CACHE = tempfile.TemporaryDirectory(prefix="rankjax_test_cache_")
    os.environ["RANKJAX_TEST_CACHE"] = _SESSION_CACHE.name
_ROOT = os.environ["RANKJAX_TEST_CACHE"]
for _key in _CACHE_KEYS:  # only the children use the compilation cache, not this process
    os.environ.pop(_key, None)

import rankjax  # noqa: E402,F401  (applies the CPU flags before JAX starts)
import jax  # noqa: E402
import pytest  # noqa: E402

os.environ["RANKJAX_CACHE"] = os.path.join(_ROOT, "synthetic")
os.environ.update(JAX_COMPILATION_CACHE_DIR=os.path.join(_ROOT, "jax"),
                  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")

from rankjax import sharding  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture
def single_mesh():
    return sharding.make_mesh(jax.devices()[:1])


@pytest.fixture
def shared_data():
    path = os.environ.get("RANKJAX_SHARED_DATA", SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip(f"real datasets not found at {path} (set RANKJAX_SHARED_DATA); "
                    "only developer machines have them")
    return os.path.abspath(path)


@pytest.fixture
def public_data():
    """~/data (or RANKJAX_PUBLIC_DATA): Mall and CLIVE, fetched by hand (see README)."""
    path = os.environ.get("RANKJAX_PUBLIC_DATA", os.path.expanduser("~/data"))
    if not os.path.isdir(path):
        pytest.skip(f"public datasets not found at {path} (set RANKJAX_PUBLIC_DATA)")
    return path


@pytest.fixture(scope="session")
def crowd_folder(tmp_path_factory):
    """A tiny point-annotated crowd folder (6 train, 2 test images) for command-line runs."""
    import fixtures

    return fixtures.make_labeled_folder(tmp_path_factory.mktemp("crowd"),
                                        {"train": 6, "test": 2}, 40, 48)
