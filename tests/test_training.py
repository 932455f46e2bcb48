import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rankjax import input_pipeline, presets, sharding, tasks, training


def tiny_config(**changes):
    base = dict(name="tiny", width=0.125, image_size=32, labeled_batch=8, ranked_groups=2,
                ranked_per_group=4, optimizer="sgd", learning_rate=1e-3, momentum=0.9,
                weight_decay=5e-4, head_lr_multiplier=10.0, lr_decay_every=0, margin=1.0,
                rank_weight=2.0)
    base.update(changes)
    return presets.get_preset("crowd_cpu_small").replace(**base)


def random_batch(cfg, seed=0, groups=None):
    rng = np.random.default_rng(seed)
    size = cfg.image_size
    labeled = {"image": rng.random((cfg.labeled_batch, size, size, 3), np.float32),
               "target": rng.random((cfg.labeled_batch, *tasks.get(cfg.task).target_shape(cfg)),
                                    np.float32) * 0.1}
    rows = cfg.ranked_batch
    group = np.repeat(np.arange(cfg.ranked_groups), cfg.ranked_per_group) if groups is None \
        else np.asarray(groups)
    rank = np.array([np.sum(group[:i] == g) for i, g in enumerate(group)])  # order within group
    ranked = {"image": rng.random((rows, size, size, 3), np.float32),
              "group": group.astype(np.int32), "rank": rank.astype(np.int32)}
    return input_pipeline.make_batch(cfg, labeled=labeled, ranked=ranked)


@pytest.mark.parametrize("parts", ["labeled", "ranked", "both"])
def test_step_runs_with_either_part_empty(parts, single_mesh):
    cfg = tiny_config()
    full = random_batch(cfg)
    batch = input_pipeline.make_batch(cfg, labeled=full["labeled"] if parts != "ranked" else None,
                                ranked=full["ranked"] if parts != "labeled" else None)
    trainer = training.create_training(cfg, jax.random.key(0), single_mesh)
    state, metrics = trainer.train_step(trainer.state, batch)
    assert int(state.step) == 1
    assert ("regression_loss" in metrics) == (parts != "ranked")
    assert ("rank_loss" in metrics) == (parts != "labeled")
    if parts != "labeled":
        assert int(metrics["pairs"]) == 2 * 6  # two groups of 4: 6 ordered pairs each
    assert np.isfinite(float(metrics["loss"]))


def test_loss_is_regression_plus_lambda_rank(single_mesh):
    """The step's loss against one computed here from the network's outputs alone: the
    Euclidean loss of the labeled maps by its formula, and the hinge over every valid pair
    by an explicit double loop (numpy), 3.5 times."""
    cfg = tiny_config(rank_weight=3.5, margin=0.01)
    trainer = training.create_training(cfg, jax.random.key(0), single_mesh)
    batch = random_batch(cfg)
    params = trainer.state.params
    labeled = np.asarray(trainer.model.apply(params, batch["labeled"]["image"]), np.float64)
    target = np.asarray(batch["labeled"]["target"], np.float64)
    regression = ((labeled - target) ** 2).sum() / (2 * len(labeled))
    scores = np.asarray(trainer.model.apply(params, batch["ranked"]["image"]),
                        np.float64).sum(axis=(1, 2))
    group, rank = batch["ranked"]["group"], batch["ranked"]["rank"]
    margin = cfg.margin * cfg.density_scale  # the crowd margin is in counted objects
    hinges = [max(0.0, scores[j] - scores[i] + margin) for i in range(len(scores))
              for j in range(len(scores)) if group[i] == group[j] and rank[i] < rank[j]]
    expected = regression + 3.5 * np.mean(hinges)
    _, metrics = trainer.train_step(trainer.state, batch)  # (the state is donated: last)
    assert float(metrics["regression_loss"]) == pytest.approx(regression, rel=1e-4)
    assert float(metrics["loss"]) == pytest.approx(expected, rel=1e-4)


def test_optimizer_head_multiplier_and_decay_by_hand():
    # Plain SGD, no momentum: update = -lr * scale * (g + wd * w) for kernels, no decay on biases.
    cfg = tiny_config(momentum=0.0, learning_rate=0.1, weight_decay=0.01, head_lr_multiplier=10)
    params = {"params": {"trunk": {"conv1_1": {"kernel": jnp.ones((3, 3)),
                                               "bias": jnp.ones(3)}},
                         "head": {"kernel": jnp.ones((3, 3)), "bias": jnp.ones(3)}}}
    grads = jax.tree.map(lambda p: jnp.full_like(p, 2.0), params)
    tx = training.make_optimizer(cfg)
    updates, _ = tx.update(grads, tx.init(params), params)
    p = updates["params"]
    np.testing.assert_allclose(p["trunk"]["conv1_1"]["kernel"], -0.1 * (2 + 0.01), rtol=1e-6)
    np.testing.assert_allclose(p["trunk"]["conv1_1"]["bias"], -0.1 * 2, rtol=1e-6)
    np.testing.assert_allclose(p["head"]["kernel"], -1.0 * (2 + 0.01), rtol=1e-6)
    np.testing.assert_allclose(p["head"]["bias"], -1.0 * 2, rtol=1e-6)


def test_step_decay_schedule():
    cfg = tiny_config(learning_rate=1.0, lr_decay_every=5, lr_decay_factor=0.1)
    schedule = training.learning_rate_schedule(cfg)
    assert [float(schedule(s)) for s in (0, 4, 5, 9, 10)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01])


def test_training_reduces_loss(single_mesh):
    cfg = tiny_config(optimizer="adam", learning_rate=1e-3, weight_decay=0.0)
    trainer = training.create_training(cfg, jax.random.key(0), single_mesh)
    batch, state = random_batch(cfg), trainer.state
    first = None
    for _ in range(20):
        state, metrics = trainer.train_step(state, batch)
        first = first if first is not None else float(metrics["loss"])
    assert float(metrics["loss"]) < 0.5 * first


@pytest.mark.parametrize("strategy", ["all", "hard"])
def test_sharded_step_equals_single_device(strategy):
    assert jax.device_count() == 8, "conftest sets 8 fake CPU devices"
    cfg = tiny_config(pair_strategy=strategy, num_pairs=5)
    # Ranked part: 16 rows over 8 devices (2 rows each); groups of 4 span two devices,
    # and group 3 is spread over rows 1, 6, 11, 14 (four different devices).
    groups = np.array([0, 3, 0, 0, 0, 1, 3, 1, 1, 1, 2, 3, 2, 2, 3, 2])
    cfg = cfg.replace(ranked_groups=4, ranked_per_group=4)
    batch = random_batch(cfg, groups=groups)
    mesh1, mesh8 = sharding.make_mesh(jax.devices()[:1]), sharding.make_mesh()

    results = []
    for mesh in (mesh1, mesh8):
        trainer = training.create_training(cfg, jax.random.key(0), mesh, donate=False)
        state, metrics = trainer.train_step(trainer.state, sharding.global_batch(batch, mesh))
        model, rep = trainer.model, sharding.replicated(mesh)
        grad_fn = jax.jit(jax.grad(lambda p, b: training.loss_fn(
            p, model, cfg, b, jax.random.key(3),
            lambda x: jax.lax.with_sharding_constraint(x, rep))[0]),
            in_shardings=(rep, sharding.batch_sharding(mesh)))
        grads = grad_fn(trainer.state.params, sharding.global_batch(batch, mesh))
        results.append((metrics, grads, state.params))

    (m1, g1, p1), (m8, g8, p8) = results
    assert int(m8["pairs"]) == int(m1["pairs"]) and int(m1["pairs"]) > 0
    if strategy == "all":
        assert int(m1["pairs"]) == 4 * 6  # every group contributes all 6 pairs
    for key in ("loss", "regression_loss", "rank_loss", "pair_accuracy"):
        assert float(m8[key]) == pytest.approx(float(m1[key]), rel=1e-5, abs=1e-5), key
    # "Within 1e-5": float32 sums in another order across 8 devices differ by ~1e-6.
    for tree_a, tree_b in ((g1, g8), (p1, p8)):
        for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_global_batch_rejects_uneven_split():
    cfg = tiny_config(labeled_batch=3)
    batch = random_batch(cfg)
    with pytest.raises(ValueError, match="do not split evenly over 8"):
        sharding.global_batch(batch, sharding.make_mesh())


def test_bf16_compute_keeps_float32_params(single_mesh):
    cfg = tiny_config(bf16=True)
    trainer = training.create_training(cfg, jax.random.key(0), single_mesh, donate=False)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(trainer.state.params))
    state, metrics = trainer.train_step(trainer.state, random_batch(cfg))
    assert np.isfinite(float(metrics["loss"]))
    # bf16 and f32 forward passes agree to bf16 precision
    f32 = training.build_model(cfg.replace(bf16=False))
    bf16 = training.build_model(cfg)
    images = random_batch(cfg)["labeled"]["image"]
    a = f32.apply(trainer.state.params, images)
    b = bf16.apply(trainer.state.params, images)
    assert b.dtype == jnp.float32
    np.testing.assert_allclose(a, b, rtol=0.05, atol=0.05 * float(jnp.abs(a).max()))


def test_weight_average_by_hand(single_mesh):
    # ema_1 = d p0 + (1 - d) p1; ema_2 = d ema_1 + (1 - d) p2, with p_k the weights after k steps.
    cfg = tiny_config(ema_decay=0.75)
    trainer = training.create_training(cfg, jax.random.key(0), single_mesh, donate=False)
    batch = random_batch(cfg)
    states = [trainer.state]
    for _ in range(2):
        states.append(trainer.train_step(states[-1], batch)[0])
    p0, p1, p2 = (s.params for s in states)
    expected = jax.tree.map(lambda a, b, c: 0.75 * (0.75 * a + 0.25 * b) + 0.25 * c, p0, p1, p2)
    for got, want in zip(jax.tree.leaves(states[-1].eval_params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)
    assert states[0].eval_params is states[0].ema_params
    assert training.create_training(tiny_config(ema_decay=0.0), jax.random.key(0), single_mesh
                                    ).state.ema_params is None  # off by default


def test_a_new_state_can_start_from_given_weights(single_mesh):
    """What active learning's cycle_init=previous uses: the weights given, fresh optimiser."""
    cfg = tiny_config(ema_decay=0.5)
    model, tx = training.build_model(cfg), training.make_optimizer(cfg)
    given = jax.tree.map(lambda p: np.full(p.shape, 0.01, np.float32),
                         training.create_train_state(cfg, model, tx, jax.random.key(1),
                                                     single_mesh).params)
    state = training.create_train_state(cfg, model, tx, jax.random.key(2), single_mesh, given)
    for got, want in zip(jax.tree.leaves((state.params, state.ema_params)),
                         jax.tree.leaves((given, given))):
        np.testing.assert_array_equal(np.asarray(got), want)
    assert int(state.step) == 0


def test_rank_then_finetune_starts_its_finetuning_with_a_fresh_optimizer(tmp_path, crowd_folder,
                                                                          monkeypatch):
    """The fine-tuning phase gets a new optimizer: its learning-rate schedule starts again
    (by hand: 1e-3 for 2 steps, then 1e-4) and the optimizer's own step counts, read back
    from the last checkpoint, hold only its 3 updates."""
    import json

    from rankjax import checkpoints, experiment

    one_device = sharding.make_mesh(jax.devices()[:1])
    monkeypatch.setattr(sharding, "make_mesh", lambda *a, **k: one_device)
    cfg = tiny_config(dataset="folder", data_dir=crowd_folder, paradigm="rank_then_finetune",
                      steps=2, finetune_steps=3, optimizer="adam", lr_decay_every=2,
                      lr_decay_factor=0.1, labeled_batch=2, ranked_groups=1, ranked_per_group=3,
                      patch_min=16, patch_max=32, log_every=1, checkpoint_every=5, eval_every=0,
                      deterministic=True)
    workdir = str(tmp_path / "rtf")
    experiment.train_and_evaluate(cfg, workdir, progress=False)
    rows = [json.loads(line) for line in open(tmp_path / "rtf" / "metrics.jsonl")]
    logged = [(r["step"], r["phase"], r["learning_rate"]) for r in rows if r["kind"] == "train"]
    assert logged == [(1, "rank", pytest.approx(1e-3)), (2, "rank", pytest.approx(1e-3)),
                      (3, "finetune", pytest.approx(1e-3)), (4, "finetune", pytest.approx(1e-3)),
                      (5, "finetune", pytest.approx(1e-4))]
    model, tx = training.build_model(cfg), training.make_optimizer(cfg)
    state, _ = checkpoints.RunCheckpoints(workdir).restore(
        training.abstract_train_state(cfg, model, tx, one_device), task=cfg.task)
    counts = [int(leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]
              if "count" in jax.tree_util.keystr(path)]
    assert counts and set(counts) == {3} and int(state.step) == 5


def test_log_validation_and_checkpoint_steps_follow_their_every_and_the_last_step(
        tmp_path, crowd_folder, monkeypatch):
    """Over a phase boundary (2 ranking + 3 fine-tuning steps): logs every 2 steps and at the
    last, validation every 3 and at the last, no periodic checkpoint (0) but the last one."""
    import json

    from rankjax import checkpoints, experiment

    one_device = sharding.make_mesh(jax.devices()[:1])
    monkeypatch.setattr(sharding, "make_mesh", lambda *a, **k: one_device)
    cfg = tiny_config(dataset="folder", data_dir=crowd_folder, paradigm="rank_then_finetune",
                      steps=2, finetune_steps=3, labeled_batch=2, ranked_groups=1,
                      ranked_per_group=3, patch_min=16, patch_max=32, log_every=2,
                      eval_every=3, checkpoint_every=0, validation_fraction=0.25)
    workdir = str(tmp_path / "run")
    experiment.train_and_evaluate(cfg, workdir, progress=False)
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [2, 4, 5]
    assert [r["step"] for r in rows if r["kind"] == "validation"] == [3, 5]
    assert checkpoints.RunCheckpoints(workdir).latest_step() == 5
