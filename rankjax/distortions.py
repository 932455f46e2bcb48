"""Image distortions for IQA ranked sets, at the five levels of the authors' generator.

Each op takes an (H, W, 3) uint8 (or [0, 255] float) image tensor and returns uint8,
and works eagerly and inside `tf.data.map`. Levels are 1..5 (stronger = lower
quality); level 0 is the pristine image.

  gaussian_blur   kernel size [7, 15, 39, 91, 199], sigma = size / 6, symmetric borders
                  (kernel truncated to the image for small crops, sigma kept)
  gaussian_noise  variance 2^[-10, -7.5, -5.5, -3.5, 0] on [0, 1] images, clipped
  jpeg            quality [43, 12, 7, 4, 0] (libjpeg, 4:2:0 chroma, as Pillow's default)
  jpeg2000        [0.46, 0.16, 0.07, 0.04, 0.02] bits per pixel (Pillow's OpenJPEG codec)

TID2013's types that the RankIQA authors generated (their levels, a fifth stronger one
added where they had four): gaussian_noise_color (#2), high_frequency_noise (#5),
impulse_noise (#6), quantization_noise (#7), mean_shift (#16), contrast_change (#17),
color_saturation (#18), multiplicative_noise (#19), color_quantization_dither (#22),
chromatic_aberration (#23), non_eccentricity_noise (#14), block_wise (#15), and
image_denoising (#9) as a stand-in (noise removed by Gaussian smoothing; the authors use
CBM3D); with the four above (#1, #8, #10, #11) all 17 of theirs. `--distortions` takes any
subset, comma-separated.
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


def _blur(x: tf.Tensor, sigma: float, radius: int, mode: str = "REFLECT") -> tf.Tensor:
    """Separable Gaussian blur of a float (H, W, 3) tensor, `radius` taps each side."""
    taps = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    taps = tf.exp(-taps ** 2 / (2 * sigma ** 2))
    taps /= tf.reduce_sum(taps)
    padded = tf.pad(x[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode)
    x = tf.nn.depthwise_conv2d(padded, tf.tile(taps[None, :, None, None], [1, 1, 3, 1]),
                               [1] * 4, "VALID")
    return tf.nn.depthwise_conv2d(x, tf.tile(taps[:, None, None, None], [1, 1, 3, 1]),
                                  [1] * 4, "VALID")[0]


def gaussian_blur(image: tf.Tensor, size: int, seed: tf.Tensor | None = None) -> tf.Tensor:
    """Kernel of `size` taps, sigma = size / 6 (MATLAB fspecial), symmetric borders."""
    size = int(size)
    # Symmetric padding cannot exceed the image: truncate the kernel on small crops.
    radius = tf.minimum(size // 2, tf.reduce_min(tf.shape(image)[:2]) - 1)
    return _to_uint8(_blur(tf.cast(image, tf.float32), size / 6.0, radius, "SYMMETRIC"))


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


# ----------------------------------------------------------------- TID2013's types
# The RankIQA authors generated 17 of TID2013's 24 types (NOTES.md) at 4 levels (5 for
# colour quantization); their levels are kept and a fifth, stronger one is added, so
# every type has five. Numbers in comments are TID2013's type numbers.

# Full-range (JPEG) YCbCr of RGB in [0, 1], as PIL's "YCbCr" mode.
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                          [0.5, -0.418688, -0.081312]], np.float32)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR).astype(np.float32)


def rgb_to_ycbcr(x: tf.Tensor) -> tf.Tensor:
    """RGB in [0, 1] -> Y in [0, 1], Cb and Cr centred on 0.5."""
    return tf.tensordot(x, tf.constant(_RGB_TO_YCBCR.T), 1) + tf.constant([0.0, 0.5, 0.5])


def ycbcr_to_rgb(x: tf.Tensor) -> tf.Tensor:
    return tf.tensordot(x - tf.constant([0.0, 0.5, 0.5]), tf.constant(_YCBCR_TO_RGB.T), 1)


def _unit(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(image, tf.float32) / 255.0


def _from_unit(x: tf.Tensor) -> tf.Tensor:
    return _to_uint8(tf.clip_by_value(x, 0.0, 1.0) * 255.0)


def gaussian_noise_color(image: tf.Tensor, variance: float, seed: tf.Tensor) -> tf.Tensor:
    """#2: Gaussian noise of `variance` added to Y, Cb and Cr (images in [0, 1])."""
    x = rgb_to_ycbcr(_unit(image))
    noise = tf.random.stateless_normal(tf.shape(x), seed, stddev=float(np.sqrt(variance)))
    return _from_unit(ycbcr_to_rgb(x + noise))


def high_frequency_noise(image: tf.Tensor, variance: float, seed: tf.Tensor) -> tf.Tensor:
    """#5: white Gaussian noise minus its Gaussian blur (sigma 1 px: the low frequencies
    removed), scaled to `variance`, added to the image in [0, 1]."""
    x = _unit(image)
    noise = tf.random.stateless_normal(tf.shape(x), seed)
    blurred = _blur(noise, 1.0, 3)
    high = noise - blurred
    high *= float(np.sqrt(variance)) / tf.math.reduce_std(high)
    return _from_unit(x + high)


def impulse_noise(image: tf.Tensor, density: float, seed: tf.Tensor) -> tf.Tensor:
    """#6: salt and pepper: a `density` fraction of pixels set to black or white (all
    three channels, half each), as MATLAB's imnoise(..., 'salt & pepper', d)."""
    x = _unit(image)
    u = tf.random.stateless_uniform(tf.shape(x)[:2], seed)[..., None]
    x = tf.where(u < density / 2, 0.0, tf.where(u < density, 1.0, x))
    return _from_unit(x)


def quantization_noise(image: tf.Tensor, levels: float, seed: tf.Tensor | None = None
                       ) -> tf.Tensor:
    """#7: every channel quantised to `levels` evenly spaced values in [0, 255]. (The
    authors place the thresholds by Otsu's method, image by image; even spacing is the
    image-independent version.)"""
    x = _unit(image)
    steps = float(levels) - 1.0
    return _from_unit(tf.round(x * steps) / steps)


def mean_shift(image: tf.Tensor, shift: float, seed: tf.Tensor | None = None) -> tf.Tensor:
    """#16: `shift` grey levels added to every pixel, clipped."""
    return _to_uint8(tf.cast(image, tf.float32) + float(shift))


def contrast_change(image: tf.Tensor, factor: float, seed: tf.Tensor | None = None
                    ) -> tf.Tensor:
    """#17: every pixel multiplied by `factor` < 1 (the authors' contrast decrease)."""
    return _to_uint8(tf.cast(image, tf.float32) * float(factor))


def color_saturation(image: tf.Tensor, factor: float, seed: tf.Tensor | None = None
                     ) -> tf.Tensor:
    """#18: Cb and Cr scaled by `factor` around grey (1 keeps the image, 0 makes it grey,
    negative values invert the hues), luma kept."""
    x = rgb_to_ycbcr(_unit(image))
    scale = tf.constant([1.0, float(factor), float(factor)])
    return _from_unit(ycbcr_to_rgb((x - [0.0, 0.5, 0.5]) * scale + [0.0, 0.5, 0.5]))


def multiplicative_noise(image: tf.Tensor, sigma: float, seed: tf.Tensor) -> tf.Tensor:
    """#19: every channel of every pixel multiplied by 1 + sigma * N(0, 1)."""
    x = tf.cast(image, tf.float32)
    return _to_uint8(x * (1.0 + tf.random.stateless_normal(tf.shape(x), seed,
                                                            stddev=float(sigma))))


def _color_quantization_numpy(image: np.ndarray, colors: np.float32) -> np.ndarray:
    quantized = Image.fromarray(image).quantize(int(colors), method=Image.Quantize.MEDIANCUT,
                                                dither=Image.Dither.FLOYDSTEINBERG)
    return np.asarray(quantized.convert("RGB"), np.uint8)


def color_quantization_dither(image: tf.Tensor, colors: float, seed: tf.Tensor | None = None
                              ) -> tf.Tensor:
    """#22: a palette of `colors` colours (median cut) with Floyd-Steinberg dithering
    (Pillow), as MATLAB's rgb2ind."""
    image = _to_uint8(image)
    out = tf.numpy_function(_color_quantization_numpy, [image, np.float32(colors)], tf.uint8,
                            stateful=False)
    return tf.ensure_shape(out, image.shape)


def chromatic_aberration(image: tf.Tensor, shift: float, seed: tf.Tensor | None = None
                         ) -> tf.Tensor:
    """#23: the red channel shifted right by `shift` px and the blue one by half that
    (edge columns repeated), then a 3-tap Gaussian blur (sigma 0.5) as the authors'."""
    x = tf.cast(image, tf.float32)
    width = tf.shape(x)[1]

    def shifted(channel, by):
        by = tf.minimum(by, width - 1)
        return tf.concat([tf.repeat(channel[:, :1], by, axis=1), channel[:, :width - by]], 1)

    x = tf.stack([shifted(x[..., 0], int(shift)), x[..., 1], shifted(x[..., 2], int(shift) // 2)],
                 -1)
    return _to_uint8(_blur(x, 0.5, 1, "SYMMETRIC"))


def image_denoising(image: tf.Tensor, variance: float, seed: tf.Tensor) -> tf.Tensor:
    """#9, a stand-in: Gaussian noise of `variance` (images in [0, 1]) removed again by a
    Gaussian smoothing matched to the noise (sigma = 1 + 10 x its std, px), leaving blur
    and residual noise. The authors denoise with CBM3D offline, whose artefacts differ;
    CBM3D (the `bm3d` package, for non-commercial use) needs seconds per crop on a CPU,
    too slow for ranked sets made on the fly."""
    x = _unit(image)
    std = float(np.sqrt(variance))
    noisy = x + tf.random.stateless_normal(tf.shape(x), seed, stddev=std)
    sigma = 1.0 + 10.0 * std
    return _from_unit(_blur(noisy, sigma, int(np.ceil(3 * sigma))))


def _block_mask(shape: tf.Tensor, count: int, side: tf.Tensor, seed: tf.Tensor,
                margin: int = 0) -> tf.Tensor:
    """(H, W) bool: `count` squares of `side` px at random places (top-left corners drawn
    from seed[0] only, so the first n places are the same for every n)."""
    height, width = shape[0], shape[1]
    corners = tf.random.stateless_uniform((64 * 16, 2), tf.stack([seed[0], 7]))[:count]
    top = tf.cast(corners[:, 0] * tf.cast(height - side - margin + 1, tf.float32), tf.int32)
    left = tf.cast(corners[:, 1] * tf.cast(width - side - margin + 1, tf.float32), tf.int32)
    rows, cols = tf.range(height)[None, :], tf.range(width)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)
    return tf.reduce_any(in_rows[:, :, None] & in_cols[:, None, :], axis=0)


def non_eccentricity_noise(image: tf.Tensor, count: float, seed: tf.Tensor) -> tf.Tensor:
    """#14: `count` 15 px patches each replaced by the patch 5 px below and to the right
    (small displaced copies, as the authors'). Places come from seed[0]: a stronger level
    keeps a weaker level's patches and adds more."""
    x = _to_uint8(image)
    shape = tf.shape(x)
    displaced = tf.pad(x[5:, 5:], [[0, 5], [0, 5], [0, 0]], "SYMMETRIC")
    mask = _block_mask(shape, int(count), tf.constant(15), seed, margin=5)
    return tf.where(mask[..., None], displaced, x)


def block_wise(image: tf.Tensor, count: float, seed: tf.Tensor) -> tf.Tensor:
    """#15: `count` blocks (32 px, at most a quarter of the shorter side) filled with the
    image's mean colour. Places come from seed[0]: a stronger level keeps a weaker
    level's blocks and adds more. (The authors also vary the blocks' colour by level.)"""
    x = tf.cast(image, tf.float32)
    shape = tf.shape(x)
    side = tf.maximum(1, tf.minimum(32, tf.reduce_min(shape[:2]) // 4))
    mask = _block_mask(shape, int(count), side, seed)
    mean = tf.reduce_mean(x, axis=(0, 1))
    return _to_uint8(tf.where(mask[..., None], mean, x))


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
# TID2013's types (its type number; the authors' four levels, then a fifth stronger one).
DISTORTIONS.register("gaussian_noise_color", Distortion(          # 2
    gaussian_noise_color, (0.0140, 0.0198, 0.0343, 0.0524, 0.08)))
DISTORTIONS.register("high_frequency_noise", Distortion(          # 5
    high_frequency_noise, (0.001, 0.005, 0.01, 0.05, 0.1)))
DISTORTIONS.register("impulse_noise", Distortion(                 # 6
    impulse_noise, (0.005, 0.01, 0.05, 0.1, 0.2)))
DISTORTIONS.register("quantization_noise", Distortion(            # 7: values per channel
    quantization_noise, (10, 8, 6, 4, 2)))
DISTORTIONS.register("image_denoising", Distortion(                # 9: a stand-in
    image_denoising, (0.001, 0.005, 0.01, 0.05, 0.1)))
DISTORTIONS.register("non_eccentricity_noise", Distortion(         # 14
    non_eccentricity_noise, (30, 70, 150, 300, 600)))
DISTORTIONS.register("block_wise", Distortion(block_wise, (2, 4, 8, 16, 32)))  # 15: 5 levels
DISTORTIONS.register("mean_shift", Distortion(mean_shift, (15, 30, 45, 60, 75)))      # 16
DISTORTIONS.register("contrast_change", Distortion(                # 17
    contrast_change, (0.85, 0.7, 0.55, 0.4, 0.25)))
DISTORTIONS.register("color_saturation", Distortion(               # 18
    color_saturation, (0.4, 0.0, -0.4, -0.8, -1.2)))
DISTORTIONS.register("multiplicative_noise", Distortion(           # 19
    multiplicative_noise, (0.05, 0.09, 0.13, 0.2, 0.3)))
DISTORTIONS.register("color_quantization_dither", Distortion(      # 22: the authors' five
    color_quantization_dither, (64, 32, 16, 8, 4)))
DISTORTIONS.register("chromatic_aberration", Distortion(           # 23
    chromatic_aberration, (2, 6, 10, 14, 18)))
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
