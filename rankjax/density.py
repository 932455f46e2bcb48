"""Ground-truth crowd density maps, computed from head points directly on any output grid.

Each head is a 2-D Gaussian (sigma 15 px in the paper, or geometry-adaptive) with
unit mass INSIDE THE IMAGE: the part of a border head's Gaussian that would fall
outside is renormalised back in, so the full-image map sums to the head count
exactly. Instead of drawing a full-resolution map and resampling it, every
output cell receives the Gaussian's exact integral over the cell (differences of
the normal CDF along x and y). Crops, resizes and flips therefore only transform
the points, and the count in a patch is exact, not interpolated.

All functions are TensorFlow ops, usable eagerly and inside `tf.data.map`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy.spatial import cKDTree


def _normal_cdf(z: tf.Tensor) -> tf.Tensor:
    return 0.5 * (1.0 + tf.math.erf(z / np.sqrt(2.0)))


def _axis_mass(centres: tf.Tensor, sigma: tf.Tensor, start: tf.Tensor, stop: tf.Tensor,
               cells: int) -> tf.Tensor:
    """(N, cells) mass of each 1-D Gaussian in `cells` equal bins spanning [start, stop]."""
    edges = start + (stop - start) * tf.linspace(0.0, 1.0, cells + 1)
    cdf = _normal_cdf((edges[None, :] - centres[:, None]) / sigma[:, None])
    return cdf[:, 1:] - cdf[:, :-1]


def density_map(points: tf.Tensor, sigma: tf.Tensor, image_hw: tf.Tensor,
                box: tf.Tensor | None = None, grid_hw: tuple[int, int] | None = None,
                flip: tf.Tensor | bool = False) -> tf.Tensor:
    """Density of the heads inside `box`, integrated over a `grid_hw` grid of cells.

    points: (N, 2) float x, y in pixels of the image (pixel i spans [i, i + 1)).
    sigma: (N,) or scalar Gaussian std in pixels. image_hw: (2,) image height, width.
    box: (4,) y0, x0, y1, x1 in pixels (default: the whole image).
    grid_hw: output (rows, cols), e.g. input_size / 16 for the network's target;
             default: one cell per pixel of the box. flip: mirror left-right.
    Returns float32 (rows, cols); sums to the (fractional) number of heads in the box.
    """
    points = tf.reshape(tf.cast(points, tf.float32), (-1, 2))
    image_hw = tf.cast(image_hw, tf.float32)
    sigma = tf.broadcast_to(tf.cast(sigma, tf.float32), tf.shape(points)[:1])
    if box is None:
        box = tf.stack([0.0, 0.0, image_hw[0], image_hw[1]])
    box = tf.cast(box, tf.float32)
    if grid_hw is None:
        grid_hw = (int(box[2] - box[0]), int(box[3] - box[1]))  # eager use only
    x, y = points[:, 0], points[:, 1]
    # Renormalise each head to unit mass inside the image.
    inside_x = _normal_cdf((image_hw[1] - x) / sigma) - _normal_cdf(-x / sigma)
    inside_y = _normal_cdf((image_hw[0] - y) / sigma) - _normal_cdf(-y / sigma)
    mass_x = _axis_mass(x, sigma, box[1], box[3], grid_hw[1]) / inside_x[:, None]
    mass_y = _axis_mass(y, sigma, box[0], box[2], grid_hw[0]) / inside_y[:, None]
    density = tf.einsum("ny,nx->yx", mass_y, mass_x)
    return tf.cond(tf.convert_to_tensor(flip), lambda: density[:, ::-1], lambda: density)


def adaptive_sigma(points: np.ndarray, beta: float = 0.3, neighbours: int = 3,
                   fallback: float = 15.0, clip: tuple[float, float] = (1.0, 60.0)) -> np.ndarray:
    """Geometry-adaptive sigma per head: beta x mean distance to its `neighbours` nearest heads.

    Heads with fewer than `neighbours` others use `fallback`; results are clipped to `clip`
    (a lone far neighbour would otherwise smear one head over half the image).
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if len(points) <= neighbours:
        return np.full(len(points), fallback, np.float32)
    distances, _ = cKDTree(points).query(points, k=neighbours + 1)  # first is the head itself
    sigma = beta * distances[:, 1:].mean(axis=1)
    return np.clip(sigma, *clip).astype(np.float32)
