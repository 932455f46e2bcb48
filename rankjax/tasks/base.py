"""The task interface: what the trainer, input pipeline and evaluation ask of a problem.

A task is a stateless object; every method takes the run's `Config`. Methods that
build tf.data pipelines return per-element maps; rankjax.input_pipeline adds the
seeding, sharding, batching and resuming around them, so a task never deals with
hosts, devices or checkpoints.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from rankjax import image_io, losses
from rankjax.config import Config
from rankjax.evaluation import Prediction

if TYPE_CHECKING:
    import flax.linen as nn
    import jax
    import tensorflow as tf

# predict(params, images (N, H, W, 3) in [0, 1]) -> model outputs; compiled per shape.
PredictFn = Callable[[Any, np.ndarray], "jax.Array"]


@dataclasses.dataclass
class Evaluation:
    """What one pass over a split gives: metrics, one Prediction per record, and per-record
    extras (e.g. density maps) that pictures are drawn from without predicting again."""
    metrics: dict
    predictions: list
    records: list
    extras: list = dataclasses.field(default_factory=list)


class Task:
    name: str = ""
    selection_metric: str = ""      # validation metric that picks the best checkpoint
    higher_is_better: bool = False
    value_name: str = "value"       # what one image's prediction is called (count, score)
    # Config fields that change how a trained network is evaluated, not the network
    # (eval.py --set, rankjax.load(**settings)).
    evaluation_fields: tuple[str, ...] = ("certainty_pairs",)
    # Metrics for which a higher value is better (the others: lower is better).
    higher_is_better_metrics: tuple[str, ...] = ()

    # ---------------------------------------------------------------- config
    def validate(self, cfg: "Config") -> list[str]:
        """Problems of `cfg` that only this task knows about (messages; empty when fine)."""
        return []

    # ---------------------------------------------------------------- network and losses
    def build_model(self, cfg: "Config") -> "nn.Module":
        raise NotImplementedError

    def target_shape(self, cfg: "Config") -> tuple[int, ...]:
        """Shape of one image's regression target (e.g. its density map, or () for a score)."""
        raise NotImplementedError

    def regression_loss(self, predicted, target, mask):
        return losses.density_regression_loss(predicted, target, mask)

    def ranking_scores(self, cfg: "Config", outputs: "jax.Array") -> "jax.Array":
        """One scalar per image that the ranking hinge orders."""
        return outputs

    def rank_margin(self, cfg: "Config") -> float:
        """The hinge's margin in the units of `ranking_scores`."""
        return cfg.margin

    # ---------------------------------------------------------------- data
    def labeled_dataset(self, records: list, cfg: "Config") -> "tf.data.Dataset":
        """One element per record (static fields only; a "path" to its image)."""
        raise NotImplementedError

    def labeled_image(self, cfg: "Config") -> Callable:
        """fn(element) -> the record's whole image, (H, W, 3) float32 in [0, 255]. The input
        pipeline decodes each image once when they fit in memory (image_io.DecodedImages),
        so this must give the same pixels every time it is called."""
        return lambda element: image_io.decode(element["path"])

    def labeled_sample(self, cfg: "Config") -> Callable:
        """fn(seed (2,) int64, element) -> {"image": (S, S, 3) in [0, 1], "target": ...};
        the element holds its decoded whole image as "image" (see `labeled_image`)."""
        raise NotImplementedError

    def ranked_sample(self, cfg: "Config") -> Callable:
        """fn(seed (2,) int64, image (H, W, 3) float [0, 255]) ->
        {"image": (k, S, S, 3) in [0, 1], "rank": (k,) int32, 0 = must score highest}."""
        raise NotImplementedError

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, cfg: "Config", predict: PredictFn, params, records: list,
                 first_index: int = 0) -> Evaluation:
        """Predictions and metrics of `records`. `first_index` is the position of
        records[0] in the whole split (multi-process evaluation gives each process a
        contiguous slice): anything random, e.g. test crops, is seeded by position in
        the split, so the split's predictions do not depend on how it is cut."""
        raise NotImplementedError

    def metrics(self, predictions: list) -> dict:
        """The split's metrics from every prediction (used to combine processes' slices)."""
        raise NotImplementedError

    def predict_image(self, cfg: "Config", predict: PredictFn, params, image: np.ndarray,
                      index: int = 0) -> dict:
        """Prediction for one (H, W, 3) float image in [0, 1], any size:
        {self.value_name: float, ...}. `index` seeds any randomness, as in `evaluate`."""
        raise NotImplementedError

    def truth(self, record) -> float:
        """A labeled record's target as one number (a count, a score)."""
        raise NotImplementedError

    def training_mean_metrics(self, labeled: list, records: list) -> dict:
        """The metrics of the trivial model: the labeled images' mean target predicted for
        every record. A trained model that does not beat it has learnt nothing useful."""
        mean = float(np.mean([self.truth(r) for r in labeled]))
        return self.metrics([Prediction(r.name, self.truth(r), mean, r.path) for r in records])

    def describe(self, cfg: "Config") -> list[str]:
        """What is done to the user's images and targets, one line each (printed at the
        start of a run, so no transformation is silent)."""
        return []

    def readable_losses(self, cfg: "Config", row: dict) -> dict:
        """Extra fields for a training log row, in the target's own units where training
        rescales it (nothing by default)."""
        return {}

    def run_warnings(self, cfg: "Config", best_validation: dict | None) -> list[str]:
        """Warnings about a finished run's best checkpoint on validation (none by default)."""
        return []

    def metric_higher_is_better(self, metric: str) -> bool:
        return metric in self.higher_is_better_metrics

    def unlabeled_image(self, cfg: "Config") -> Callable:
        """fn(path) -> an unlabeled image for ranked sets, (H, W, 3) float32 in [0, 255]."""
        return lambda path: image_io.decode(path)

    def prediction_map(self, result: dict) -> np.ndarray | None:
        """The map of a prediction to draw over its image (a video's overlay), or None."""
        return None

    def image_problems(self, cfg: "Config", image: np.ndarray) -> tuple[str, list[str]]:
        """(why this (H, W, 3) image cannot be predicted, or ''; warnings about how far its
        prediction can be trusted): e.g. images too small for the network."""
        return "", []

    def save_pictures(self, cfg: "Config", evaluation: Evaluation, out_dir: str,
                      split: str) -> None:
        """Pictures of a validation or test pass (nothing by default)."""

    def save_prediction_picture(self, cfg: "Config", out_dir: str, path: str,
                                image: np.ndarray, result: dict) -> None:
        """A picture of one own-image prediction (nothing by default)."""

    def ranking_check(self, cfg: "Config", predict: PredictFn, params, records: list) -> dict:
        """How well a trained network orders ranked sets made from held-out `records` (e.g.
        distortion levels of test photographs), for a run's result file; {} when the task
        has no such check."""
        return {}

    def better(self, value: float, best: float | None) -> bool:
        """Whether `value` of the selection metric beats `best` (None or NaN: nothing yet;
        a NaN value, e.g. a correlation of one image, never beats a number)."""
        if best is None or np.isnan(best):
            return True
        return value > best if self.higher_is_better else value < best

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def predictions_by_error(predictions: list["Prediction"], n: int) -> dict[str, list[int]]:
    """Indices of the n best and n worst predictions by absolute error."""
    errors = np.array([abs(p.predicted - p.truth) for p in predictions])
    order = np.argsort(errors, kind="stable")
    return {"best": [int(i) for i in order[:n]], "worst": [int(i) for i in order[::-1][:n]]}
