"""Ranking certainty: how consistently a network orders an image's own ranked sets.

An image whose ranked sets (nested crops for crowds, distortion levels for quality)
the network orders inconsistently is one it does not understand: label those first.

Certainty of an unlabeled image z (Liu et al., TPAMI 2019, Sec. 5):

    C(z) = fraction of K ranked pairs (a, b) of z, a ranked above b, with f(a) > f(b) + margin

The K pairs are drawn (seeded) from `sets` ranked sets of z with k images each, where
sets = ceil(K / (k (k - 1) / 2)); every image is forwarded once and scored with the
task's ranking score, as in training. Active learning (rankjax.active, the paper's
Algorithm 1) and `Predictor.certainty` use it; SELECTION_STRATEGIES are the ways to
choose the images to label.
"""

from __future__ import annotations

import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from rankjax import evaluation, input_pipeline, tasks, training
from rankjax.config import Config
from rankjax.registry import Registry

# Images whose ranked sets are forwarded in one call while scoring the pool.
IMAGES_PER_CALL = 4


def sample_pairs(k: int, num_pairs: int, seed: int) -> tuple[int, np.ndarray]:
    """(sets, (num_pairs, 3) int [set, higher, lower]): the pairs drawn from `sets` ranked
    sets of k images, without replacement (all of them when there are fewer)."""
    if k < 2:
        raise ValueError(f"ranked sets need at least 2 images to form pairs, got k={k}")
    per_set = k * (k - 1) // 2
    sets = math.ceil(num_pairs / per_set)
    higher, lower = np.triu_indices(k, 1)  # rank higher < rank lower: higher must score more
    every = np.array([(s, h, l) for s in range(sets) for h, l in zip(higher, lower)], np.int32)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(every), min(num_pairs, len(every)), replace=False)
    return sets, every[np.sort(chosen)]


@jax.jit
def certainty_from_scores(scores: jax.Array, pairs: jax.Array, margin: float = 0.0
                          ) -> jax.Array:
    """(N,) fraction of `pairs` each image orders correctly.

    scores: (N, sets, k) ranking scores of each image's ranked sets (index = rank, 0 must
    score highest); pairs: (K, 3) int [set, higher, lower]. A pair counts when
    score[higher] > score[lower] + margin (a tie is not an ordering).

    >>> s = jnp.array([[[3., 2., 1.]], [[1., 2., 3.]], [[2., 2., 1.]]])
    >>> p = jnp.array([[0, 0, 1], [0, 0, 2], [0, 1, 2]])
    >>> [round(c, 4) for c in certainty_from_scores(s, p).tolist()]  # right, reversed, a tie
    [1.0, 0.0, 0.6667]
    """
    def one(image_scores):
        higher = image_scores[pairs[:, 0], pairs[:, 1]]
        lower = image_scores[pairs[:, 0], pairs[:, 2]]
        return jnp.mean((higher > lower + margin).astype(jnp.float32))

    return jax.vmap(one)(scores)


def content_keys(paths: list[str]) -> list[int]:
    """A 32-bit key per file from its bytes (CRC-32): the same image gets the same ranked
    sets wherever it is listed, and under any name."""
    keys = []
    for path in paths:
        with open(path, "rb") as f:
            keys.append(zlib.crc32(f.read()))
    return keys


def ranked_set_stream(paths: list[str], cfg: Config, sets: int, seed: int,
                      keys: list[int] | None = None) -> tf.data.Dataset:
    """Per image, in order: its `sets` ranked sets as one (sets * k, S, S, 3) stack; the
    sets of image i are drawn with stateless seeds (seed, key_i * sets + j), key_i = i
    unless `keys` gives one per image (e.g. `content_keys`)."""
    task, k, size = tasks.get(cfg.task), cfg.ranked_per_group, cfg.image_size
    sample = task.ranked_sample(cfg)

    def many(index, image):
        seeds = tf.stack([tf.fill([sets], tf.constant(seed, tf.int64)),
                          index * sets + tf.range(sets, dtype=tf.int64)], axis=1)
        stacks = tf.map_fn(lambda s: sample(s, image)["image"], seeds,
                           fn_output_signature=tf.TensorSpec([k, size, size, 3], tf.float32))
        return tf.reshape(stacks, [sets * k, size, size, 3])

    options = tf.data.Options()
    options.deterministic = True
    ds = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensor_slices(np.asarray(
            range(len(paths)) if keys is None else keys, np.int64)),
        input_pipeline.image_paths_dataset(paths, cfg)).map(
        many, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(IMAGES_PER_CALL).prefetch(2).with_options(options)


def pool_certainty(cfg: Config, params, paths: list[str], seed: int,
                   progress: bool = False, keys: list[int] | None = None) -> np.ndarray:
    """C(z) of every image of `paths` under `params`, in order. Image i's ranked sets are
    seeded by its place in the list (Algorithm 1's pool), or by `keys[i]` if given."""
    task, k = tasks.get(cfg.task), cfg.ranked_per_group
    sets, pairs = sample_pairs(k, cfg.certainty_pairs, seed)
    predict = evaluation.make_predict_fn(training.build_model(cfg))
    scores_of = jax.jit(lambda outputs: task.ranking_scores(cfg, outputs))
    result = []
    bar = tqdm(total=len(paths), unit="image", desc="certainty", disable=not progress,
               dynamic_ncols=True)
    for batch in ranked_set_stream(paths, cfg, sets, seed, keys).as_numpy_iterator():
        n = len(batch)
        if n < IMAGES_PER_CALL:  # one compiled shape: pad the last call
            batch = np.concatenate([batch, np.repeat(batch[-1:], IMAGES_PER_CALL - n, 0)])
        flat = batch.reshape(-1, *batch.shape[2:])
        scores = np.asarray(scores_of(predict(params, flat))).reshape(IMAGES_PER_CALL, sets, k)
        margin = task.rank_margin(cfg)
        result.append(np.asarray(certainty_from_scores(scores, pairs, margin))[:n])
        bar.update(n)
    bar.close()
    return np.concatenate(result) if result else np.zeros((0,), np.float32)


# --------------------------------------------------------------------------- strategies

# name -> fn(cfg, params, pool paths, seed, progress) -> (priority, certainty or None);
# the images with the LOWEST priority are labeled first.
SELECTION_STRATEGIES = Registry("selection strategy")


@SELECTION_STRATEGIES.register("ranking")
def by_ranking(cfg, params, paths, seed, progress=False):
    """The paper's: least certain first."""
    certainty = pool_certainty(cfg, params, paths, seed, progress)
    return certainty, certainty


@SELECTION_STRATEGIES.register("random")
def at_random(cfg, params, paths, seed, progress=False):
    """The control: a seeded uniform draw."""
    return np.random.default_rng(seed).random(len(paths)), None


def labeling_order(certainty: np.ndarray, seed: int) -> np.ndarray:
    """Indices from least to most certain; ties (e.g. the many images ordered perfectly) in a
    seeded random order rather than the order the files were listed in.

    >>> labeling_order(np.array([1.0, 0.5, 1.0, 0.25]), seed=0)[:2].tolist()
    [3, 1]
    """
    shuffled = np.random.default_rng(seed).permutation(len(certainty))
    return shuffled[np.argsort(np.asarray(certainty)[shuffled], kind="stable")]


def select(priority: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` lowest priorities; ties go to the earlier image."""
    return np.argsort(priority, kind="stable")[:count]


