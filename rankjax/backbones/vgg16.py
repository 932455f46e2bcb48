"""VGG16 (Simonyan and Zisserman 2015), the paper's backbone: conv1_1 ... conv5_3 with
ReLUs and 2x2 max pools, its channels scaled by `width` (0.25 for CPU runs from scratch).

Parameter names follow the Caffe/VGG layer names (`conv1_1` ... `conv5_3`), so importing
ImageNet weights (rankjax.pretrained: Keras .h5 or torchvision .pth) is a rename.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# (block, number of 3x3 convs, channels at width 1.0). pool after each block.
VGG16_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
VGG16_CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{block}_{i + 1}" for block, n, _ in VGG16_BLOCKS for i in range(n))

# He initialisation keeps the signal's scale through 13 plain ReLU layers when training
# from scratch (LeCun's shrinks it about 2^-6.5 by conv5_3); ImageNet imports replace it.
HE_NORMAL = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


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
