"""Evaluation: whole-image counts (MAE, RMSE) and quality correlations (LCC, SROCC).

Crowd: each test image at native resolution (padded, with the padding masked out of
the count), predicted count = sum of the density map. "MSE" in crowd counting papers is
the ROOT mean squared error of counts, reported here as rmse.
IQA: score = mean over `test_crops` random crops (the paper's 30-crop protocol).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import importlib.metadata
import json
import os
from typing import Iterable

import flax.linen as nn
import jax
import numpy as np

from rankjax import input_pipeline
from rankjax.config import Config


@dataclasses.dataclass
class Prediction:
    name: str
    truth: float
    predicted: float
    path: str = ""


@functools.partial(jax.jit, static_argnums=0)
def _predict(model: nn.Module, params, images):
    return model.apply(params, images)


def make_predict_fn(model: nn.Module):
    """`predict(params, images)`; compiled once per model config and image shape, across calls."""
    return functools.partial(_predict, model)


def masked_density(predict, params, item: dict) -> np.ndarray:
    """Predicted density of one padded evaluation item, zero on the padding."""
    return np.where(item["valid"], np.asarray(predict(params, item["image"]))[0], 0.0)


def crowd_predictions(model, params, items: Iterable[dict], keep_maps: int = 0
                      ) -> tuple[list[Prediction], list[dict]]:
    """Counts for each evaluation item; the first `keep_maps` items keep their density maps."""
    predict = make_predict_fn(model)
    predictions, maps = [], []
    for item in items:
        density = masked_density(predict, params, item)
        record = item["record"]
        predictions.append(Prediction(record.name, item["count"], float(density.sum()),
                                      record.path))
        if len(maps) < keep_maps:
            maps.append({**item, "density": density})
    return predictions, maps


def quality_predictions(model, params, items: Iterable[dict]) -> list[Prediction]:
    predict = make_predict_fn(model)
    return [Prediction(item["record"].name, item["score"],
                       float(np.mean(predict(params, item["image"]))), item["record"].path)
            for item in items]


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata)."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values))
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def crowd_metrics(predictions: list[Prediction]) -> dict:
    """MAE, RMSE, and two diagnostics: how well counts are ordered (Pearson correlation of
    predicted and true counts) and how they are scaled (mean predicted / mean true count)."""
    truth = np.array([p.truth for p in predictions])
    predicted = np.array([p.predicted for p in predictions])
    errors = predicted - truth
    return {"mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors ** 2).mean())),
            "count_correlation": pearson(predicted, truth),
            "count_ratio": float(predicted.mean() / truth.mean()) if truth.mean() else
            float("nan"),
            "images": len(predictions)}


def quality_metrics(predictions: list[Prediction]) -> dict:
    truth = np.array([p.truth for p in predictions])
    predicted = np.array([p.predicted for p in predictions])
    return {"lcc": pearson(predicted, truth),
            "srocc": pearson(rankdata(predicted), rankdata(truth)),
            "images": len(predictions)}


def evaluate(cfg: Config, model, params, records: list, keep_maps: int = 0
             ) -> tuple[dict, list[Prediction], list[dict]]:
    """Metrics and per-image predictions on `records` (a test or validation split)."""
    if not records:
        raise ValueError("nothing to evaluate: the split is empty")
    if cfg.task == "crowd":
        predictions, maps = crowd_predictions(
            model, params, input_pipeline.crowd_eval_images(records, cfg), keep_maps)
        return crowd_metrics(predictions), predictions, maps
    predictions = quality_predictions(model, params,
                                      input_pipeline.quality_eval_crops(records, cfg, cfg.seed))
    return quality_metrics(predictions), predictions, []


def higher_is_better(task: str) -> bool:
    return task == "iqa"


def selection_metric(task: str) -> str:
    return "srocc" if task == "iqa" else "mae"


def write_predictions_csv(path: str, predictions: list[Prediction], task: str) -> None:
    truth, predicted = (("true_score", "predicted_score") if task == "iqa"
                        else ("true_count", "predicted_count"))
    write_atomic(path, lambda f: _write_csv(f, predictions, truth, predicted))


def _write_csv(f, predictions, truth, predicted):
    writer = csv.writer(f)
    writer.writerow(["name", truth, predicted, "path"])
    for p in predictions:
        writer.writerow([p.name, f"{p.truth:.4f}", f"{p.predicted:.4f}", p.path])


def environment() -> dict:
    versions = {}
    for package in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "tensorflow-cpu",
                    "tensorflow", "tensorflow-datasets", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    device = jax.devices()[0]
    return {"versions": versions, "backend": jax.default_backend(),
            "device": getattr(device, "device_kind", str(device)),
            "device_count": jax.device_count(), "process_count": jax.process_count(),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_results(path: str, metrics: dict, cfg: Config, split: str, checkpoint: str) -> None:
    results = {"metrics": metrics, "split": split, "checkpoint": checkpoint,
               "config": dataclasses.asdict(cfg), **environment()}
    write_atomic(path, lambda f: json.dump(results, f, indent=2, sort_keys=True))


def write_atomic(path: str, write) -> None:
    """Writes through a temporary file and renames it, so readers never see half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        write(f)
    os.replace(tmp, path)
