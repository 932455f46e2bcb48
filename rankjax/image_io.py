"""One image decoder for every path: training, evaluation, and the Python API.

Files are decoded with TensorFlow's `tf.io.decode_image` (grayscale made RGB,
16-bit PNGs scaled to 8 bits) whether they feed a tf.data pipeline or a
`Predictor.predict` call, so the same file gives the same pixels everywhere.
"""

from __future__ import annotations

import os
import re

import numpy as np
import tensorflow as tf


def decode(path: tf.Tensor, target_hw: tf.Tensor | None = None) -> tf.Tensor:
    """RGB float32 [0, 255] image (grayscale made 3-channel), resized to target_hw if given."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    if target_hw is not None:
        image = tf.cond(tf.reduce_all(tf.shape(image)[:2] == target_hw), lambda: image,
                        lambda: tf.image.resize(image, target_hw, antialias=True))
    return image


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from a file, decoded as the training pipeline does."""
    try:
        return decode(tf.constant(path)).numpy() / 255.0
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        message = error.message.splitlines()[0] if error.message else type(error).__name__
        message = re.sub(r"^\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\].*$", "", message)
        raise ValueError(f"cannot read image {path!r}: {message}") from None


def as_float_image(image) -> np.ndarray:
    """A file path, PIL image or array -> (H, W, 3) float32 in [0, 1].

    uint8 arrays are divided by 255, uint16 by 65535; float arrays must already be in
    [0, 1]. Grayscale (H, W) or (H, W, 1) becomes RGB; an alpha channel is dropped.
    """
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        return read_image(str(image))
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL
        # 16-bit grayscale ("I;16...", or "I" as Pillow opens such PNGs) keeps its depth:
        # convert("RGB") would clip it to white.
        image = (np.asarray(image).astype(np.uint16) if image.mode.startswith("I")
                 else np.asarray(image.convert("RGB")))
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), "
                         f"got {array.shape}")
    array = array[..., :3]
    if array.size == 0:
        raise ValueError(f"the image is empty: shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError("float images must hold finite values in [0, 1]; divide uint8 "
                         "pixels by 255 first")
    return array


# Decoded training images kept in memory, at most this many bytes (RANKJAX_IMAGE_CACHE_GB).
IMAGE_CACHE_BYTES = float(os.environ.get("RANKJAX_IMAGE_CACHE_GB", "2")) * 2**30


class DecodedImages:
    """Images decoded once and kept in memory, looked up by index inside tf.data.

    Training draws thousands of samples from a few hundred photographs; decoding (and
    resizing) a photograph costs more CPU than the crop drawn from it, and on a small
    machine that CPU is taken from the train step. `fill` decodes every image once, in
    parallel; `lookup(index)` then gives the same float32 pixels a fresh decode would:
    an image whose pixels are whole numbers (no resize) is kept as uint8, one that a
    resize made fractional as float32. `fill` returns False, and keeps nothing, when the
    images would take more than `budget` bytes: the caller then decodes per sample.
    """

    def __init__(self, budget: float = IMAGE_CACHE_BYTES):
        self.budget = budget
        self.arrays: list[np.ndarray] = []
        self.nbytes = 0

    def fill(self, images: tf.data.Dataset) -> bool:
        """Adds every image of `images` (float32 [0, 255], in order); index i of the
        dataset becomes `first + i`, first = the number of images held before."""
        added = []
        options = tf.data.Options()
        options.deterministic = True
        stream = images.prefetch(2).with_options(options).as_numpy_iterator()
        for image in stream:
            whole = image.astype(np.uint8)
            kept = whole if np.array_equal(whole, image) else image
            self.nbytes += kept.nbytes
            if self.nbytes > self.budget:
                self.nbytes -= sum(a.nbytes for a in added) + kept.nbytes
                return False
            added.append(kept)
        self.arrays += added
        return True

    def _get(self, index) -> np.ndarray:
        return self.arrays[int(index)].astype(np.float32)

    def lookup(self, index: tf.Tensor) -> tf.Tensor:
        """The (H, W, 3) float32 image number `index`, inside a tf.data function."""
        image = tf.numpy_function(self._get, [index], tf.float32, stateful=False)
        return tf.ensure_shape(image, (None, None, 3))
