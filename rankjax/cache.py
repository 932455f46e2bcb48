"""rankjax's cache folder, and folders written into it whole or not at all.

Generated datasets (rankjax.synthetic), the local copies of prepared TFDS sets
(rankjax.data.tfds_builders) and converted ImageNet weights
(rankjax.backbones.lite_weights) live under `root()`: $RANKJAX_CACHE, else
~/.cache/rankjax.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def root(data_dir: str = "") -> str:
    """`data_dir` if given, else the cache folder."""
    return data_dir or os.environ.get("RANKJAX_CACHE", os.path.join(
        os.path.expanduser("~"), ".cache", "rankjax"))


def materialise(target: str, write) -> str:
    """Runs `write(tmp_folder)` and moves the result into place atomically."""
    if os.path.isdir(target):
        return target
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_", dir=parent)
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError:
        if not os.path.isdir(target):  # not a lost race with another process
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
