"""Active learning by ranking consistency: the paper's Algorithm 1.

An image whose ranked sets (nested crops for crowds, distortion levels for quality)
the network orders inconsistently is one it does not understand: label those first.

Certainty of an unlabeled image z (Liu et al., TPAMI 2019, Sec. 5):

    C(z) = fraction of K ranked pairs (a, b) of z, a ranked above b, with f(a) > f(b) + margin

The K pairs are drawn (seeded) from `sets` ranked sets of z with k images each, where
sets = ceil(K / (k (k - 1) / 2)); every image is forwarded once and scored with the
task's ranking score, as in training.

Algorithm 1: start from `labeled_fraction` of the training set; train; score the pool;
move the `per_cycle` least certain images (a fraction of the training set) into the
labeled set; retrain from scratch (as the paper does; `cycle_init=previous` continues
from the previous cycle's best weights instead); repeat `cycles` times. Each
cycle is an ordinary resumable run in <workdir>/cycle_<c>/; the images chosen after
cycle c are saved in cycle_<c>/selection.json before the next cycle starts, so a
rerun after a kill continues at the cycle and step where it stopped, with the same
selections. <workdir>/selected.csv lists (cycle, image, certainty) and
active_learning.csv / .png the test metrics against the labeled fraction.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf

from rankjax import datasets, evaluation, input_pipeline, rundir, storage, tasks
from rankjax.config import Config
from rankjax.registry import Registry

log = logging.getLogger(__name__)

# Images whose ranked sets are forwarded in one call while scoring the pool.
IMAGES_PER_CALL = 4


# --------------------------------------------------------------------------- certainty

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
    from tqdm import tqdm

    from rankjax import training

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
        result.append(np.asarray(certainty_from_scores(scores, pairs, task.rank_margin(cfg)))[:n])
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


# --------------------------------------------------------------------------- Algorithm 1

def run(cfg: Config, workdir: str, overwrite: bool = False, progress: bool = True) -> list[dict]:
    """Algorithm 1 in `workdir` (resumable); returns one row per cycle: labeled images,
    labeled fraction and the cycle's test metrics (best checkpoint on validation)."""
    if not cfg.active_learning:
        raise ValueError("active_learning is off in this config (set it to ranking or random)")
    task = tasks.get(cfg.task)
    train, test = task.read_data(cfg)
    rundir.check_writable(workdir)
    with rundir.RunLock(workdir):
        rundir.prepare(cfg, workdir, overwrite)
        return _cycles(cfg, workdir, task, train, test, progress)


def _cycles(cfg: Config, workdir: str, task, train: list, test: list, progress: bool
            ) -> list[dict]:
    from rankjax import experiment

    labeled, pool, validation = datasets.split_labeled(train, cfg.labeled_fraction,
                                                       cfg.validation_fraction, cfg.seed,
                                                       cfg.validation_split)
    total = len(labeled) + len(pool)
    per_cycle = max(1, round(cfg.per_cycle * total))
    log.info("active learning (%s): %d labeled of %d, +%d per cycle, %d cycles",
             cfg.active_learning, len(labeled), total, per_cycle, cfg.cycles)
    rows, selections = [], []
    for cycle in range(cfg.cycles + 1):
        cycle_dir = storage.join(workdir, f"cycle_{cycle}")
        # Ranked sets come from the images still unlabeled (all of them once none is).
        sources = input_pipeline.Sources(labeled, [r.path for r in (pool or labeled)],
                                         validation, test)
        initial = None
        if cycle > 0 and cfg.cycle_init == "previous":
            from rankjax import api
            initial, _ = api.restore_params(cfg, storage.join(workdir, f"cycle_{cycle - 1}"),
                                            "best")
        metrics = experiment.train_and_evaluate(cfg, cycle_dir, progress=progress,
                                                sources=sources, initial_params=initial)
        rows.append({"cycle": cycle, "labeled": len(labeled),
                     "labeled_fraction": len(labeled) / total, **metrics})
        write_curve(workdir, rows, task.selection_metric)
        log.info("cycle %d: %d labeled (%.0f%%), test %s", cycle, len(labeled),
                 100 * len(labeled) / total, metrics)
        if cycle == cfg.cycles or not pool:
            break
        selection = _selection(cfg, cycle, cycle_dir, pool, per_cycle, progress)
        selections.append(selection)
        chosen = {item["image"] for item in selection["chosen"]}
        labeled = labeled + [r for r in pool if r.path in chosen]
        pool = [r for r in pool if r.path not in chosen]
        write_selected(workdir, selections)
    return rows


def _selection(cfg: Config, cycle: int, cycle_dir: str, pool: list, count: int,
               progress: bool) -> dict:
    """The images chosen after `cycle`: read back if this cycle already chose (resume)."""
    from rankjax import api

    path = storage.join(cycle_dir, "selection.json")
    if storage.exists(path):
        return json.loads(storage.read_text(path))
    params, _ = api.restore_params(cfg, cycle_dir, "best")
    paths = [r.path for r in pool]
    priority, certainty = SELECTION_STRATEGIES.get(cfg.active_learning)(
        cfg, params, paths, cfg.seed * 1000 + cycle, progress)
    chosen = select(priority, min(count, len(pool)))
    selection = {"cycle": cycle, "strategy": cfg.active_learning, "chosen": [
        {"image": paths[i], "certainty": None if certainty is None else float(certainty[i])}
        for i in chosen]}
    if certainty is not None:
        selection["pool_certainty_mean"] = float(np.mean(certainty))
    if rundir.is_writer():
        rundir.write_atomic(path, lambda f: json.dump(selection, f, indent=1))
    return selection


def write_selected(workdir: str, selections: list[dict]) -> None:
    def write(f):
        writer = csv.writer(f)
        writer.writerow(["cycle", "image", "certainty"])
        for selection in selections:
            for item in selection["chosen"]:
                certainty = item["certainty"]
                writer.writerow([selection["cycle"], item["image"],
                                 "" if certainty is None else f"{certainty:.4f}"])

    if rundir.is_writer():
        rundir.write_atomic(storage.join(workdir, "selected.csv"), write)


def write_curve(workdir: str, rows: list[dict], metric: str) -> None:
    """active_learning.csv (one row per cycle) and a PNG of `metric` vs labeled fraction."""
    if not rundir.is_writer():
        return
    keys = list(dict.fromkeys(key for row in rows for key in row))

    def write(f):
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)

    rundir.write_atomic(storage.join(workdir, "active_learning.csv"), write)
    from rankjax import pictures  # selects the Agg backend
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.6))
    axis.plot([100 * r["labeled_fraction"] for r in rows], [r[metric] for r in rows],
              marker="o")
    axis.set_xlabel("labeled images (% of the training set)")
    axis.set_ylabel(f"test {metric}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    pictures.save(figure, storage.join(workdir, "active_learning.png"))
