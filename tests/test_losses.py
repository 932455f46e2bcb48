import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rankjax import losses, models


def loop_rank_hinge(scores, group, rank, margin, mask=None):
    """Independent reference: explicit double loop over pairs."""
    n = len(scores)
    mask = np.ones(n, bool) if mask is None else mask
    terms = [max(0.0, scores[j] - scores[i] + margin) for i in range(n) for j in range(n)
             if group[i] == group[j] and rank[i] < rank[j] and mask[i] and mask[j]]
    return (float(np.mean(terms)) if terms else 0.0), len(terms)


def test_hand_worked_fixture():
    # Group 0 ranks 0,1,2 with scores 3,1,2; group 1 ranks 0,1 with scores 0,5; margin 1.
    # Group 0 pairs: (0,1): max(0,1-3+1)=0  (0,2): max(0,2-3+1)=0  (1,2): max(0,2-1+1)=2
    # Group 1 pair:  (3,4): max(0,5-0+1)=6.  Mean over 4 pairs = 8/4 = 2.
    scores = jnp.array([3.0, 1.0, 2.0, 0.0, 5.0])
    loss, aux = losses.pairwise_rank_hinge(scores, jnp.array([0, 0, 0, 1, 1]),
                                           jnp.array([0, 1, 2, 0, 1]), margin=1.0)
    assert float(loss) == pytest.approx(2.0)
    assert int(aux["pairs"]) == 4
    # correctly ordered (strictly): (0,1) yes, (0,2) yes, (1,2) no, (3,4) no -> 2/4
    assert float(aux["pair_accuracy"]) == pytest.approx(0.5)


def test_matches_double_loop_random():
    rng = np.random.default_rng(0)
    for _ in range(5):
        n = 12
        scores = rng.normal(size=n).astype(np.float32)
        group = rng.integers(0, 3, size=n)
        rank = rng.integers(0, 4, size=n)  # ties inside a group are not comparable
        mask = rng.random(n) > 0.2
        expected, count = loop_rank_hinge(scores, group, rank, 0.3, mask)
        loss, aux = losses.pairwise_rank_hinge(jnp.asarray(scores), jnp.asarray(group),
                                               jnp.asarray(rank), 0.3, jnp.asarray(mask))
        assert float(loss) == pytest.approx(expected, rel=1e-6, abs=1e-7)
        assert int(aux["pairs"]) == count


@pytest.mark.parametrize("strategy", ["all", "random", "hard"])
def test_no_valid_pair_gives_zero_not_nan(strategy):
    scores = jnp.array([1.0, 2.0, 3.0])
    loss, aux = losses.pairwise_rank_hinge(scores, jnp.array([0, 1, 2]), jnp.array([0, 0, 0]),
                                           1.0, strategy=strategy, num_pairs=2,
                                           rng=jax.random.key(0))
    grad = jax.grad(lambda s: losses.pairwise_rank_hinge(
        s, jnp.array([0, 1, 2]), jnp.array([0, 0, 0]), 1.0)[0])(scores)
    assert float(loss) == 0.0 and int(aux["pairs"]) == 0
    assert np.all(np.isfinite(grad))
    empty, _ = losses.pairwise_rank_hinge(jnp.zeros((0,)), jnp.zeros((0,), int),
                                          jnp.zeros((0,), int))
    assert float(empty) == 0.0


def test_hard_mining_picks_most_violated_pairs():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=10).astype(np.float32)
    group = np.array([0] * 5 + [1] * 5)
    rank = np.array(list(range(5)) * 2)
    terms = sorted((max(0.0, scores[j] - scores[i] + 0.5) for i in range(10) for j in range(10)
                    if group[i] == group[j] and rank[i] < rank[j]), reverse=True)
    loss, aux = losses.pairwise_rank_hinge(jnp.asarray(scores), jnp.asarray(group),
                                           jnp.asarray(rank), 0.5, strategy="hard", num_pairs=4)
    assert int(aux["pairs"]) == 4
    assert float(loss) == pytest.approx(np.mean(terms[:4]), rel=1e-6)


def test_random_pairs_are_valid_subset():
    group = jnp.array([0] * 4 + [1] * 4)
    rank = jnp.array([0, 1, 2, 3] * 2)
    valid = losses.valid_pairs(group, rank)
    hinge = jnp.zeros((8, 8))
    picks = [losses.select_pairs(valid, hinge, "random", 5, jax.random.key(s)) for s in range(4)]
    for picked in picks:
        assert float(picked.sum()) == 5
        assert bool(jnp.all(picked <= valid))
    assert len({np.asarray(p).tobytes() for p in picks}) > 1  # the draw depends on the key
    # more pairs asked for than exist: all 12 valid pairs
    all_of_them = losses.select_pairs(valid, hinge, "random", 100, jax.random.key(0))
    assert float(all_of_them.sum()) == 12


def test_regression_loss_hand_worked_and_mask():
    predicted = jnp.array([[[1.0, 2.0]], [[0.0, 0.0]], [[9.0, 9.0]]])
    target = jnp.zeros((3, 1, 2))
    # image 0: 1+4=5, image 1: 0; image 2 masked out. 1/(2*2) * 5 = 1.25
    loss = losses.density_regression_loss(predicted, target, jnp.array([1, 1, 0]))
    assert float(loss) == pytest.approx(1.25)
    assert float(losses.density_regression_loss(jnp.zeros((0, 2)), jnp.zeros((0, 2)))) == 0.0
    with pytest.raises(ValueError, match="shape"):
        losses.density_regression_loss(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def test_efficient_equals_naive_siamese_loss_and_gradients():
    # float64, so that rtol 1e-5 tests the algebra rather than float32 summation order.
    with jax.enable_x64(True):
        model = models.CountingNet(width=0.125, dtype=jnp.float64)
        images = jax.random.uniform(jax.random.key(0), (9, 32, 32, 3), jnp.float64)
        group = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
        rank = np.array([0, 1, 2] * 3)
        # Any weights do; drawn on the host (XLA compiles 14 float64 initialisers slowly).
        rng = np.random.default_rng(1)
        params = jax.tree.map(lambda s: jnp.asarray(rng.normal(0, 0.2, s.shape)),
                              jax.eval_shape(model.init, jax.random.key(1), images[:1]))

        def score_fn(p):
            return lambda x: jnp.sum(model.apply(p, x), axis=(1, 2))

        def efficient(p):
            return losses.pairwise_rank_hinge(score_fn(p)(images), jnp.asarray(group),
                                              jnp.asarray(rank), margin=5.0)[0]

        def naive(p):
            return losses.naive_siamese_rank_hinge(score_fn(p), images, group, rank, margin=5.0)

        loss_e, grad_e = jax.value_and_grad(efficient)(params)
        loss_n, grad_n = jax.value_and_grad(naive)(params)
    assert float(loss_e) > 0  # the margin makes pairs active, so gradients are non-trivial
    np.testing.assert_allclose(loss_e, loss_n, rtol=1e-5)
    # atol only for entries that cancel to ~0 (the head bias: every pair's term is s_j - s_i)
    for a, b in zip(jax.tree.leaves(grad_e), jax.tree.leaves(grad_n)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)
