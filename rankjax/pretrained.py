"""Imports ImageNet VGG16 weights from Keras .h5 files or torchvision .pth state dicts.

Supported files (the ones users can download):
  Keras (legacy h5 layout, `input_style="caffe"`: BGR, [0, 255], mean subtracted)
    vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5   conv layers only
    vgg16_weights_tf_dim_ordering_tf_kernels.h5         conv layers + fc1, fc2
  torchvision (`input_style="torch"`: RGB, [0, 1], mean/std normalised)
    vgg16-397923af.pth                                  conv + classifier; needs torch

Keras names map to ours as block{b}_conv{i} -> conv{b}_{i}, fc1 -> fc6, fc2 -> fc7;
torchvision's `features.{n}` indices and `classifier.{0,3}` likewise. The
1000-way ImageNet classifier is never imported: `head` is the new layer.

Files are read as data (rankjax.weight_files): a .pth is never unpickled by torch, and
one that names anything but tensors is refused before any of it runs; every problem is a
WeightsFileError naming the file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rankjax import models, weight_files
from rankjax.weight_files import WeightsFileError

KERAS_NOTOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                   "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
KERAS_TOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                 "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
TORCH_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
WHERE_TO_GET = (f"Download the Keras file ({KERAS_NOTOP_URL}, or {KERAS_TOP_URL} for the IQA "
                f"network's fc6/fc7) or torchvision's ({TORCH_URL}, needs `pip install torch`).")

KERAS_TO_RANKJAX = {f"block{b}_conv{i + 1}": f"conv{b}_{i + 1}"
                    for b, n, _ in models.VGG16_BLOCKS for i in range(n)}
KERAS_TO_RANKJAX.update(fc1="fc6", fc2="fc7")
# torchvision.models.vgg16: features is a Sequential of conv, ReLU (and pool) modules.
TORCH_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
TORCH_TO_RANKJAX = {f"features.{i}": name
                    for i, name in zip(TORCH_CONV_INDICES, models.VGG16_CONV_NAMES)}
TORCH_TO_RANKJAX.update({"classifier.0": "fc6", "classifier.3": "fc7"})

Weights = dict[str, tuple[np.ndarray, np.ndarray]]  # rankjax layer -> (flax kernel, bias)


def input_style_of(path: str) -> str:
    """The preprocessing the weights in `path` were trained with."""
    return "torch" if path.endswith((".pth", ".pt")) else "caffe"


def load_vgg16(path: str) -> Weights:
    """Reads a VGG16 weight file into {rankjax layer name: (kernel, bias)} in Flax layout."""
    if not os.path.isfile(path):
        raise WeightsFileError(f"VGG16 weights file not found: {path!r}. {WHERE_TO_GET}")
    if path.endswith((".h5", ".hdf5")):
        return _load_keras_h5(path)
    if path.endswith((".pth", ".pt")):
        return _load_torch(path)
    raise WeightsFileError(f"{path!r}: unknown VGG16 weight format (expected a Keras .h5 or "
                           f"a torchvision .pth file). {WHERE_TO_GET}")


def _load_keras_h5(path: str) -> Weights:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise WeightsFileError(f"{path!r} is not a readable HDF5 file ({error}). "
                               f"{WHERE_TO_GET}") from None
    try:
        with h5:
            return _read_keras_h5(path, h5)
    except (KeyError, OSError, TypeError) as error:  # a damaged or unexpected layout
        raise WeightsFileError(f"{path!r} is not a Keras VGG16 weights file "
                               f"({type(error).__name__}: {error}). {WHERE_TO_GET}") from None


def _read_keras_h5(path: str, h5) -> Weights:
    root = h5["model_weights"] if "model_weights" in h5 else h5  # whole-model saves
    if "layer_names" not in root.attrs:
        raise WeightsFileError(f"{path!r} is not a Keras weights file in the legacy h5 layout "
                               f"(no 'layer_names' attribute). {WHERE_TO_GET}")
    weights: Weights = {}
    for raw in root.attrs["layer_names"]:
        layer = raw.decode() if isinstance(raw, bytes) else str(raw)
        if layer not in KERAS_TO_RANKJAX:
            continue
        group = root[layer]
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in group.attrs["weight_names"]]
        # Keras loads by position (kernel, bias); dataset names differ across versions
        # (block1_conv1_W_1:0 in the 2016 files, block1_conv1/kernel today).
        arrays = [np.asarray(group[name]) for name in names]
        if len(arrays) != 2:
            raise WeightsFileError(f"{path!r}: layer {layer} holds {len(arrays)} arrays, "
                                   f"expected kernel and bias")
        kernel, bias = sorted(arrays, key=lambda a: -a.ndim)
        weights[KERAS_TO_RANKJAX[layer]] = (kernel.astype(np.float32),
                                            bias.astype(np.float32))
    _check_complete(path, weights)
    return weights


def _load_torch(path: str) -> Weights:
    state = weight_files.read_torch(path)
    weights: Weights = {}
    for prefix, name in TORCH_TO_RANKJAX.items():
        if f"{prefix}.weight" not in state or f"{prefix}.bias" not in state:
            continue
        weight = state[f"{prefix}.weight"].astype(np.float32)
        bias = state[f"{prefix}.bias"].astype(np.float32)
        if weight.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
            kernel = weight.transpose(2, 3, 1, 0)
        elif name == "fc6":  # input flattened as (C, 7, 7) in torch, (7, 7, C) here
            out_features, in_features = weight.shape
            channels = in_features // 49
            kernel = weight.reshape(out_features, channels, 7, 7).transpose(2, 3, 1, 0)
            kernel = kernel.reshape(in_features, out_features)
        else:
            kernel = weight.T
        weights[name] = (np.ascontiguousarray(kernel), bias)
    _check_complete(path, weights)
    return weights


def _check_complete(path: str, weights: Weights) -> None:
    missing = [n for n in models.VGG16_CONV_NAMES if n not in weights]
    if missing:
        raise WeightsFileError(f"{path!r} lacks VGG16 layers {missing}; is it a VGG16 file? "
                         f"{WHERE_TO_GET}")


def load_into(params: Any, path: str) -> Any:
    """Returns `params` (of CountingNet or IQANet) with VGG16 layers replaced from `path`.

    Conv layers are always imported; fc6/fc7 when both the network and the file
    have them. `head` keeps its fresh initialisation.
    """
    weights = load_vgg16(path)
    tree = params["params"]
    new = {key: dict(value) for key, value in tree.items()}
    trunk = dict(new["trunk"])
    targets = [(trunk, name) for name in models.VGG16_CONV_NAMES]
    targets += [(new, name) for name in ("fc6", "fc7") if name in new]
    for parent, name in targets:
        if name not in weights:
            raise WeightsFileError(f"{path!r} has no {name} weights, which this network needs; "
                                   f"the IQA network needs the full file: {KERAS_TOP_URL}")
        kernel, bias = weights[name]
        expected = parent[name]["kernel"].shape
        if kernel.shape != expected:
            raise WeightsFileError(
                f"{path!r}: {name} kernel has shape {kernel.shape} but the network expects "
                f"{expected}; ImageNet weights need width=1.0 (and 224x224 input for fc6)")
        parent[name] = {"kernel": kernel, "bias": bias}
    new["trunk"] = trunk
    return {**params, "params": new}
