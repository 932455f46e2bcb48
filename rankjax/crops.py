"""Crop geometry as TensorFlow ops: nested ranked crops (Algorithm 2) and random patches.

Boxes are (y0, x0, y1, x1) in continuous pixel coordinates (pixel i spans
[i, i + 1)). `resize_boxes` turns them into one `tf.image.crop_and_resize` call
that samples output pixel centres exactly where the density maps
(rankjax.density) integrate, so images and targets stay aligned.
"""

from __future__ import annotations

import tensorflow as tf


def ranked_crop_boxes(image_hw: tf.Tensor, k: int, scale: float, anchor_region: int,
                      seed: tf.Tensor, scale_of: str = "side") -> tf.Tensor:
    """The paper's Algorithm 2: k nested square crops around a random anchor, largest first.

    The anchor is uniform in a centred region with sides 1/`anchor_region` of the
    image's (same aspect ratio). Crop 0 is the largest square centred at the
    anchor inside the image; crop i shrinks it by `scale` per step in side
    (scale_of="side") or in area ("area": side * sqrt(scale)). All share the
    anchor as centre, so each crop lies inside the previous one and cannot hold
    more people: rank i = i. Returns (k, 4) float32 boxes. `seed`: (2,) int.
    """
    hw = tf.cast(image_hw, tf.float32)
    u = tf.random.stateless_uniform((2,), seed, -0.5, 0.5)
    anchor = hw / 2.0 + u * hw / float(anchor_region)
    half0 = tf.reduce_min(tf.concat([anchor, hw - anchor], 0))
    step = scale if scale_of == "side" else scale ** 0.5
    halves = half0 * tf.pow(step, tf.range(k, dtype=tf.float32))
    return tf.stack([anchor[0] - halves, anchor[1] - halves,
                     anchor[0] + halves, anchor[1] + halves], axis=1)


def random_square_box(image_hw: tf.Tensor, min_side: float, max_side: float,
                      seed: tf.Tensor) -> tf.Tensor:
    """A square of side U[min_side, max_side] (clipped to the image) at a uniform position."""
    hw = tf.cast(image_hw, tf.float32)
    short = tf.reduce_min(hw)
    u = tf.random.stateless_uniform((3,), seed)
    side = tf.minimum(min_side + u[0] * (max_side - min_side), short)
    y0 = u[1] * (hw[0] - side)
    x0 = u[2] * (hw[1] - side)
    return tf.stack([y0, x0, y0 + side, x0 + side])


def resize_boxes(boxes: tf.Tensor, image_hw: tf.Tensor, output_size: int) -> tf.Tensor:
    """Pixel boxes -> normalised boxes for crop_and_resize, sampling output pixel centres.

    Output pixel i of a box [a, b) has centre a + (i + 0.5) (b - a) / S, i.e.
    index a + (i + 0.5) (b - a) / S - 0.5 of the input, which crop_and_resize
    reaches with its normalised coordinate index / (side - 1).
    """
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    hw = tf.cast(image_hw, tf.float32)
    size = float(output_size)
    start = boxes[:, :2] + 0.5 * (boxes[:, 2:] - boxes[:, :2]) / size - 0.5
    stop = boxes[:, :2] + (size - 0.5) * (boxes[:, 2:] - boxes[:, :2]) / size - 0.5
    denominator = tf.maximum(hw - 1.0, 1.0)
    return tf.concat([start / denominator, stop / denominator], axis=1)


def crop_and_resize(image: tf.Tensor, boxes: tf.Tensor, output_size: int) -> tf.Tensor:
    """All `boxes` of one (H, W, C) image resized to output_size, in one op: (n, S, S, C)."""
    hw = tf.shape(image)[:2]
    normalised = resize_boxes(boxes, hw, output_size)
    return tf.image.crop_and_resize(tf.cast(image, tf.float32)[None], normalised,
                                    tf.zeros(tf.shape(normalised)[:1], tf.int32),
                                    (output_size, output_size))
