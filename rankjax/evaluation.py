"""Metrics and prediction helpers shared by every task.

Crowd counting: MAE and RMSE of whole-image counts ("MSE" in crowd counting papers is
the ROOT mean squared error), plus how counts are ordered and scaled. Scores: Pearson
(LCC) and Spearman (SROCC) correlations from scipy.stats.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import flax.linen as nn
import jax
import numpy as np
from scipy import stats


@dataclasses.dataclass
class Prediction:
    name: str
    truth: float
    predicted: float
    path: str = ""
    # The network's own number where `predicted` is bounded (a count's raw sum of density
    # cells, which can be negative; the reported count is never below zero).
    raw: float | None = None


@functools.partial(jax.jit, static_argnums=0)
def _predict(model: nn.Module, params, images):
    return model.apply(params, images)


def make_predict_fn(model: nn.Module):
    """`predict(params, images)`; compiled once per model config and image shape, across calls."""
    return functools.partial(_predict, model)


def correlation(kind: str, a, b) -> float:
    """Pearson or Spearman correlation (scipy.stats); NaN (undefined) for fewer than two
    images; 0.0 when either side is constant (no ordering at all).

    >>> round(correlation("spearman", [1, 2, 3, 4], [1, 3, 2, 4]), 6)  # 1 - 6 * 2 / (4 * 15)
    0.8
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2:
        return float("nan")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.pearsonr(a, b) if kind == "pearson" else stats.spearmanr(a, b)
    return float(result[0])


def crowd_metrics(predictions: list[Prediction]) -> dict:
    """MAE, RMSE, and two diagnostics: how well counts are ordered (Pearson correlation of
    predicted and true counts) and how they are scaled (mean predicted / mean true count)."""
    truth = np.array([p.truth for p in predictions])
    predicted = np.array([p.predicted for p in predictions])
    errors = predicted - truth
    return {"mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors ** 2).mean())),
            "count_correlation": correlation("pearson", predicted, truth),
            "count_ratio": float(predicted.mean() / truth.mean()) if truth.mean() else
            float("nan"),
            "images": len(predictions)}


def quality_metrics(predictions: list[Prediction]) -> dict:
    truth = np.array([p.truth for p in predictions])
    predicted = np.array([p.predicted for p in predictions])
    return {"lcc": correlation("pearson", predicted, truth),
            "srocc": correlation("spearman", predicted, truth),
            "images": len(predictions)}


def score_metrics(predictions: list[Prediction]) -> dict:
    """Correlations and absolute errors: for scores whose scale means something."""
    errors = np.array([p.predicted - p.truth for p in predictions])
    return {**quality_metrics(predictions), "mae": float(np.abs(errors).mean()),
            "rmse": float(np.sqrt((errors ** 2).mean()))}
