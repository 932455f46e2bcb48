"""tf.data: training batches of labeled samples and ranked sets, generated on the fly.

This module owns the batch. A training batch has fixed shapes and two parts, either
of which may have zero rows:

    {"labeled": {"image": (B, S, S, 3), "target": (B, *task.target_shape), "mask": (B,)},
     "ranked":  {"image": (R, S, S, 3), "group": (R,), "rank": (R,), "mask": (R,)}}

What a sample is comes from the task (rankjax.tasks): `labeled_sample` and
`ranked_sample`. Here they are seeded, sharded over processes, batched and resumed.
All randomness is stateless and keyed by (seed, element index), so a seed fixes
every crop, flip and distortion; with `deterministic=True` batches are bit-identical
from run to run, and `start_batch` resumes the exact sequence.

Each process reads its own slice of the files (multi-host) and builds its part of
the global batch, with group ids made globally unique; rankjax.sharding.global_batch
assembles the global arrays.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import tensorflow as tf

from rankjax import datasets, image_io, tasks
from rankjax.config import Config

AUTOTUNE = tf.data.AUTOTUNE
# Shuffle buffer of unlabeled pools whose size is unknown (TFDS).
TFDS_SHUFFLE = 1000


@dataclasses.dataclass(frozen=True)
class Sources:
    """What one run reads: labeled training records, the unlabeled pool, validation and test."""
    labeled: list
    unlabeled: list[str]        # image paths for ranked sets
    validation: list
    test: list


def build_sources(cfg: Config) -> Sources:
    """Reads the configured dataset and carves labeled / unlabeled / validation / test."""
    if not cfg.dataset:
        raise datasets.DatasetError(
            "this config names no dataset: pass the data to train_and_evaluate(sources=...) "
            "or set --dataset")
    train, test = tasks.get(cfg.task).read_data(cfg)
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


# --------------------------------------------------------------------------- streams

def _seeded(ds: tf.data.Dataset, seed: int, shuffle: int, skip: int = 0) -> tf.data.Dataset:
    """Shuffled, repeated forever, each element paired with its own (2,) stateless seed.

    `skip` drops the first elements before any image is read, so a resumed run sees
    exactly the elements an uninterrupted one would have seen next.
    """
    if shuffle > 1:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    return ds.repeat().enumerate().skip(skip).map(
        lambda i, x: (tf.stack([tf.constant(seed, tf.int64), i]), x))


def labeled_samples(records: list, cfg: Config, seed: int, skip: int = 0) -> tf.data.Dataset:
    """Endless {"image", "target"} samples of the labeled records, drawn by the task."""
    task = tasks.get(cfg.task)
    ds = _seeded(task.labeled_dataset(records, cfg), seed, len(records), skip)
    return ds.map(task.labeled_sample(cfg), num_parallel_calls=AUTOTUNE,
                  deterministic=cfg.deterministic)


def ranked_sets(images: tf.data.Dataset, cfg: Config, seed: int, shuffle: int, skip: int = 0
                ) -> tf.data.Dataset:
    """Endless {"image": (k, S, S, 3), "rank": (k,)} ranked sets of unlabeled images."""
    ds = _seeded(images, seed, shuffle, skip)
    return ds.map(tasks.get(cfg.task).ranked_sample(cfg), num_parallel_calls=AUTOTUNE,
                  deterministic=cfg.deterministic)


def image_paths_dataset(paths: list[str], cfg: Config) -> tf.data.Dataset:
    """Decoded images ([0, 255] float) of the unlabeled pool, rescaled if configured."""
    if not paths:
        raise datasets.DatasetError("the unlabeled pool for ranked sets is empty")

    def load(path):
        image = image_io.decode(path)
        if cfg.rescale_images == 1.0:
            return image
        hw = tf.cast(tf.cast(tf.shape(image)[:2], tf.float32) * cfg.rescale_images, tf.int32)
        return tf.image.resize(image, hw, antialias=True)

    return tf.data.Dataset.from_tensor_slices(paths).map(load)


def tfds_images(name: str) -> tf.data.Dataset:
    """Images of any TFDS dataset (its 'image' feature), for the unlabeled pool."""
    import tensorflow_datasets as tfds
    ds = tfds.load(name, split="train", shuffle_files=False)
    return ds.map(lambda x: tf.cast(tf.image.grayscale_to_rgb(x["image"]) if x["image"].shape[-1]
                                    == 1 else x["image"], tf.float32))


def unlabeled_images(sources: Sources, cfg: Config) -> tuple[tf.data.Dataset, int]:
    if cfg.unlabeled.startswith("tfds:"):
        return tfds_images(cfg.unlabeled[5:]), TFDS_SHUFFLE
    return image_paths_dataset(sources.unlabeled, cfg), len(sources.unlabeled)


# --------------------------------------------------------------------------- batches

def _group_batch(ds: tf.data.Dataset, groups: int) -> tf.data.Dataset:
    def flatten(batch):
        images = batch["image"]
        shape = tf.shape(images)
        return {"image": tf.reshape(images, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)),
                "group": tf.repeat(tf.range(groups, dtype=tf.int32), shape[1]),
                "rank": tf.reshape(batch["rank"], [-1])}
    return ds.batch(groups, drop_remainder=True).map(flatten)


def make_batch(cfg: Config, labeled: dict | None = None, ranked: dict | None = None,
               process_index: int = 0) -> dict:
    """A complete batch: a missing part becomes zero rows of the right shapes (baseline and
    rank-only steps), every row gets a mask, and group ids are offset by the process so
    that groups of different hosts never form pairs."""
    size = cfg.image_size
    empty_image = np.zeros((0, size, size, 3), np.float32)
    if labeled is None:
        target_shape = tasks.get(cfg.task).target_shape(cfg)
        labeled = {"image": empty_image, "target": np.zeros((0, *target_shape), np.float32)}
    if ranked is None:
        ranked = {"image": empty_image, "group": np.zeros((0,), np.int32),
                  "rank": np.zeros((0,), np.int32)}
    labeled = {"mask": np.ones(len(labeled["image"]), bool), **labeled}
    ranked = {"mask": np.ones(len(ranked["image"]), bool), **ranked}
    return {"labeled": labeled, "ranked": offset_groups(ranked, process_index)}


def offset_groups(ranked: dict, process_index: int) -> dict:
    """Local group ids in [0, rows) become process_index * rows + id (globally unique)."""
    group = np.asarray(ranked["group"])
    if process_index == 0 or len(group) == 0:
        return ranked
    rows = len(group)
    if group.min() < 0 or group.max() >= rows:
        raise ValueError(f"local group ids must lie in [0, {rows}), got {group.min()}..{group.max()}")
    return {**ranked, "group": group + process_index * rows}


def train_batches(sources: Sources, cfg: Config, seed: int, labeled_batch: int,
                  ranked_groups: int, process_index: int = 0, process_count: int = 1,
                  start_batch: int = 0) -> Iterator[dict]:
    """Endless complete numpy batches (see `make_batch`) of this process's slice.

    labeled_batch / ranked_groups are per process; either may be 0 (that part then has
    zero rows). `start_batch` resumes the sequence: batch n is the same whether reached
    directly or after a restart.
    """
    parts = {}
    seed = seed * 1000 + process_index  # different hosts draw different crops
    if labeled_batch:
        records = sources.labeled[process_index::process_count]
        if not records:
            raise datasets.DatasetError("no labeled training images for this process")
        parts["labeled"] = labeled_samples(records, cfg, seed, start_batch * labeled_batch
                                           ).batch(labeled_batch, drop_remainder=True)
    if ranked_groups:
        pool, size = unlabeled_images(sources, cfg)
        pool = pool.shard(process_count, process_index) if process_count > 1 else pool
        parts["ranked"] = _group_batch(ranked_sets(pool, cfg, seed + 1, size,
                                                   start_batch * ranked_groups), ranked_groups)
    if not parts:
        raise ValueError("a training batch needs labeled images, ranked groups, or both")
    options = tf.data.Options()
    options.deterministic = cfg.deterministic
    ds = tf.data.Dataset.zip(parts).prefetch(AUTOTUNE).with_options(options)
    return (make_batch(cfg, local.get("labeled"), local.get("ranked"), process_index)
            for local in ds.as_numpy_iterator())
