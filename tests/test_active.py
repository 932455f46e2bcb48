"""Active learning (Algorithm 1): certainty against references, and the command line
end to end with a kill and a resume."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fixtures
from rankjax import certainty, presets, training
from rankjax.data import splits
from test_cli import ROOT, TINY, run  # shared helpers


def certainty_reference(scores, pairs, margin):
    """Plain loops: for each image, the share of pairs with s[higher] > s[lower] + margin."""
    out = []
    for image in scores:
        right = sum(image[s, h] > image[s, l] + margin for s, h, l in pairs)
        out.append(right / len(pairs))
    return np.array(out)


@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_certainty_matches_a_loop_reference(margin):
    rng = np.random.default_rng(0)
    sets, pairs = certainty.sample_pairs(k=5, num_pairs=100, seed=3)
    assert sets == 10 and pairs.shape == (100, 3)
    scores = rng.normal(size=(7, sets, 5)).astype(np.float32)
    scores[0] = np.arange(5)[::-1]  # perfectly ordered in every set
    got = np.asarray(certainty.certainty_from_scores(scores, pairs, margin))
    np.testing.assert_allclose(got, certainty_reference(scores, pairs, margin), atol=1e-6)
    assert got[0] == (1.0 if margin < 1 else 0.0)


def test_sample_pairs_are_valid_distinct_and_seeded():
    sets, pairs = certainty.sample_pairs(k=4, num_pairs=50, seed=1)
    assert sets == 9  # ceil(50 / 6)
    assert len({tuple(p) for p in pairs.tolist()}) == 50
    assert (pairs[:, 1] < pairs[:, 2]).all() and (pairs[:, 0] < sets).all()
    np.testing.assert_array_equal(certainty.sample_pairs(4, 50, 1)[1], pairs)
    assert not np.array_equal(certainty.sample_pairs(4, 50, 2)[1], pairs)
    assert certainty.sample_pairs(3, 100, 0)[1].shape == (100, 3)  # 34 sets of 3 pairs


def test_select_takes_the_least_certain_first():
    np.testing.assert_array_equal(certainty.select(np.array([0.5, 0.1, 0.9, 0.1]), 3), [1, 3, 0])


def test_pool_certainty_ranks_a_network_that_orders_its_sets_above_one_that_does_not(
        tmp_path, monkeypatch):
    """Flat grey images, ranked sets of Gaussian noise at rising levels: a "network"
    scoring minus the pixels' spread orders every pair right (certainty 1), its opposite
    none (0), and a constant ties every pair (0, a tie is not an ordering)."""
    cfg = presets.get_preset("iqa_cpu_small").replace(
        image_size=32, ranked_per_group=3, certainty_pairs=6, patch_min=32, patch_max=32,
        distortions=("gaussian_noise",), margin=0.0)
    paths = [fixtures.write_flat_image(str(tmp_path / f"grey{i}.png"), 48, 48, 100 + 20 * i)
             for i in range(5)]
    networks = {"orders": lambda params, images: -jnp.std(images, axis=(1, 2, 3)),
                "reverses": lambda params, images: jnp.std(images, axis=(1, 2, 3)),
                "constant": lambda params, images: jnp.zeros(images.shape[:1])}
    got = {}
    for name, network in networks.items():
        monkeypatch.setattr(certainty.evaluation, "make_predict_fn", lambda model: network)
        got[name] = certainty.pool_certainty(cfg, None, paths, seed=4)
    np.testing.assert_array_equal(got["orders"], np.ones(5))
    np.testing.assert_array_equal(got["reverses"], np.zeros(5))
    np.testing.assert_array_equal(got["constant"], np.zeros(5))
    # The least certain first: the images of the network that does not order its sets.
    both = np.concatenate([got["orders"], got["reverses"]])
    assert set(certainty.select(both, 5)) == set(range(5, 10))


@pytest.mark.parametrize("task, preset", [("crowd", "crowd_cpu_small"),
                                          ("iqa", "iqa_cpu_small")])
def test_pool_certainty_runs_for_every_task(task, preset):
    cfg = presets.get_preset(preset).replace(
        width=0.125, image_size=32, ranked_per_group=3, certainty_pairs=6,
        patch_min=32, patch_max=32)  # synthetic data in conftest's RANKJAX_CACHE
    train, _ = splits.load(cfg.dataset, cfg.data_dir, seed=0)
    paths = [r.path for r in train[:5]]
    model = training.build_model(cfg)
    params = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    first = certainty.pool_certainty(cfg, params, paths, seed=4)
    assert first.shape == (5,) and ((first >= 0) & (first <= 1)).all()
    np.testing.assert_array_equal(certainty.pool_certainty(cfg, params, paths, seed=4), first)


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_active_learning_command_line_kill_and_resume(tmp_path):
    args = ["train.py", "--workdir", "al", "--steps", "4", *TINY, "--eval_every", "2",
            "--active_learning", "ranking", "--cycles", "1", "--per_cycle", "0.1",
            "--labeled_fraction", "0.1", "--certainty_pairs", "12"]
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, *args[:1]), *args[1:]],
                               cwd=tmp_path, env=fixtures.child_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    mark = tmp_path / "al" / "cycle_1" / "checkpoints" / "2"
    deadline = time.time() + 240
    while not mark.is_dir() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert mark.is_dir(), "the run never reached cycle 1"
    selection = json.load(open(tmp_path / "al" / "cycle_0" / "selection.json"))
    assert len(selection["chosen"]) == 11  # 10 % of the 108 training images left
    resumed = run(tmp_path, *args)
    assert "resumed from step 2" in resumed.stderr  # cycle 1 went on where it stopped
    assert json.load(open(tmp_path / "al" / "cycle_0" / "selection.json")) == selection
    lines = [l for l in resumed.stdout.splitlines() if l.startswith("cycle ")]
    assert lines[0].startswith("cycle 0: 11 labeled (10%)")
    assert lines[1].startswith("cycle 1: 22 labeled (20%)")
    rows = open(tmp_path / "al" / "selected.csv").read().splitlines()
    assert rows[0] == "cycle,image,certainty" and len(rows) == 12
    assert [r.split(",")[1] for r in rows[1:]] == [c["image"] for c in selection["chosen"]]
    certainties = [c["certainty"] for c in selection["chosen"]]
    assert certainties == sorted(certainties)  # the least certain were chosen, in order
    for name in ("active_learning.csv", "active_learning.png", "cycle_1/test/results.json"):
        assert (tmp_path / "al" / name).is_file(), name
