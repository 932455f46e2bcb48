"""Crowd counting: density maps from head points; nested crops hold no more people.

Network: VGG16 to conv5_3 and a 3x3 conv to one channel (rankjax.models.CountingNet),
output stride 16. Target: the density map integrated per output cell from the head
points (rankjax.density). Ranking score: the sum (or mean) of a crop's map. Ranked
sets: the paper's Algorithm 2 (rankjax.crops). Evaluation: whole images at native
resolution, padded to a multiple of 64 px, the padding masked out of the count
(count_protocol=whole; images too big for one pass in memory are computed in exact
overlapping windows), or the same image cut into tiles of the training input size
(count_protocol=tiles), each predicted as a training patch is and the maps stitched;
MAE and RMSE of counts. Best checkpoint: lowest validation MAE.
"""

from __future__ import annotations

import collections
import os
from typing import Iterable, Iterator

import jax.numpy as jnp
import numpy as np
import tensorflow as tf

from rankjax import crops, density, evaluation, image_io, models, pictures, storage
from rankjax.data.records import CrowdRecord
from rankjax.tasks.base import Evaluation, Task, predictions_by_error

AUTOTUNE = tf.data.AUTOTUNE
# Evaluation pads whole images up to a multiple of this many pixels, bounding how many
# shapes get compiled; the padding is excluded from the count by a mask.
EVAL_PAD_MULTIPLE = 64
# Padding colour: the ImageNet mean, which both input styles map to zero.
PAD_RGB = (123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0)
# Tiles predicted per call with count_protocol=tiles, gathered across images: TILE_BATCH,
# the last call of a pass padded up to the next bucket size (a few shapes to compile
# once per run, little padding).
TILE_BATCH = 32
TILE_BUCKETS = (8, 16, 32)
COUNT_PROTOCOLS = ("whole", "tiles", "stitched")
# count_protocol=stitched: windows of the training input size overlap, and each output cell
# is taken from the window where it lies farthest inside, at least image_size / STITCH_HALO
# px from every window edge that is not the image's own edge (a quarter of the window:
# each window gives its middle half).
STITCH_HALO = 4
# Largest activation memory of one pass: bigger whole images are computed in overlapping
# windows with the same result (windowed_density); tiles of the training size need less.
WHOLE_IMAGE_MAX_BYTES = float(os.environ.get("RANKJAX_WHOLE_IMAGE_MAX_GB", "4")) * 2**30
# Context kept around every window's output cells: at least the receptive-field radius of
# an output cell beyond its own 16 px (106 px), a multiple of 16.
WINDOW_HALO = 128
# Images smaller than this (a side, px) get a warning: an output cell sees 228 px of input
# (its receptive field), so a much smaller image is mostly the network's zero padding.
SMALL_IMAGE_SIDE = 64
# Images longer than this times their width (or the reverse) get a warning.
EXTREME_ASPECT = 8
# Validation pictures per evaluation; best and worst test pictures each.
VALIDATION_PICTURES = 3
TEST_PICTURES = 2


class CrowdTask(Task):
    name = "crowd"
    selection_metric = "mae"
    higher_is_better = False
    value_name = "count"
    evaluation_fields = ("count_protocol", "certainty_pairs")
    higher_is_better_metrics = ("count_correlation",)
    def validate(self, cfg):
        problems = []
        if cfg.rank_pooling not in ("sum", "mean"):
            problems.append(f"rank_pooling must be sum or mean, got {cfg.rank_pooling!r}")
        if cfg.crop_scale_of not in ("side", "area"):
            problems.append(f"crop_scale_of must be side or area, got {cfg.crop_scale_of!r}")
        if not 0 < cfg.crop_scale < 1:
            problems.append(f"crop_scale must be in (0, 1), got {cfg.crop_scale}")
        if cfg.count_protocol not in COUNT_PROTOCOLS:
            problems.append(f"count_protocol must be one of {COUNT_PROTOCOLS}, got "
                            f"{cfg.count_protocol!r}")
        elif cfg.count_protocol == "stitched" and not stitch_halo(cfg.image_size):
            problems.append(f"count_protocol=stitched needs image_size >= "
                            f"{STITCH_HALO * models.OUTPUT_STRIDE} (windows that overlap by "
                            f"whole output cells), got {cfg.image_size}")
        return problems

    def build_model(self, cfg):
        return models.CountingNet(width=cfg.width, dtype=jnp.bfloat16 if cfg.bf16 else
                                  jnp.float32, input_style=cfg.resolved_input_style,
                                  **models.backbone_settings(cfg))

    def target_shape(self, cfg):
        side = cfg.image_size // models.OUTPUT_STRIDE
        return (side, side)

    def ranking_scores(self, cfg, outputs):
        reduce = jnp.sum if cfg.rank_pooling == "sum" else jnp.mean
        return reduce(outputs, axis=tuple(range(1, outputs.ndim)))

    def rank_margin(self, cfg):
        # The margin is in counted objects; the scores are counts times density_scale.
        return cfg.margin * cfg.density_scale

    # ---------------------------------------------------------------- data
    def labeled_dataset(self, records, cfg):
        return records_dataset(records, cfg)

    def labeled_image(self, cfg):
        return lambda example: image_io.decode(example["path"], example["hw"])

    def unlabeled_image(self, cfg):
        """The image at the scale of the labeled ones (rescale_images)."""
        def load(path):
            image = image_io.decode(path)
            if cfg.rescale_images == 1.0:
                return image
            hw = tf.cast(tf.cast(tf.shape(image)[:2], tf.float32) * cfg.rescale_images, tf.int32)
            return tf.image.resize(image, hw, antialias=True)

        return load

    def prediction_map(self, result):
        return result.get("density")

    def labeled_sample(self, cfg):
        """Random square patches (patch_min..patch_max px) resized to the input, flipped at
        random, with the density target integrated on the output grid."""
        size, grid = cfg.image_size, self.target_shape(cfg)

        def sample(seed, example):
            seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
            hw, image = example["hw"], example["image"]
            box = crops.random_square_box(hw, cfg.patch_min, cfg.patch_max, seeds[0])
            flip = tf.random.stateless_uniform((), seeds[1]) < 0.5
            patch = crops.crop_and_resize(image, box, size)[0]
            patch = tf.cond(flip, lambda: patch[:, ::-1], lambda: patch)
            target = density.density_map(example["points"], example["sigma"], hw, box, grid,
                                         flip)
            return {"image": patch / 255.0, "target": target * cfg.density_scale}

        return sample

    def ranked_sample(self, cfg):
        """Ranked sets (paper Algorithm 2): k nested crops per image, ranks 0..k-1 (largest
        first), all resized with one crop_and_resize call."""
        k, size = cfg.ranked_per_group, cfg.image_size

        def sample(seed, image):
            seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
            hw = tf.shape(image)[:2]
            boxes = crops.ranked_crop_boxes(hw, k, cfg.crop_scale, cfg.anchor_region, seeds[0],
                                            cfg.crop_scale_of)
            stack = crops.crop_and_resize(image, boxes, size)
            flip = tf.random.stateless_uniform((), seeds[1]) < 0.5
            stack = tf.cond(flip, lambda: stack[:, :, ::-1], lambda: stack)
            return {"image": stack / 255.0, "rank": tf.range(k, dtype=tf.int32)}

        return sample

    # ---------------------------------------------------------------- evaluation
    def metrics(self, predictions):
        return evaluation.crowd_metrics(predictions)

    def evaluate(self, cfg, predict, params, records, first_index=0):
        """Counts of whole images; every image's masked density map is kept for pictures."""
        predictions, maps = [], []
        for record, density_map in zip(records, density_maps(predict, params,
                                                              eval_images(records, cfg), cfg)):
            count, raw = count_of(density_map)
            predictions.append(evaluation.Prediction(record.name, float(record.count), count,
                                                     record.path, raw))
            maps.append(density_map)
        return Evaluation(evaluation.crowd_metrics(predictions), predictions, records, maps)

    def predict_image(self, cfg, predict, params, image, index=0):
        density_map = masked_density(predict, params, image, cfg)
        count, raw = count_of(density_map)
        return {"count": count, "raw_count": raw,
                "density": crop_to_image(density_map, *image.shape[:2])}

    def truth(self, record):
        return float(record.count)

    def describe(self, cfg):
        sigma = ("geometry-adaptive sigma (0.3 x the mean distance to the 3 nearest points)"
                 if cfg.adaptive_sigma else f"a Gaussian of sigma {cfg.density_sigma:g} px")
        protocol = {"whole": "the whole image in one pass",
                    "tiles": f"tiles of {cfg.image_size} px that do not overlap",
                    "stitched": f"overlapping windows of {cfg.image_size} px, each output "
                                f"cell from the middle of one"}[cfg.count_protocol]
        return [
            "images: " + ("read at their own size" if cfg.rescale_images == 1 else
                          f"resized by {cfg.rescale_images:g} first (rescale_images)"),
            f"training patches: random squares of {cfg.patch_min}-{cfg.patch_max} px, "
            f"resized to {cfg.image_size} px, flipped at random",
            f"targets: density maps with {sigma} per point (each map sums to the image's "
            f"count)" + (f", times {cfg.density_scale:g} while training (density_scale; "
                         f"predictions are divided back)" if cfg.density_scale != 1 else ""),
            f"counts ({cfg.object_name}): {protocol} (count_protocol={cfg.count_protocol}), "
            f"never below zero",
        ]

    def readable_losses(self, cfg, row):
        if "regression_loss" not in row:
            return {}
        # The regression loss of density maps as if density_scale were 1: per image, half
        # the sum of squared differences of the density cells, in counts.
        return {"count_loss": row["regression_loss"] / cfg.density_scale ** 2}

    def run_warnings(self, cfg, best_validation):
        ratio = (best_validation or {}).get("count_ratio")
        if ratio is None or not np.isfinite(ratio) or 0.8 <= ratio <= 1.25:
            return []
        return [f"the best checkpoint counts {ratio:.2f} times the truth on validation "
                f"(outside 0.8-1.25): its counts are {'too low' if ratio < 1 else 'too high'}"
                f"; train longer, or label more images like those it miscounts"]

    def image_problems(self, cfg, image):
        height, width = image.shape[:2]
        if min(height, width) < models.OUTPUT_STRIDE:
            return (f"{height}x{width} px is smaller than one output cell of the network "
                    f"({models.OUTPUT_STRIDE} px a side): nothing to count"), []
        warnings = []
        if min(height, width) < SMALL_IMAGE_SIDE:
            warnings.append(f"{height}x{width} px is far smaller than what the network sees "
                            f"around each output cell (228 px): the count is unreliable")
        if max(height, width) > EXTREME_ASPECT * min(height, width):
            warnings.append(f"{height}x{width} px is a strip (aspect ratio "
                            f"{max(height, width) / min(height, width):.0f} to 1): the count "
                            f"is unreliable")
        return "", warnings

    def save_pictures(self, cfg, result, out_dir, split):
        """Validation: the first few images. Test: the best and worst images, as panels
        (image, truth, prediction) and overlays. Images are decoded again; nothing is
        predicted again."""
        if split == "validation":
            chosen = {"": list(range(min(VALIDATION_PICTURES, len(result.predictions))))}
        else:
            chosen = predictions_by_error(result.predictions, TEST_PICTURES)
        for label, indices in chosen.items():
            for place, i in enumerate(indices):
                record, prediction = result.records[i], result.predictions[i]
                stem = os.path.splitext(record.name)[0]
                stem = storage.join(out_dir, f"{label}{place}_{stem}" if label else stem)
                # The image as evaluated (rescale_images applied), its map and its truth.
                height = round(record.height * cfg.rescale_images)
                width = round(record.width * cfg.rescale_images)
                image = image_io.decode(tf.constant(record.path),
                                        tf.constant([height, width])).numpy() / 255
                predicted = crop_to_image(result.extras[i], height, width)
                truth = density.density_map(record.points * cfg.rescale_images,
                                            cfg.density_sigma, (height, width), None,
                                            (height // 4, width // 4)).numpy()
                pictures.density_panels(stem + ".png", image, predicted, truth,
                                        f"{record.name}: {record.count} {cfg.object_name}")
                if split != "validation":
                    pictures.overlay(stem + "_overlay.png", image, predicted,
                                     f"{record.name}: predicted {prediction.predicted:.1f}, "
                                     f"true {prediction.truth:.0f}")

    def save_prediction_picture(self, cfg, out_dir, path, image, result):
        stem = os.path.splitext(os.path.basename(path))[0]
        pictures.overlay(storage.join(out_dir, f"{stem}_density.png"), image, result["density"],
                         f"{os.path.basename(path)}: {result['count']:.1f} {cfg.object_name}")


# -------------------------------------------------------------------- helpers

def _head_sigmas(records: list[CrowdRecord], cfg) -> list[np.ndarray]:
    if cfg.adaptive_sigma:
        return [density.adaptive_sigma(r.points, fallback=cfg.density_sigma) for r in records]
    return [np.full(r.count, cfg.density_sigma, np.float32) for r in records]


def records_dataset(records: list[CrowdRecord], cfg) -> tf.data.Dataset:
    rescale = cfg.rescale_images
    points = [r.points * rescale for r in records]
    return tf.data.Dataset.from_tensor_slices({
        "path": [r.path for r in records],
        "hw": np.array([[round(r.height * rescale), round(r.width * rescale)]
                        for r in records], np.int32),
        "points": tf.ragged.constant([p.tolist() for p in points], dtype=tf.float32,
                                     ragged_rank=1, inner_shape=(2,)),
        "sigma": tf.ragged.constant([s.tolist() for s in _head_sigmas(records, cfg)],
                                    dtype=tf.float32),
    })


def eval_images(records: list[CrowdRecord], cfg):
    """Whole images in [0, 1] at their annotated size, one at a time, in order."""
    options = tf.data.Options()
    options.deterministic = True
    ds = records_dataset(records, cfg).map(lambda x: image_io.decode(x["path"], x["hw"]) / 255.0,
                                           num_parallel_calls=AUTOTUNE)
    return ds.prefetch(2).with_options(options).as_numpy_iterator()


def padded_size(side: int, multiple: int = EVAL_PAD_MULTIPLE) -> int:
    return -(-side // multiple) * multiple


def pad_for_eval(image: np.ndarray, multiple: int = EVAL_PAD_MULTIPLE, least: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(1, Hp, Wp, 3) image padded with PAD_RGB to multiples of `multiple` px (and at least
    `least` px a side), and the (Hp/16, Wp/16) mask of output cells that cover the real
    image."""
    height, width = image.shape[:2]
    hp = max(padded_size(height, multiple), padded_size(least, multiple))
    wp = max(padded_size(width, multiple), padded_size(least, multiple))
    padded = np.empty((1, hp, wp, 3), np.float32)
    padded[...] = PAD_RGB
    padded[0, :height, :width] = image
    stride = models.OUTPUT_STRIDE
    valid = np.zeros((hp // stride, wp // stride), bool)
    valid[:-(-height // stride), :-(-width // stride)] = True
    return padded, valid


class _TiledImage:
    """One image being counted window by window: its stitched map so far, and how many of
    its windows are still to be predicted."""

    def __init__(self, valid: np.ndarray):
        self.valid = valid
        self.map = np.zeros(valid.shape, np.float32)
        self.waiting = 0


def _tiled_maps(predict, params, images: Iterable[np.ndarray], tile: int, halo: int = 0
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(density map, valid mask) of each image, in order, predicted in windows of `tile`
    px: each output cell is taken from the window where it lies at least `halo` px inside
    every window edge that is not the image's own edge (`_axis_windows`). halo 0: the
    image is padded to multiples of `tile` and cut into tiles that do not overlap.

    The windows of consecutive images are predicted together, TILE_BATCH per call, so
    every call has the same shape whatever the image sizes (the last call of the pass
    is padded up to a bucket size)."""
    stride = models.OUTPUT_STRIDE
    pending: collections.deque[_TiledImage] = collections.deque()
    queue: list[tuple[np.ndarray, _TiledImage, tuple, tuple]] = []

    def predict_queued(count: int) -> None:
        chunk, placements = [w for w, *_ in queue[:count]], queue[:count]
        del queue[:count]
        size = next(b for b in TILE_BUCKETS + (TILE_BATCH,) if b >= count)
        chunk += [np.zeros_like(chunk[0])] * (size - count)
        maps = np.asarray(predict(params, np.stack(chunk)))
        for window_map, (_, image, (first_r, end_r, top), (first_c, end_c, left)) in zip(
                maps, placements):
            image.map[first_r // stride:end_r // stride, first_c // stride:end_c // stride] = \
                window_map[(first_r - top) // stride:(end_r - top) // stride,
                           (first_c - left) // stride:(end_c - left) // stride]
            image.waiting -= 1

    for image in images:
        # Overlapping windows cover the canvas a whole-image pass sees (padded to 64 px).
        padded, valid = pad_for_eval(image, EVAL_PAD_MULTIPLE if halo else tile, least=tile)
        rows = _axis_windows(padded.shape[1], tile, halo)
        cols = _axis_windows(padded.shape[2], tile, halo)
        entry = _TiledImage(valid)
        entry.waiting = len(rows) * len(cols)
        pending.append(entry)
        queue += [(padded[0, r[2]:r[2] + tile, c[2]:c[2] + tile], entry, r, c)
                  for r in rows for c in cols]
        while len(queue) >= TILE_BATCH:
            predict_queued(TILE_BATCH)
        while pending and not pending[0].waiting:
            done = pending.popleft()
            yield done.map, done.valid
    while queue:
        predict_queued(min(len(queue), TILE_BATCH))
    for done in pending:
        yield done.map, done.valid


def density_maps(predict, params, images: Iterable[np.ndarray], cfg=None
                 ) -> Iterator[np.ndarray]:
    """Predicted density of each whole (H, W, 3) image, in order, on its padded grid and
    zero on the padding, by the config's count_protocol (whole images by default):

    - whole: one pass per image (a whole image too big for WHOLE_IMAGE_MAX_BYTES is
      computed in overlapping windows with the same result, `windowed_density`, so any
      size fits in bounded memory);
    - tiles: tiles of image_size px that do not overlap, each predicted as a training
      patch is;
    - stitched: windows of image_size px that overlap, each output cell taken from the
      window where it lies a quarter window or more inside (STITCH_HALO), so no cell is
      counted at a window's border, where the zero padding of a tile cuts its view.

    tiles and stitched predict the windows of consecutive images together, in calls of
    one shape."""
    scale = 1.0 if cfg is None else cfg.density_scale
    if cfg is not None and cfg.count_protocol in ("tiles", "stitched"):
        halo = stitch_halo(cfg.image_size) if cfg.count_protocol == "stitched" else 0
        for density_map, valid in _tiled_maps(predict, params, images, cfg.image_size, halo):
            yield np.where(valid, density_map / scale, 0.0)
        return
    window = window_side(1.0 if cfg is None else cfg.width)
    for image in images:
        padded, valid = pad_for_eval(image)
        if max(padded.shape[1:3]) > window:
            density_map = windowed_density(predict, params, padded, window)
        else:
            density_map = np.asarray(predict(params, padded))[0]
        yield np.where(valid, density_map / scale, 0.0)


def stitch_halo(window: int) -> int:
    """The margin (px, a multiple of 16) kept around the cells a stitched window gives:
    a quarter of the window, rounded down to the output grid (64 px windows: 16)."""
    return window // STITCH_HALO // models.OUTPUT_STRIDE * models.OUTPUT_STRIDE


def masked_density(predict, params, image: np.ndarray, cfg=None) -> np.ndarray:
    """The density map of one image (see `density_maps`)."""
    return next(density_maps(predict, params, [image], cfg))


# Memory per input pixel of one pass that does not shrink with the width: the input's
# copies and the first convolution's buffers. Calibrated with benchmarks/big_images.py
# (whole-process peak: 5.6 GiB at width 1 with 2304 px windows, 9.5 GiB at width 0.25
# with 4672 px windows, about 1.7 GiB of it the 8000 x 6000 image's own copies).
PASS_BYTES_PER_PIXEL_FIXED = 168


def pass_bytes(hw: tuple[int, int], width: float) -> float:
    """Memory of one pass over an H x W input: two float32 conv1 maps and their sum (the
    largest layer) plus PASS_BYTES_PER_PIXEL_FIXED per pixel."""
    return hw[0] * hw[1] * (64 * width * 4 * 3 + PASS_BYTES_PER_PIXEL_FIXED)


def window_side(width: float, limit: float | None = None) -> int:
    """Side (a multiple of EVAL_PAD_MULTIPLE) of the largest square window whose pass
    stays under `limit` bytes (WHOLE_IMAGE_MAX_BYTES): at full width and 4 GiB, 2112 px;
    never less than 2 * WINDOW_HALO + EVAL_PAD_MULTIPLE."""
    limit = WHOLE_IMAGE_MAX_BYTES if limit is None else limit
    side = int((limit / pass_bytes((1, 1), width)) ** 0.5)
    return max(side // EVAL_PAD_MULTIPLE * EVAL_PAD_MULTIPLE,
               2 * WINDOW_HALO + EVAL_PAD_MULTIPLE)


def _axis_windows(side: int, window: int, halo: int) -> list[tuple[int, int, int]]:
    """(first, end, window start) in pixels along one axis: output rows [first, end) are
    taken from the window starting at `window start`. Every such row lies at least `halo`
    px from both window edges, unless that edge is the image's own edge."""
    if side <= window:
        return [(0, side, 0)]
    reach = window - halo  # rows an edge window can give: all but its inner halo
    spans = [(0, reach, 0)]
    first = reach
    while side - first > reach:  # inner windows give their middle, window - 2 * halo rows
        spans.append((first, first + window - 2 * halo, first - halo))
        first += window - 2 * halo
    return spans + [(first, side, side - window)]


def windowed_density(predict, params, padded: np.ndarray, window: int,
                     halo: int | None = None) -> np.ndarray:
    """The density map of one pass over a (1, Hp, Wp, 3) padded image, computed over
    windows of at most `window` px a side, one window per call: memory is bounded by the
    window, whatever the image size.

    Exact, not an approximation: an output cell of the network sees 106 px of input on
    each side of its own 16 px (its receptive field, conv1_1 to the 3x3 head, is 228 px), so a
    cell taken from a window at least `halo` (WINDOW_HALO = 128) px inside every window
    edge that is not an image edge sees exactly what it sees in the whole image, including
    every layer's zero padding at the image's own border; window corners are multiples of
    16 px, so the pooling grid is the whole image's. The result equals the whole pass up
    to float rounding (tested against it)."""
    halo = WINDOW_HALO if halo is None else halo
    _, hp, wp, _ = padded.shape
    stride = models.OUTPUT_STRIDE
    rows, cols = _axis_windows(hp, window, halo), _axis_windows(wp, window, halo)
    out = np.zeros((hp // stride, wp // stride), np.float32)
    for first_r, end_r, top in rows:
        for first_c, end_c, left in cols:
            piece = padded[:, top:top + min(window, hp), left:left + min(window, wp)]
            density_map = np.asarray(predict(params, piece))[0]
            out[first_r // stride:end_r // stride, first_c // stride:end_c // stride] = \
                density_map[(first_r - top) // stride:(end_r - top) // stride,
                            (first_c - left) // stride:(end_c - left) // stride]
    return out


def count_of(density_map: np.ndarray) -> tuple[float, float]:
    """(count, raw sum) of a predicted density map. The network's output cells are not
    bounded below (the paper's head has no final ReLU), so a map's raw sum can be
    negative for an image with (nearly) no one in it; the count reported is never below
    zero, and the raw sum is kept beside it (predictions.csv's raw_count)."""
    raw = float(density_map.sum())
    return max(0.0, raw), raw


def crop_to_image(density_map: np.ndarray, height: int, width: int) -> np.ndarray:
    stride = models.OUTPUT_STRIDE
    return density_map[: -(-height // stride), : -(-width // stride)]
