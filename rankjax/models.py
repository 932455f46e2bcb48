"""Networks of the paper as pure Flax Linen modules: `model.apply(params, images)`.

Both networks share the VGG16 convolutional trunk. Parameter names follow the
Caffe/VGG layer names (`conv1_1` ... `conv5_3`, `fc6`, `fc7`) so that importing
ImageNet weights (rankjax.pretrained) is a rename, not guesswork. The new layer
of each task is called `head`.

Images enter as RGB floats in [0, 1] with shape (N, H, W, 3); the model itself
applies the preprocessing that its initial weights expect (`input_style`), so
a checkpoint can be run on raw images by anyone.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# (block, number of 3x3 convs, channels at width 1.0). pool after each block.
VGG16_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
VGG16_CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{block}_{i + 1}" for block, n, _ in VGG16_BLOCKS for i in range(n))

# Keras 'caffe' preprocessing: BGR channel order, [0, 255] range, ImageNet mean
# subtracted (keras.applications.vgg16.preprocess_input).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# torchvision preprocessing: RGB in [0, 1], normalised by ImageNet mean and std.
TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
TORCH_RGB_STD = (0.229, 0.224, 0.225)
INPUT_STYLES = ("caffe", "torch", "none")
OUTPUT_STRIDE = 16  # four 2x2 max-pools before the counting head
# He initialisation keeps the signal's scale through 13 plain ReLU layers when training
# from scratch (LeCun's shrinks it about 2^-6.5 by conv5_3); ImageNet imports replace it.
HE_NORMAL = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


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


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max pooling with stride 2 of (N, H, W, C) (an odd last row or column is
    dropped, as VALID padding does): the same values and gradients as
    `flax.linen.max_pool(x, (2, 2), strides=(2, 2))`, but several times faster to
    differentiate on CPU.

    Flax's pooling is XLA's reduce-window, whose gradient is a select-and-scatter that
    XLA:CPU runs slowly (about half the train step of the CPU presets). Here the forward
    pass is a reshape and a max, and the gradient a few element-wise selects. Tie rule
    (the same as select-and-scatter's): the whole gradient of a window goes to the FIRST
    of its maxima in row-major order (top-left, top-right, bottom-left, bottom-right).

    >>> x = jnp.array([[1., 3.], [3., 2.]]).reshape(1, 2, 2, 1)
    >>> float(max_pool_2x2(x)[0, 0, 0, 0])
    3.0
    >>> jax.grad(lambda x: max_pool_2x2(x).sum())(x).reshape(2, 2).tolist()  # first max
    [[0.0, 1.0], [0.0, 0.0]]
    """
    n, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _max_pool_2x2_forward(x):
    y = max_pool_2x2(x)
    return y, (x, y)


def _max_pool_2x2_backward(residuals, g):
    x, y = residuals
    n, h, w, c = x.shape
    windows = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    taken = jnp.zeros(y.shape, bool)
    rows = []
    for i in range(2):
        row = []
        for j in range(2):
            hit = (windows[:, :, i, :, j] == y) & ~taken  # the first maximum only
            taken = taken | hit
            row.append(jnp.where(hit, g, jnp.zeros_like(g)))
        rows.append(jnp.stack(row, axis=3))
    grad = jnp.stack(rows, axis=2).reshape(n, h // 2 * 2, w // 2 * 2, c).astype(x.dtype)
    return (jnp.pad(grad, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))),)  # dropped: no gradient


max_pool_2x2.defvjp(_max_pool_2x2_forward, _max_pool_2x2_backward)


def scaled_channels(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class VGG16Trunk(nn.Module):
    """VGG16 conv1_1 ... conv5_3 with ReLUs and pool1..pool4 (and pool5 if asked)."""

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32
    pool5: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for block, n_convs, channels in VGG16_BLOCKS:
            for i in range(n_convs):
                x = nn.Conv(scaled_channels(channels, self.width), (3, 3), padding="SAME",
                            dtype=self.dtype, kernel_init=HE_NORMAL,
                            name=f"conv{block}_{i + 1}")(x)
                x = nn.relu(x)
            if block < 5 or self.pool5:
                x = max_pool_2x2(x)
        return x


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
    """Crowd density network: VGG16 to conv5_3 (no pool5), then a 3x3 conv to 1 channel.

    Output: density map of shape (N, H/16, W/16), no final ReLU (as in the paper);
    the count of an image is the sum of its map.
    """

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32
    input_style: str = "caffe"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        del train  # no dropout or normalisation in this network
        check_image_batch(images, OUTPUT_STRIDE)
        x = preprocess(images.astype(jnp.float32), self.input_style).astype(self.dtype)
        x = VGG16Trunk(self.width, self.dtype, name="trunk")(x)
        x = nn.Conv(1, (3, 3), padding="SAME", dtype=self.dtype, name="head")(x)
        return x[..., 0].astype(jnp.float32)


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


def trunk_features(model: nn.Module, params, images: jax.Array) -> jax.Array:
    """conv5_3 activations (after ReLU, before pool5) of either network."""
    trunk = VGG16Trunk(model.width, model.dtype, pool5=False)
    x = preprocess(images.astype(jnp.float32), model.input_style).astype(model.dtype)
    return trunk.apply({"params": params["params"]["trunk"]}, x)
