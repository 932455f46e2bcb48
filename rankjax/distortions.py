"""Image distortions for IQA ranked sets, at the five levels of the authors' generator.

Each op takes an (H, W, 3) uint8 (or [0, 255] float) image tensor and returns uint8,
and works eagerly and inside `tf.data.map`. Levels are 1..5 (stronger = lower
quality); level 0 is the pristine image.

  gaussian_blur   kernel size [7, 15, 39, 91, 199], sigma = size / 6, symmetric borders
                  (kernel truncated to the image for small crops, sigma kept)
  gaussian_noise  variance 2^[-10, -7.5, -5.5, -3.5, 0] on [0, 1] images, clipped
  jpeg            quality [43, 12, 7, 4, 0] (libjpeg, 4:2:0 chroma, as Pillow's default)
  jpeg2000        [0.46, 0.16, 0.07, 0.04, 0.02] bits per pixel (Pillow's OpenJPEG codec)
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable

import numpy as np
import tensorflow as tf
from PIL import Image

from rankjax.registry import Registry


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    if image.dtype == tf.uint8:
        return image
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def gaussian_blur(image: tf.Tensor, size: int, seed: tf.Tensor | None = None) -> tf.Tensor:
    """Kernel of `size` taps, sigma = size / 6 (MATLAB fspecial), symmetric borders."""
    size = int(size)
    sigma = size / 6.0
    x = tf.cast(image, tf.float32)
    shape = tf.shape(x)
    # Symmetric padding cannot exceed the image: truncate the kernel on small crops.
    radius = tf.minimum(size // 2, tf.reduce_min(shape[:2]) - 1)
    taps = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    kernel = tf.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel /= tf.reduce_sum(kernel)
    x = tf.pad(x[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], "SYMMETRIC")
    channels = 3
    horizontal = tf.tile(kernel[None, :, None, None], [1, 1, channels, 1])
    vertical = tf.tile(kernel[:, None, None, None], [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, horizontal, [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, vertical, [1, 1, 1, 1], "VALID")
    return _to_uint8(x[0])


def gaussian_noise(image: tf.Tensor, variance: float, seed: tf.Tensor) -> tf.Tensor:
    x = tf.cast(image, tf.float32) / 255.0
    noise = tf.random.stateless_normal(tf.shape(x), seed, stddev=float(np.sqrt(variance)))
    return _to_uint8(tf.clip_by_value(x + noise, 0.0, 1.0) * 255.0)


def jpeg(image: tf.Tensor, quality: int, seed: tf.Tensor | None = None) -> tf.Tensor:
    encoded = tf.io.encode_jpeg(_to_uint8(image), quality=int(quality))
    return tf.io.decode_jpeg(encoded, channels=3)


# A JPEG 2000 stream needs a few hundred bytes of headers before any image data: at
# 0.02 bits per pixel a 64 px crop (10 bytes) or a 224 px one (125 bytes) cannot reach
# its rate, and neighbouring levels decode to the same image. Small images are therefore
# compressed as a mirrored mosaic of copies holding at least this many bytes at the
# asked rate (the rate is per pixel, so each copy gets its share), and one copy is kept.
JPEG2000_MIN_BYTES = 1024


def _jpeg2000_numpy(image: np.ndarray, bits_per_pixel: np.float32) -> np.ndarray:
    height, width = image.shape[:2]
    needed = JPEG2000_MIN_BYTES * 8 / float(bits_per_pixel)
    copies = max(1, int(np.ceil(np.sqrt(needed / (height * width)))))
    mosaic = image
    if copies > 1:
        row = np.concatenate([image if i % 2 == 0 else image[:, ::-1] for i in range(copies)], 1)
        mosaic = np.concatenate([row if i % 2 == 0 else row[::-1] for i in range(copies)], 0)
    buffer = io.BytesIO()
    # OpenJPEG's "rates" are compression ratios relative to 24 bits per pixel (RGB).
    Image.fromarray(np.ascontiguousarray(mosaic)).save(
        buffer, "JPEG2000", quality_mode="rates",
        quality_layers=[24.0 / float(bits_per_pixel)], irreversible=True)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), np.uint8)[:height, :width]


def jpeg2000(image: tf.Tensor, bits_per_pixel: float, seed: tf.Tensor | None = None
             ) -> tf.Tensor:
    image = _to_uint8(image)
    out = tf.numpy_function(_jpeg2000_numpy, [image, np.float32(bits_per_pixel)], tf.uint8,
                            stateful=False)
    return tf.ensure_shape(out, image.shape)


@dataclasses.dataclass(frozen=True)
class Distortion:
    """One distortion type: `apply(image, value, seed) -> uint8` at `levels[level - 1]`."""
    apply: Callable[[tf.Tensor, float, tf.Tensor], tf.Tensor]
    levels: tuple[float, ...]   # five values, weakest first


# The distortion types that ranked IQA sets can use. Adding one is one entry here (or a
# `DISTORTIONS.register(name, Distortion(fn, levels))` call in your own code).
DISTORTIONS = Registry("distortion")
DISTORTIONS.register("gaussian_blur", Distortion(gaussian_blur, (7, 15, 39, 91, 199)))
DISTORTIONS.register("gaussian_noise", Distortion(
    gaussian_noise, tuple(2.0 ** e for e in (-10, -7.5, -5.5, -3.5, 0))))
DISTORTIONS.register("jpeg", Distortion(jpeg, (43, 12, 7, 4, 0)))
DISTORTIONS.register("jpeg2000", Distortion(jpeg2000, (0.46, 0.16, 0.07, 0.04, 0.02)))
# The paper's four LIVE types, in a fixed order (the default of Config.distortions).
PAPER_DISTORTIONS = ("gaussian_blur", "gaussian_noise", "jpeg", "jpeg2000")


def distort(image, kind: str, level: int, seed=(0, 0)) -> tf.Tensor:
    """`image` distorted by `kind` at `level` (0 = pristine, 1..5 = the paper's levels).

    seed: two ints (the noise of gaussian_noise); the other kinds are deterministic.
    """
    image = tf.convert_to_tensor(image)
    distortion = DISTORTIONS.get(kind)
    if not 0 <= level <= len(distortion.levels):
        raise ValueError(f"distortion level must be 0..{len(distortion.levels)}, got {level}")
    if level == 0:
        return _to_uint8(image)
    return distortion.apply(image, distortion.levels[level - 1],
                            tf.reshape(tf.cast(seed, tf.int32), (2,)))


def ranked_set(image: tf.Tensor, kind_index: tf.Tensor, levels: tuple[int, ...],
               kinds: tuple[str, ...], seed: tf.Tensor) -> tf.Tensor:
    """(len(levels), H, W, 3) uint8: one image at `levels` of distortion kinds[kind_index]."""
    def branch(kind):
        return lambda: tf.stack([distort(image, kind, level, tf.stack([seed[0], seed[1] + level]))
                                 for level in levels])
    return tf.switch_case(kind_index, [branch(kind) for kind in kinds])


def psnr(reference: np.ndarray, distorted: np.ndarray) -> float:
    error = np.mean((np.asarray(reference, np.float64) - np.asarray(distorted, np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0 ** 2 / error)
