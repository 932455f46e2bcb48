"""The network's building blocks against independent references (flax, hand-worked)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rankjax import models


def flax_pool(x):
    return nn.max_pool(x, (2, 2), strides=(2, 2))


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 6, 10, 2), (3, 7, 5, 4)])
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_matches_flax_in_values_and_gradients(shape, ties):
    """Same forward values and the same gradient as flax's reduce-window pooling (whose
    gradient is XLA's select-and-scatter), ties included: integers 0..2 make most windows
    hold several maxima, and both give the whole gradient to the first in row-major
    order. Odd sides: the last row or column is dropped and gets no gradient."""
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(np.float32)
    y, vjp = jax.vjp(models.max_pool_2x2, jnp.asarray(x))
    reference, reference_vjp = jax.vjp(flax_pool, jnp.asarray(x))
    np.testing.assert_array_equal(y, reference)
    g = jnp.asarray(rng.standard_normal(y.shape).astype(np.float32))
    np.testing.assert_array_equal(vjp(g)[0], reference_vjp(g)[0])


def test_max_pool_tie_rule_by_hand():
    # One window [[2, 5], [5, 5]]: the maximum 5 appears three times; the gradient goes
    # to the first in row-major order, the top-right one.
    x = jnp.array([[2.0, 5.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    grad = jax.grad(lambda x: 3.0 * models.max_pool_2x2(x).sum())(x)
    assert grad.reshape(2, 2).tolist() == [[0.0, 3.0], [0.0, 0.0]]


def test_counting_net_gradients_equal_those_of_flax_pooling(monkeypatch):
    """The whole network's parameter gradients with the new pooling equal those with
    flax's pooling (the implementation it replaced), to float rounding."""
    model = models.CountingNet(width=0.125, input_style="torch")
    rng = np.random.default_rng(1)
    images = jnp.asarray(rng.random((2, 32, 48, 3)), jnp.float32)
    params = model.init(jax.random.key(0), images)

    def loss(params):
        return jnp.sum(model.apply(params, images) ** 2)

    ours = jax.grad(loss)(params)
    monkeypatch.setattr(models, "max_pool_2x2", flax_pool)
    theirs = jax.grad(loss)(params)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
