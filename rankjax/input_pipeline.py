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

Multi-host: the global stream of samples is the same whatever the number of processes
(one shuffle of the file list with the run's seed; sample e drawn with the stateless
seed (seed, e)). Process p of P keeps the rows [p B/P, (p+1) B/P) of every global batch
of B and reads only those rows' files, so P processes feed exactly the batches one
process would, and rankjax.sharding.global_batch assembles the global arrays. Group
ids are the global group index, unique across hosts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Iterator

import numpy as np
import tensorflow as tf

from rankjax import image_io, tasks
from rankjax.config import Config
from rankjax.data.records import DatasetError

if TYPE_CHECKING:  # annotations only: the pipeline does not need the readers
    from rankjax.data.splits import Sources

AUTOTUNE = tf.data.AUTOTUNE
# Shuffle buffer of unlabeled pools whose size is unknown (TFDS).
TFDS_SHUFFLE = 1000


# --------------------------------------------------------------------------- streams

@dataclasses.dataclass(frozen=True)
class Rows:
    """Which rows of every global batch of `per_batch` elements this process keeps."""
    per_batch: int
    start: int = 0
    stop: int | None = None

    @classmethod
    def of_process(cls, per_batch_global: int, process_index: int, process_count: int
                   ) -> "Rows":
        local = per_batch_global // process_count
        return cls(per_batch_global, process_index * local, (process_index + 1) * local)

    def keeps(self, index: tf.Tensor) -> tf.Tensor:
        row = index % self.per_batch
        return (row >= self.start) & (row < (self.per_batch if self.stop is None
                                              else self.stop))


def _seeded(ds: tf.data.Dataset, seed: int, shuffle: int, skip: int = 0,
            rows: Rows | None = None) -> tf.data.Dataset:
    """Shuffled, repeated forever, each element paired with its own (2,) stateless seed
    (seed, global element index); with `rows`, only this process's rows of each global
    batch are kept (before anything is decoded).

    `skip` drops the first elements before any image is read, so a resumed run sees
    exactly the elements an uninterrupted one would have seen next.
    """
    if shuffle > 1:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().enumerate().skip(skip)
    if rows is not None and (rows.start, rows.stop) != (0, rows.per_batch):
        ds = ds.filter(lambda i, x: rows.keeps(i))
    return ds.map(lambda i, x: (tf.stack([tf.constant(seed, tf.int64), i]), x))


def labeled_samples(records: list, cfg: Config, seed: int, skip: int = 0,
                    rows: Rows | None = None,
                    cache: image_io.DecodedImages | None = None) -> tf.data.Dataset:
    """Endless {"image", "target"} samples of the labeled records, drawn by the task.

    With `cache`, every record's image is decoded once into it (if they fit) and looked
    up per sample; otherwise each sample decodes its image. Both give the same samples.
    """
    task = tasks.get(cfg.task)
    elements, load = task.labeled_dataset(records, cfg), task.labeled_image(cfg)
    first = len(cache.arrays) if cache is not None else 0
    if cache is not None and cache.fill(elements.map(load, num_parallel_calls=AUTOTUNE)):
        elements = elements.enumerate(first).map(lambda i, e: {**e, "cached": i})
        load = lambda e: cache.lookup(e["cached"])  # noqa: E731
    sample = task.labeled_sample(cfg)
    ds = _seeded(elements, seed, len(records), skip, rows)
    return ds.map(lambda s, e: sample(s, {**e, "image": load(e)}), num_parallel_calls=AUTOTUNE,
                  deterministic=cfg.deterministic)


def ranked_sets(pool: tf.data.Dataset, cfg: Config, seed: int, shuffle: int, skip: int = 0,
                rows: Rows | None = None, decode=None) -> tf.data.Dataset:
    """Endless {"image": (k, S, S, 3), "rank": (k,)} ranked sets of unlabeled images.

    `pool` holds images, or paths (or cache indices) that `decode` turns into images
    after the shuffle (so the shuffle buffer never holds decoded images, and each
    process decodes only its rows' files).
    """
    sample = tasks.get(cfg.task).ranked_sample(cfg)
    load = decode or (lambda x: x)
    return _seeded(pool, seed, shuffle, skip, rows).map(
        lambda s, x: sample(s, load(x)), num_parallel_calls=AUTOTUNE,
        deterministic=cfg.deterministic)


def image_loader(cfg: Config):
    """path -> decoded unlabeled image ([0, 255] float), as the task reads it."""
    return tasks.get(cfg.task).unlabeled_image(cfg)


def image_paths_dataset(paths: list[str], cfg: Config) -> tf.data.Dataset:
    """Decoded images ([0, 255] float) of `paths`, in order, rescaled if configured."""
    if not paths:
        raise DatasetError("the unlabeled pool for ranked sets is empty")
    return tf.data.Dataset.from_tensor_slices(paths).map(image_loader(cfg))


def tfds_images(name: str) -> tf.data.Dataset:
    """Images of any TFDS dataset (its 'image' feature), for the unlabeled pool."""
    import tensorflow_datasets as tfds
    ds = tfds.load(name, split="train", shuffle_files=False)
    return ds.map(lambda x: tf.cast(tf.image.grayscale_to_rgb(x["image"]) if x["image"].shape[-1]
                                    == 1 else x["image"], tf.float32))


def unlabeled_pool(sources: Sources, cfg: Config,
                   cache: image_io.DecodedImages | None = None):
    """(dataset of paths, cache indices or images, shuffle buffer, decode fn or None) of
    the ranked pool; with `cache`, the pool's images are decoded into it if they fit."""
    if cfg.unlabeled.startswith("tfds:"):
        return tfds_images(cfg.unlabeled[5:]), TFDS_SHUFFLE, None
    if not sources.unlabeled:
        raise DatasetError("the unlabeled pool for ranked sets is empty")
    paths, size = tf.data.Dataset.from_tensor_slices(sources.unlabeled), len(sources.unlabeled)
    first = len(cache.arrays) if cache is not None else 0
    if cache is not None and cache.fill(paths.map(image_loader(cfg),
                                                  num_parallel_calls=AUTOTUNE)):
        return tf.data.Dataset.range(first, first + size), size, cache.lookup
    return paths, size, image_loader(cfg)


# --------------------------------------------------------------------------- batches

def _group_batch(ds: tf.data.Dataset, groups: int, first_group: int = 0) -> tf.data.Dataset:
    """Batches of `groups` ranked sets flattened to rows; group ids first_group, ... (the
    global index of each set in the global batch)."""
    def flatten(batch):
        images = batch["image"]
        shape = tf.shape(images)
        return {"image": tf.reshape(images, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)),
                "group": tf.repeat(tf.range(first_group, first_group + groups,
                                            dtype=tf.int32), shape[1]),
                "rank": tf.reshape(batch["rank"], [-1])}
    return ds.batch(groups, drop_remainder=True).map(flatten)


def make_batch(cfg: Config, labeled: dict | None = None, ranked: dict | None = None) -> dict:
    """A complete batch: a missing part becomes zero rows of the right shapes (baseline and
    rank-only steps) and every row gets a mask. Group ids are used as given: the pipeline
    makes them global across processes (`train_batches`)."""
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
    return {"labeled": labeled, "ranked": ranked}


def train_batches(sources: Sources, cfg: Config, seed: int, labeled_batch: int,
                  ranked_groups: int, process_index: int = 0, process_count: int = 1,
                  start_batch: int = 0, cache_bytes: float | None = None) -> Iterator[dict]:
    """Endless complete numpy batches (see `make_batch`) of this process's slice.

    labeled_batch / ranked_groups are per process; either may be 0 (that part then has
    zero rows). `start_batch` resumes the sequence: batch n is the same whether reached
    directly or after a restart. The images are decoded once and kept in memory when
    they fit in `cache_bytes` (default image_io.IMAGE_CACHE_BYTES; 0: decode per sample),
    which changes no batch.
    """
    parts = {}
    seed = seed * 1000
    budget = image_io.IMAGE_CACHE_BYTES if cache_bytes is None else cache_bytes
    cache = image_io.DecodedImages(budget) if budget > 0 else None
    if labeled_batch:
        if not sources.labeled:
            raise DatasetError("no labeled training images")
        total = labeled_batch * process_count
        parts["labeled"] = labeled_samples(
            sources.labeled, cfg, seed, start_batch * total,
            Rows.of_process(total, process_index, process_count), cache
        ).batch(labeled_batch, drop_remainder=True)
    if ranked_groups:
        pool, size, decode = unlabeled_pool(sources, cfg, cache)
        total = ranked_groups * process_count
        sets = ranked_sets(pool, cfg, seed + 1, size, start_batch * total,
                           Rows.of_process(total, process_index, process_count), decode)
        parts["ranked"] = _group_batch(sets, ranked_groups, process_index * ranked_groups)
    if not parts:
        raise ValueError("a training batch needs labeled images, ranked groups, or both")
    options = tf.data.Options()
    options.deterministic = cfg.deterministic
    ds = tf.data.Dataset.zip(parts).prefetch(AUTOTUNE).with_options(options)
    # Group ids are global already: no per-process offset.
    return (make_batch(cfg, local.get("labeled"), local.get("ranked"))
            for local in ds.as_numpy_iterator())
