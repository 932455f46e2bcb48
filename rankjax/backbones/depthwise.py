"""Depthwise convolution (one k x k filter per channel, TensorFlow's SAME padding), two ways.

`xla`: XLA's grouped convolution (`feature_group_count` = channels), the right choice on
GPUs and TPUs. `taps`: a sum of k*k shifted, strided slices of the padded input, each
times one tap of the filter, with a hand-written backward pass of the same form (the
input's gradient a sum of shifted slices of the zero-stuffed output gradient, the
filter's gradient one variadic reduction of k*k products). XLA:CPU runs its grouped convolution
and the gradients autodiff derives from strided slices slowly; the taps are element-wise
work it fuses into a few loops (benchmarks/profile_step.py, BENCHMARKS.md).
`auto` picks `taps` on CPU and `xla` elsewhere. Both give the same values and gradients
(tests/test_backbones.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

IMPLEMENTATIONS = ("auto", "xla", "taps")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one side of `size` pixels: the output has
    ceil(size / stride) pixels, and an odd total puts the extra pixel at the end.

    >>> same_padding(224, 3, 2), same_padding(233, 5, 2), same_padding(8, 5, 1)
    ((0, 1), (2, 2), (2, 2))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def resolve(implementation: str) -> str:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"depthwise implementation must be one of {IMPLEMENTATIONS}, got "
                         f"{implementation!r}")
    if implementation == "auto":
        return "taps" if jax.default_backend() == "cpu" else "xla"
    return implementation


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int,
                   implementation: str = "auto") -> jax.Array:
    """x: (N, H, W, C); kernel: (k, k, 1, C) (Flax's layout); SAME padding, no bias."""
    if resolve(implementation) == "xla":
        k = kernel.shape[0]
        pads = [same_padding(x.shape[1], k, stride), same_padding(x.shape[2], k, stride)]
        return lax.conv_general_dilated(x, kernel.astype(x.dtype), (stride, stride), pads,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=x.shape[-1])
    return _taps(x, kernel[:, :, 0, :].astype(x.dtype), stride)


def _padded(x: jax.Array, k: int, stride: int) -> jax.Array:
    (top, bottom), (left, right) = (same_padding(x.shape[1], k, stride),
                                    same_padding(x.shape[2], k, stride))
    return jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _tap(padded: jax.Array, i: int, j: int, rows: int, cols: int, stride: int) -> jax.Array:
    return lax.slice(padded, (0, i, j, 0),
                     (padded.shape[0], i + stride * (rows - 1) + 1,
                      j + stride * (cols - 1) + 1, padded.shape[3]), (1, stride, stride, 1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _taps(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """kernel: (k, k, C)."""
    k = kernel.shape[0]
    rows, cols = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    padded = _padded(x, k, stride)
    out = None
    for i in range(k):
        for j in range(k):
            term = _tap(padded, i, j, rows, cols, stride) * kernel[i, j]
            out = term if out is None else out + term
    return out


def _taps_forward(x, kernel, stride):
    return _taps(x, kernel, stride), (x, kernel)


def _taps_backward(stride, residuals, g):
    x, kernel = residuals
    k = kernel.shape[0]
    n, height, width, channels = x.shape
    rows, cols = g.shape[1], g.shape[2]
    padded = _padded(x, k, stride)
    # The filter: tap (i, j) met the padded input at (i + stride * a, j + stride * b).
    # One variadic reduction of the k*k products: XLA fuses it into a single pass over x
    # and g with k*k accumulators (k*k separate reductions read them k*k times, 5-7x
    # slower on CPU).
    products = tuple(_tap(padded, i, j, rows, cols, stride) * g
                     for i in range(k) for j in range(k))
    sums = lax.reduce(products, tuple(jnp.zeros((), g.dtype) for _ in products),
                      lambda a, b: tuple(x + y for x, y in zip(a, b)), (0, 1, 2))
    kernel_grad = jnp.stack(sums).reshape(k, k, channels).astype(kernel.dtype)
    # The input: g spread back to the padded grid (zeros between rows and columns when
    # strided), then correlated with the filter turned by 180 degrees.
    (top, _), (left, _) = (same_padding(height, k, stride), same_padding(width, k, stride))
    span_rows, span_cols = padded.shape[1], padded.shape[2]
    stuffed = lax.pad(g, jnp.zeros((), g.dtype), (
        (0, 0, 0),
        (k - 1, span_rows - stride * (rows - 1) - 1, stride - 1),
        (k - 1, span_cols - stride * (cols - 1) - 1, stride - 1),
        (0, 0, 0)))
    grad = None
    for i in range(k):
        for j in range(k):
            term = _tap(stuffed, k - 1 - i, k - 1 - j, span_rows, span_cols, 1) * kernel[i, j]
            grad = term if grad is None else grad + term
    return grad[:, top:top + height, left:left + width], kernel_grad


_taps.defvjp(_taps_forward, _taps_backward)
