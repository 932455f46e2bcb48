"""tf.data pipelines: labeled patches, ranked sets generated on the fly, and evaluation images.

Training batches have fixed shapes and the layout of rankjax.training:
labeled part (B images + density maps or scores) and ranked part (G groups x k
images, with group ids and ranks). All randomness is stateless and keyed by
(seed, element index), so a seed fixes every crop, flip and distortion; with
`deterministic=True` batches are bit-identical from run to run.

Each process reads its own slice of the files (multi-host) and builds its part
of the global batch; rankjax.sharding.global_batch assembles the global arrays.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import tensorflow as tf

from rankjax import crops, datasets, density, distortions
from rankjax.config import Config
from rankjax.models import OUTPUT_STRIDE

AUTOTUNE = tf.data.AUTOTUNE
# Evaluation pads whole images up to a multiple of this many pixels, bounding how many
# shapes get compiled; the padding is excluded from the count by a mask.
EVAL_PAD_MULTIPLE = 64
# Padding colour: the ImageNet mean, which both input styles map to zero.
PAD_RGB = (123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0)


@dataclasses.dataclass(frozen=True)
class Sources:
    """What one run reads: labeled training records, the unlabeled pool, validation and test."""
    labeled: list
    unlabeled: list[str]        # image paths for ranked sets
    validation: list
    test: list


# --------------------------------------------------------------------------- reading

def decode(path: tf.Tensor, target_hw: tf.Tensor | None = None) -> tf.Tensor:
    """RGB float32 [0, 255] image (grayscale made 3-channel), resized to target_hw if given."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    if target_hw is not None:
        image = tf.cond(tf.reduce_all(tf.shape(image)[:2] == target_hw), lambda: image,
                        lambda: tf.image.resize(image, target_hw, antialias=True))
    return image


def _head_sigmas(records: list[datasets.CrowdRecord], cfg: Config) -> list[np.ndarray]:
    if cfg.adaptive_sigma:
        return [density.adaptive_sigma(r.points, fallback=cfg.density_sigma) for r in records]
    return [np.full(r.count, cfg.density_sigma, np.float32) for r in records]


def crowd_records_dataset(records: list[datasets.CrowdRecord], cfg: Config) -> tf.data.Dataset:
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


def _seeded(ds: tf.data.Dataset, seed: int, shuffle: int, skip: int = 0) -> tf.data.Dataset:
    """Shuffled, repeated forever, each element paired with its own (2,) stateless seed.

    `skip` drops the first elements before any image is read, so a resumed run sees
    exactly the elements an uninterrupted one would have seen next.
    """
    if shuffle > 1:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    return ds.repeat().enumerate().skip(skip).map(
        lambda i, x: (tf.stack([tf.constant(seed, tf.int64), i]), x))


def _options(ds: tf.data.Dataset, cfg: Config) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = cfg.deterministic
    return ds.with_options(options)


# --------------------------------------------------------------------------- crowd

def labeled_crowd(records: list[datasets.CrowdRecord], cfg: Config, seed: int, skip: int = 0
                  ) -> tf.data.Dataset:
    """Random square patches (patch_min..patch_max px) resized to the input, flipped at random,
    with the density target integrated on the output grid."""
    size, grid = cfg.image_size, cfg.output_size

    def sample(seed, example):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        hw = example["hw"]
        image = decode(example["path"], hw)
        box = crops.random_square_box(hw, cfg.patch_min, cfg.patch_max, seeds[0])
        flip = tf.random.stateless_uniform((), seeds[1]) < 0.5
        patch = crops.crop_and_resize(image, box, size)[0]
        patch = tf.cond(flip, lambda: patch[:, ::-1], lambda: patch)
        target = density.density_map(example["points"], example["sigma"], hw, box,
                                     (grid, grid), flip)
        return {"image": patch / 255.0, "target": target}

    ds = _seeded(crowd_records_dataset(records, cfg), seed, len(records), skip)
    return ds.map(sample, num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic)


def _image_paths_dataset(paths: list[str], cfg: Config) -> tf.data.Dataset:
    if not paths:
        raise datasets.DatasetError("the unlabeled pool for ranked sets is empty")

    def load(path):
        image = decode(path)
        if cfg.rescale_images == 1.0:
            return image
        hw = tf.cast(tf.cast(tf.shape(image)[:2], tf.float32) * cfg.rescale_images, tf.int32)
        return tf.image.resize(image, hw, antialias=True)

    return tf.data.Dataset.from_tensor_slices(paths).map(load)


def tfds_images(name: str, cfg: Config) -> tf.data.Dataset:
    """Images of any TFDS dataset (its 'image' feature), for the unlabeled pool."""
    import tensorflow_datasets as tfds
    ds = tfds.load(name, split="train", shuffle_files=False)
    return ds.map(lambda x: tf.cast(tf.image.grayscale_to_rgb(x["image"]) if x["image"].shape[-1]
                                    == 1 else x["image"], tf.float32))


def ranked_crowd(images: tf.data.Dataset, cfg: Config, seed: int, shuffle: int, skip: int = 0
                 ) -> tf.data.Dataset:
    """Ranked sets (paper Algorithm 2): k nested crops per image, ranks 0..k-1 (largest first),
    all resized with one crop_and_resize call."""
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

    return _seeded(images, seed, shuffle, skip).map(sample, num_parallel_calls=AUTOTUNE,
                                                    deterministic=cfg.deterministic)


# --------------------------------------------------------------------------- IQA

def _random_crop(image: tf.Tensor, size: int, seed: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
    check = tf.debugging.Assert(tf.reduce_min(tf.shape(image)[:2]) >= size,
                                [f"image smaller than the {size}px crop (lower image_size):",
                                 path, tf.shape(image)])
    with tf.control_dependencies([check]):
        return tf.image.stateless_random_crop(image, (size, size, 3), seed)


def labeled_quality(records: list[datasets.QualityRecord], cfg: Config, seed: int,
                    skip: int = 0) -> tf.data.Dataset:
    size = cfg.image_size

    def sample(seed, example):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        patch = _random_crop(decode(example["path"]), size, seeds[0], example["path"])
        patch = tf.cond(tf.random.stateless_uniform((), seeds[1]) < 0.5,
                        lambda: patch[:, ::-1], lambda: patch)
        return {"image": patch / 255.0, "target": example["score"]}

    ds = tf.data.Dataset.from_tensor_slices({"path": [r.path for r in records],
                                             "score": np.array([r.score for r in records],
                                                               np.float32)})
    return _seeded(ds, seed, len(records), skip).map(sample, num_parallel_calls=AUTOTUNE,
                                                     deterministic=cfg.deterministic)


def quality_levels(k: int) -> tuple[int, ...]:
    """Distortion levels of a k-image ranked set: the k strongest of pristine(0), 1..5."""
    if not 1 <= k <= 6:
        raise ValueError(f"IQA ranked sets have at most 6 images (pristine + 5 levels), got {k}")
    return tuple(range(6 - k, 6))


def ranked_quality(images: tf.data.Dataset, cfg: Config, seed: int, shuffle: int,
                   skip: int = 0) -> tf.data.Dataset:
    """One random crop at k levels of one random distortion type; rank = order of the levels."""
    levels, kinds, size = quality_levels(cfg.ranked_per_group), cfg.distortions, cfg.image_size

    def sample(seed, image):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
        patch = _random_crop(image, size, seeds[0], tf.constant("unlabeled image"))
        kind = tf.random.stateless_uniform((), seeds[1], 0, len(kinds), tf.int32)
        noise_seed = tf.cast(seeds[2] % (2 ** 31 - 1), tf.int32)
        stack = distortions.ranked_set(patch, kind, levels, kinds, noise_seed)
        return {"image": tf.cast(stack, tf.float32) / 255.0,
                "rank": tf.range(len(levels), dtype=tf.int32)}

    return _seeded(images, seed, shuffle, skip).map(sample, num_parallel_calls=AUTOTUNE,
                                                    deterministic=cfg.deterministic)


# --------------------------------------------------------------------------- batches

def _group_batch(ds: tf.data.Dataset, groups: int) -> tf.data.Dataset:
    def flatten(batch):
        images = batch["image"]
        shape = tf.shape(images)
        return {"image": tf.reshape(images, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)),
                "group": tf.repeat(tf.range(groups, dtype=tf.int32), shape[1]),
                "rank": tf.reshape(batch["rank"], [-1])}
    return ds.batch(groups, drop_remainder=True).map(flatten)


def unlabeled_images(sources: Sources, cfg: Config) -> tuple[tf.data.Dataset, int]:
    if cfg.unlabeled.startswith("tfds:"):
        return tfds_images(cfg.unlabeled[5:], cfg), 1000
    paths = sources.unlabeled
    return _image_paths_dataset(paths, cfg), len(paths)


def train_batches(sources: Sources, cfg: Config, seed: int, labeled_batch: int,
                  ranked_groups: int, process_index: int = 0, process_count: int = 1,
                  start_batch: int = 0) -> Iterator[dict]:
    """Endless numpy batches {"labeled": ..., "ranked": ...} for this process's slice.

    labeled_batch / ranked_groups are per process; either may be 0 (that part is then
    absent and rankjax.training.make_batch fills in zero rows). `start_batch` resumes
    the sequence: batch n is the same whether reached directly or after a restart.
    """
    parts = {}
    seed = seed * 1000 + process_index  # different hosts draw different crops
    if labeled_batch:
        records = sources.labeled[process_index::process_count]
        if not records:
            raise datasets.DatasetError("no labeled training images for this process")
        make = labeled_crowd if cfg.task == "crowd" else labeled_quality
        parts["labeled"] = make(records, cfg, seed, start_batch * labeled_batch).batch(
            labeled_batch, drop_remainder=True)
    if ranked_groups:
        pool, size = unlabeled_images(sources, cfg)
        pool = pool.shard(process_count, process_index) if process_count > 1 else pool
        make = ranked_crowd if cfg.task == "crowd" else ranked_quality
        parts["ranked"] = _group_batch(make(pool, cfg, seed + 1, size,
                                            start_batch * ranked_groups), ranked_groups)
    if not parts:
        raise ValueError("a training batch needs labeled images, ranked groups, or both")
    ds = tf.data.Dataset.zip(parts).prefetch(AUTOTUNE)
    return _options(ds, cfg).as_numpy_iterator()


def build_sources(cfg: Config) -> Sources:
    """Reads the configured dataset and carves labeled / unlabeled / validation / test."""
    if cfg.task == "crowd":
        train = datasets.load_crowd(cfg.dataset, cfg.data_dir, "train", cfg.fold)
        test = datasets.load_crowd(cfg.dataset, cfg.data_dir, "test", cfg.fold)
    else:
        records = datasets.load_quality(cfg.dataset, cfg.data_dir)
        train, test = datasets.split_by_reference(records, 0.2, cfg.seed)
    labeled, rest, validation = datasets.split_labeled(train, cfg.labeled_fraction,
                                                       cfg.validation_fraction, cfg.seed)
    if cfg.unlabeled == "rest":
        # Labels withheld from the rest of the training set; with every label in use,
        # the labeled images themselves are ranked (their crops' order is still free).
        unlabeled = [r.path for r in (rest or labeled)]
    elif cfg.unlabeled.startswith("tfds:"):
        unlabeled = []
    else:
        unlabeled = datasets.list_images(cfg.unlabeled)
    return Sources(labeled, unlabeled, validation, test)


# --------------------------------------------------------------------------- evaluation

def padded_size(side: int, multiple: int = EVAL_PAD_MULTIPLE) -> int:
    return -(-side // multiple) * multiple


def crowd_eval_images(records: list[datasets.CrowdRecord], cfg: Config) -> Iterator[dict]:
    """Whole test images at native resolution, one at a time, padded to a multiple of 64 px.

    Yields image (1, Hp, Wp, 3) in [0, 1], `valid` (Hp/16, Wp/16) mask of the cells that
    cover the real image, the true count and the record. Every image exactly once.
    """
    ds = crowd_records_dataset(records, cfg).map(
        lambda x: decode(x["path"], x["hw"]) / 255.0, num_parallel_calls=AUTOTUNE)
    for record, image in zip(records, _options(ds.prefetch(2), cfg.replace(
            deterministic=True)).as_numpy_iterator()):
        yield pad_for_eval(image, record.count, record)


def pad_for_eval(image: np.ndarray, count: float = float("nan"), record=None) -> dict:
    height, width = image.shape[:2]
    hp, wp = padded_size(height), padded_size(width)
    padded = np.empty((1, hp, wp, 3), np.float32)
    padded[...] = PAD_RGB
    padded[0, :height, :width] = image
    valid = np.zeros((hp // OUTPUT_STRIDE, wp // OUTPUT_STRIDE), bool)
    valid[:-(-height // OUTPUT_STRIDE), :-(-width // OUTPUT_STRIDE)] = True
    return {"image": padded, "valid": valid, "count": float(count), "record": record}


def quality_eval_crops(records: list[datasets.QualityRecord], cfg: Config, seed: int = 0
                       ) -> Iterator[dict]:
    """Per image: `test_crops` random image_size crops (the paper's 30-crop protocol)."""
    size, n = cfg.image_size, cfg.test_crops

    def sample(index, example):
        image = decode(example["path"])
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.constant(seed, tf.int64),
                                                                 index]), n)
        return tf.map_fn(lambda s: _random_crop(image, size, s, example["path"]), seeds,
                         fn_output_signature=tf.float32) / 255.0

    ds = tf.data.Dataset.from_tensor_slices({"path": [r.path for r in records]}).enumerate()
    ds = ds.map(sample, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(2)
    for record, stack in zip(records, ds.as_numpy_iterator()):
        yield {"image": stack, "score": record.score, "record": record}
