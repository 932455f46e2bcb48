"""One score per image: image quality (RankIQA), and any scalar regression you define.

Network: VGG16 with pool5, fc6, fc7 and a one-unit head (rankjax.models.IQANet), or
your own Flax module. Labeled samples: a random `image_size` crop of the image,
flipped at random; target: its score (higher is better). Evaluation: the mean score
of `test_crops` random crops per image (the paper's 30-crop protocol), seeded by
(seed, image index) so the test split and `Predictor.predict` crop alike.

`ScoreTask(name, ranked_set)` turns a Python function that makes k ranked images from
one unlabeled image into a full rankjax task; `QualityTask` generates its ranked sets
with rankjax.distortions at the paper's levels.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np
import tensorflow as tf

from rankjax import distortions, evaluation, image_io, models
from rankjax.tasks.base import Evaluation, Task

AUTOTUNE = tf.data.AUTOTUNE


class ScoreTask(Task):
    """A scalar regression task whose ranked sets come from `ranked_set`.

    ranked_set(image, seed, k) -> images, or (images, ranks): `image` is one unlabeled
    (H, W, 3) float32 image in [0, 1] (first cropped to image_size at random, unless
    crop_before_ranking=False), `seed` an int, k = cfg.ranked_per_group; `images` is
    (k, h, w, 3) in [0, 1], resized to image_size if needed; rank i must score at least as high as any larger
    rank of the same set (default ranks: 0..k-1 in order).
    model(cfg) -> a Flax module mapping (N, S, S, 3) images in [0, 1] to (N,) scores
    (default: rankjax.models.IQANet). metrics(predictions) -> dict (default: LCC,
    SROCC, MAE, RMSE).
    """

    selection_metric = "srocc"
    higher_is_better = True
    value_name = "score"
    evaluation_fields = ("test_crops", "certainty_pairs")
    higher_is_better_metrics = ("lcc", "srocc")

    def __init__(self, name: str, ranked_set: Callable | None = None, *,
                 model: Callable | None = None, metrics: Callable | None = None,
                 selection_metric: str = "srocc", higher_is_better: bool = True,
                 crop_before_ranking: bool = True):
        self.name = name
        self._ranked_set = ranked_set
        self._model = model
        self._metrics = metrics or evaluation.score_metrics
        self.selection_metric = selection_metric
        self.higher_is_better = higher_is_better
        self.crop_before_ranking = crop_before_ranking

    def validate(self, cfg):
        if self._model is None and cfg.image_size < 32:
            return [f"task {self.name!r} (VGG16 with pool5) needs image_size >= 32"]
        return []

    def build_model(self, cfg):
        if self._model is not None:
            return self._model(cfg)
        dtype = jnp.bfloat16 if cfg.bf16 else jnp.float32
        if cfg.backbone != "vgg16":
            return models.PooledQualityNet(dtype=dtype, image_size=cfg.image_size,
                                           **models.backbone_settings(cfg))
        return models.IQANet(width=cfg.width, dtype=dtype, input_style=cfg.resolved_input_style,
                             image_size=cfg.image_size)

    def target_shape(self, cfg):
        return ()

    def truth(self, record):
        return float(record.score)

    def rank_margin(self, cfg):
        # The margin is in score units; the network's outputs are scores / score_scale.
        return cfg.margin / cfg.score_scale

    def readable_losses(self, cfg, row):
        if "regression_loss" not in row or cfg.score_scale == 1:
            return {}
        # Half the squared error per image in score units, as if score_scale were 1.
        return {"score_loss": row["regression_loss"] * cfg.score_scale ** 2}

    def describe(self, cfg):
        mapped = ([f"targets: (score - {cfg.score_offset:g}) / {cfg.score_scale:g} while "
                   f"training (score_offset, score_scale; predictions are mapped back)"]
                  if (cfg.score_offset, cfg.score_scale) != (0, 1) else [])
        return [f"training crops: random {cfg.image_size} px crops, flipped at random",
                *mapped,
                f"scores: the mean over {cfg.test_crops} random {cfg.image_size} px crops "
                f"per image (test_crops)"]

    # ---------------------------------------------------------------- data
    def labeled_dataset(self, records, cfg):
        return tf.data.Dataset.from_tensor_slices({
            "path": [r.path for r in records],
            "score": np.array([r.score for r in records], np.float32)})

    def labeled_sample(self, cfg):
        size = cfg.image_size

        def sample(seed, example):
            seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
            patch = random_crop(example["image"], size, seeds[0], example["path"])
            patch = tf.cond(tf.random.stateless_uniform((), seeds[1]) < 0.5,
                            lambda: patch[:, ::-1], lambda: patch)
            return {"image": patch / 255.0,
                    "target": (example["score"] - cfg.score_offset) / cfg.score_scale}

        return sample

    def ranked_sample(self, cfg):
        if self._ranked_set is None:
            raise ValueError(f"task {self.name!r} has no ranked_set function: it can only "
                             f"train with paradigm=baseline")
        k, size, make = cfg.ranked_per_group, cfg.image_size, self._ranked_set

        def call(image, seed):
            out = make(image, int(seed), k)
            images, ranks = out if isinstance(out, tuple) else (out, np.arange(len(out)))
            images, ranks = np.asarray(images, np.float32), np.asarray(ranks, np.int32)
            if images.ndim != 4 or len(images) != k or ranks.shape != (k,):
                raise ValueError(f"task {self.name!r}: ranked_set must return {k} images "
                                 f"(ranked_per_group) of shape (h, w, 3) and {k} ranks, got "
                                 f"{images.shape} and {ranks.shape}")
            return images, ranks

        def sample(seed, image):
            seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
            if self.crop_before_ranking:
                image = random_crop(image, size, seeds[0], tf.constant("unlabeled image"))
            int_seed = tf.cast(seeds[1][0] % (2 ** 31 - 1), tf.int64)
            images, ranks = tf.numpy_function(call, [image / 255.0, int_seed],
                                              [tf.float32, tf.int32], stateful=False)
            images = tf.image.resize(tf.ensure_shape(images, (k, None, None, 3)), (size, size))
            return {"image": tf.clip_by_value(images, 0.0, 1.0),
                    "rank": tf.ensure_shape(ranks, (k,))}

        return sample

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, cfg, predict, params, records, first_index=0):
        seed, size, n = cfg.seed, cfg.image_size, cfg.test_crops
        to_score = score_of(cfg)

        def crops_of(index, example):
            return eval_crops(image_io.decode(example["path"]), size, n, seed,
                              index + first_index, example["path"])

        options = tf.data.Options()
        options.deterministic = True
        ds = tf.data.Dataset.from_tensor_slices({"path": [r.path for r in records]}).enumerate()
        ds = ds.map(crops_of, num_parallel_calls=AUTOTUNE).prefetch(2).with_options(options)
        predictions = [
            evaluation.Prediction(record.name, record.score,
                                  to_score(np.mean(predict(params, stack))), record.path)
            for record, stack in zip(records, ds.as_numpy_iterator())]
        return Evaluation(self._metrics(predictions), predictions, records)

    def metrics(self, predictions):
        return self._metrics(predictions)

    def predict_image(self, cfg, predict, params, image, index=0):
        """Mean score of the test split's crops; images smaller than the crop are first
        resized (keeping their aspect ratio) so their short side equals it."""
        size = cfg.image_size
        pixels = tf.constant(image * 255.0, tf.float32)
        short = min(image.shape[:2])
        if short < size:
            scale = size / short
            pixels = tf.image.resize(pixels, (max(size, round(image.shape[0] * scale)),
                                              max(size, round(image.shape[1] * scale))),
                                     antialias=True)
        stack = eval_crops(pixels, size, cfg.test_crops, cfg.seed, tf.constant(index, tf.int64),
                           tf.constant("image")).numpy()
        return {"score": score_of(cfg)(np.mean(predict(params, stack)))}


class QualityTask(ScoreTask):
    """Image quality (RankIQA): ranked sets are one crop at k distortion levels."""

    def __init__(self):
        super().__init__("iqa", metrics=evaluation.quality_metrics)

    def validate(self, cfg):
        problems = super().validate(cfg)
        unknown = [d for d in cfg.distortions if d not in distortions.DISTORTIONS]
        if unknown or not cfg.distortions:
            problems.append(f"distortions must name one or more of "
                            f"{', '.join(distortions.DISTORTIONS.names())}; got "
                            f"{', '.join(cfg.distortions) or 'none'}")
        if not 1 <= cfg.ranked_per_group <= 6:
            problems.append(f"IQA ranked sets have at most 6 images (pristine + 5 levels), "
                            f"got ranked_per_group={cfg.ranked_per_group}")
        return problems

    def ranking_check(self, cfg, predict, params, records, images=100, kinds=(), seed=0):
        """Per distortion type (the run's and the paper's four, or `kinds`): the share of
        level pairs ordered right on one seeded crop of each of the first `images` records,
        at the run's levels (`distortion_pair_accuracy`)."""
        kinds = tuple(kinds) or tuple(dict.fromkeys(cfg.distortions
                                                    + distortions.PAPER_DISTORTIONS))
        levels = quality_levels(cfg.ranked_per_group)
        paths = [r.path for r in records[:images]]

        def scores(params, crops):  # in the dataset's units (score_offset, score_scale)
            return cfg.score_offset + cfg.score_scale * np.asarray(predict(params, crops))

        return {"images": len(paths), "levels": list(levels), "seed": seed,
                "trained_on": list(cfg.distortions),
                "types": distortion_pair_accuracy(scores, params, paths, cfg.image_size,
                                                  kinds, levels, seed=seed)}

    def ranked_sample(self, cfg):
        """One random crop at k levels of one random distortion type; rank = level order."""
        levels, kinds, size = quality_levels(cfg.ranked_per_group), cfg.distortions, cfg.image_size

        def sample(seed, image):
            seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
            patch = random_crop(image, size, seeds[0], tf.constant("unlabeled image"))
            kind = tf.random.stateless_uniform((), seeds[1], 0, len(kinds), tf.int32)
            noise_seed = tf.cast(seeds[2] % (2 ** 31 - 1), tf.int32)
            stack = distortions.ranked_set(patch, kind, levels, kinds, noise_seed)
            return {"image": tf.cast(stack, tf.float32) / 255.0,
                    "rank": tf.range(len(levels), dtype=tf.int32)}

        return sample


def distortion_pair_accuracy(predict: Callable, params, paths: list[str], size: int,
                             kinds: tuple[str, ...], levels: tuple[int, ...] = (2, 3, 4, 5),
                             seed: int = 0) -> dict[str, dict]:
    """How well a quality network orders each distortion type's levels, per type.

    For every image in `paths`, one seeded random `size` crop is distorted at `levels` of
    each type in `kinds` (rankjax.distortions); a pair of levels is ordered correctly when
    the less distorted crop scores strictly higher. Returns {kind: {"pair_accuracy",
    "mean_score_per_level"}}. A training run's pair_accuracy mixes all types in one number;
    this tells which ones the network has learnt (and, for types it was not trained on,
    which ones transfer).
    """
    known = distortions.DISTORTIONS.names()
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise ValueError(f"unknown distortion types {unknown}; choose from {', '.join(known)}")
    if not paths:
        raise ValueError("distortion_pair_accuracy needs at least one image")
    upper = np.triu(np.ones((len(levels), len(levels)), bool), 1)
    scores_of = {kind: [] for kind in kinds}  # kind -> per image, its levels' scores
    for index, path in enumerate(paths):
        image = image_io.decode(tf.constant(path))
        patch = random_crop(image, size, tf.constant([seed, index], tf.int64), tf.constant(path))
        for kind_index, kind in enumerate(kinds):
            stack = distortions.ranked_set(patch, tf.constant(kind_index), levels, kinds,
                                           tf.constant([seed, index], tf.int32))
            crops = np.asarray(stack, np.float32) / 255.0
            scores_of[kind].append(np.asarray(predict(params, crops)))
    out = {}
    for kind, rows in scores_of.items():
        scores = np.stack(rows)  # (images, levels): one call per set, one shape to compile
        right = scores[:, :, None] > scores[:, None, :]  # [n, a, b]: level a above level b
        out[kind] = {"pair_accuracy": float(right[:, upper].mean()),
                     "mean_score_per_level": [float(v) for v in scores.mean(0)]}
    return out


def score_of(cfg) -> Callable[[float], float]:
    """The network's output (mean over crops) -> a score in the dataset's units."""
    return lambda output: cfg.score_offset + cfg.score_scale * float(output)


def quality_levels(k: int) -> tuple[int, ...]:
    """Distortion levels of a k-image ranked set: the k strongest of pristine(0), 1..5."""
    if not 1 <= k <= 6:
        raise ValueError(f"IQA ranked sets have at most 6 images (pristine + 5 levels), got {k}")
    return tuple(range(6 - k, 6))


def random_crop(image: tf.Tensor, size: int, seed: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
    check = tf.debugging.Assert(tf.reduce_min(tf.shape(image)[:2]) >= size,
                                [f"image smaller than the {size}px crop (lower image_size):",
                                 path, tf.shape(image)])
    with tf.control_dependencies([check]):
        return tf.image.stateless_random_crop(image, (size, size, 3), seed)


def eval_crops(image: tf.Tensor, size: int, n: int, seed: int, index: tf.Tensor,
               path: tf.Tensor) -> tf.Tensor:
    """(n, size, size, 3) in [0, 1]: the evaluation crops of image number `index`."""
    seeds = tf.random.experimental.stateless_split(
        tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)]), n)
    return tf.map_fn(lambda s: random_crop(image, size, s, path), seeds,
                     fn_output_signature=tf.float32) / 255.0
