"""Losses of the paper as pure jnp functions.

Regression: Caffe's EuclideanLoss, which the authors used for both tasks,

    L_reg = 1 / (2 N) * sum_i sum_pixels (y_i - yhat_i) ** 2

over the N (unmasked) labeled images; for IQA a "map" is the single score.

Ranking (the self-supervised proxy task): every image of the ranked part of the
batch is forwarded ONCE to a scalar score s; the loss layer then forms every
pair (i, j) of the batch with `jax.vmap` and keeps the valid ones, i.e. pairs
from the same source image (same `group`) where i must score at least j
(`rank[i] < rank[j]`; rank 0 is the largest crop / the pristine image):

    L_rank = mean over valid pairs of max(0, s_j - s_i + margin)

This is the paper's "efficient Siamese backpropagation": gradients flow into
each image's single forward pass from all pairs it belongs to.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rankjax.registry import Registry

def density_regression_loss(predicted: jax.Array, target: jax.Array,
                            mask: jax.Array | None = None) -> jax.Array:
    """1/(2N) * sum of squared errors over each image's map (or score).

    predicted, target: (N, ...) with matching shapes; mask: optional (N,) bool/0-1
    weights for padded batches. Returns 0 for an empty or fully masked batch.

    >>> float(density_regression_loss(jnp.array([[1., 2.]]), jnp.array([[0., 0.]])))
    2.5
    """
    if predicted.shape != target.shape:
        raise ValueError(f"prediction shape {predicted.shape} != target shape {target.shape}")
    per_image = jnp.sum(jnp.square(predicted - target), axis=tuple(range(1, predicted.ndim)))
    weights = jnp.ones_like(per_image) if mask is None else mask.astype(per_image.dtype)
    return jnp.sum(per_image * weights) / (2.0 * jnp.maximum(jnp.sum(weights), 1.0))


def valid_pairs(group: jax.Array, rank: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """(M, M) bool: pair (i, j) is valid iff same group, rank[i] < rank[j], both unmasked."""
    def pair(g_i, r_i, m_i, g_j, r_j, m_j):
        return (g_i == g_j) & (r_i < r_j) & m_i & m_j

    m = jnp.ones(group.shape, bool) if mask is None else mask.astype(bool)
    over_j = jax.vmap(pair, in_axes=(None, None, None, 0, 0, 0))
    return jax.vmap(over_j, in_axes=(0, 0, 0, None, None, None))(group, rank, m, group, rank, m)


def pairwise_hinge_matrix(scores: jax.Array, margin: float) -> jax.Array:
    """(M, M) matrix of max(0, s_j - s_i + margin) for every ordered pair, built by vmap."""
    def pair(s_i, s_j):
        return jnp.maximum(0.0, s_j - s_i + margin)

    return jax.vmap(jax.vmap(pair, in_axes=(None, 0)), in_axes=(0, None))(scores, scores)


# Which valid pairs enter the loss: name -> fn(valid, hinge, num_pairs, rng) -> (M, M) weights.
PAIR_STRATEGIES = Registry("pair strategy")
# Strategies that keep a subset of pairs need num_pairs > 0 (config validation asks).
SUBSET_STRATEGIES = ("random", "hard")


@PAIR_STRATEGIES.register("all")
def all_pairs(valid, hinge, num_pairs, rng):
    """Every valid pair (the paper's choice)."""
    return valid.astype(jnp.float32)


def _top_pairs(valid, priority, num_pairs):
    if num_pairs <= 0:
        raise ValueError(f"this pair strategy needs num_pairs > 0, got {num_pairs}")
    # Invalid pairs sort below every valid one; ties among valid pairs are broken by index.
    priority = jnp.where(valid, priority, -jnp.inf).reshape(-1)
    _, chosen = jax.lax.top_k(priority, min(num_pairs, valid.size))
    picked = jnp.zeros(valid.size, jnp.float32).at[chosen].set(1.0).reshape(valid.shape)
    return picked * valid.astype(jnp.float32)


@PAIR_STRATEGIES.register("random")
def random_pairs(valid, hinge, num_pairs, rng):
    """`num_pairs` valid pairs drawn uniformly without replacement (all when fewer are valid),
    as in the paper's random-sampling ablation."""
    if rng is None:
        raise ValueError("pair strategy 'random' needs an rng key")
    return _top_pairs(valid, jax.random.uniform(rng, valid.shape), num_pairs)


@PAIR_STRATEGIES.register("hard")
def hard_pairs(valid, hinge, num_pairs, rng):
    """The `num_pairs` valid pairs with the largest hinge (hard-negative mining); the
    selection carries no gradient."""
    return _top_pairs(valid, jax.lax.stop_gradient(hinge), num_pairs)


def select_pairs(valid: jax.Array, hinge: jax.Array, strategy: str = "all",
                 num_pairs: int = 0, rng: jax.Array | None = None) -> jax.Array:
    """Float (M, M) weights of the pairs that enter the loss (see PAIR_STRATEGIES)."""
    return PAIR_STRATEGIES.get(strategy)(valid, hinge, num_pairs, rng)


def pairwise_rank_hinge(scores: jax.Array, group: jax.Array, rank: jax.Array,
                        margin: float = 1.0, mask: jax.Array | None = None,
                        strategy: str = "all", num_pairs: int = 0,
                        rng: jax.Array | None = None) -> tuple[jax.Array, dict]:
    """Ranking hinge averaged over the selected valid pairs of the batch.

    scores: (M,) one forward pass per image. group: (M,) int id of the source
    image. rank: (M,) int, lower = must score higher. mask: optional (M,) for
    padding. Returns (loss, aux); loss is 0, not NaN, when no pair is valid.
    aux holds `pairs` (number used) and `pair_accuracy` (fraction of valid pairs
    strictly ordered right; 0 when there are none).

    >>> loss, aux = pairwise_rank_hinge(jnp.array([3., 1., 2.]), jnp.array([0, 0, 0]),
    ...                                 jnp.array([0, 1, 2]), margin=0.5)
    >>> round(float(loss), 4), int(aux["pairs"])  # pairs (0,1):0 (0,2):0 (1,2):1.5
    (0.5, 3)
    """
    if scores.ndim != 1 or group.shape != scores.shape or rank.shape != scores.shape:
        raise ValueError(f"scores, group and rank must be 1-D of equal length, got "
                         f"{scores.shape}, {group.shape}, {rank.shape}")
    scores = scores.astype(jnp.float32)
    valid = valid_pairs(group, rank, mask)
    hinge = pairwise_hinge_matrix(scores, margin)
    weights = select_pairs(valid, hinge, strategy, num_pairs, rng)
    pairs = jnp.sum(weights)
    loss = jnp.sum(hinge * weights) / jnp.maximum(pairs, 1.0)
    valid_f = valid.astype(jnp.float32)
    correct = jnp.sum(valid_f * (scores[:, None] > scores[None, :]))
    accuracy = correct / jnp.maximum(jnp.sum(valid_f), 1.0)
    return loss, {"pairs": pairs, "pair_accuracy": accuracy}


def naive_siamese_rank_hinge(score_fn: Callable[[jax.Array], jax.Array], images: jax.Array,
                             group: np.ndarray, rank: np.ndarray,
                             margin: float = 1.0) -> jax.Array:
    """Reference: a classic Siamese network, each valid pair's two images forwarded separately.

    Pairs are enumerated on the host; `score_fn(images) -> (P,)` runs once on the
    stack of first images and once on the stack of second images, so 2 * P
    images go through the network. Kept for tests and the speed benchmark.
    """
    first, second = siamese_pair_indices(group, rank)
    if len(first) == 0:
        return jnp.zeros((), jnp.float32)
    s_first = score_fn(images[first])
    s_second = score_fn(images[second])
    return jnp.mean(jnp.maximum(0.0, s_second - s_first + margin))


def siamese_pair_indices(group: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host-side list of the valid pairs (i must score >= j), row-major order."""
    group, rank = np.asarray(group), np.asarray(rank)
    valid = (group[:, None] == group[None, :]) & (rank[:, None] < rank[None, :])
    first, second = np.nonzero(valid)
    return first, second
