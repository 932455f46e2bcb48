"""Train state, optimiser and the jit-compiled, data-parallel multi-task train step.

A batch is a dict with two parts, either of which may have zero rows:

    {"labeled": {"image": (B, H, W, 3), "target": (B, h, w) density or (B,) score,
                 "mask": (B,)},
     "ranked":  {"image": (R, H, W, 3), "group": (R,), "rank": (R,), "mask": (R,)}}

`train_step(state, batch) -> (state, metrics)` is pure; `make_train_step` jits
it over a mesh of every device with the batch sharded on its first axis and
the state replicated. The pair loss sees the GLOBAL batch, so a group whose
crops sit on different devices still contributes all of its pairs.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rankjax import losses, pretrained, sharding, tasks
from rankjax.backbones import lite_weights
from rankjax.config import Config

Batch = dict[str, dict[str, Any]]


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array  # raw uint32 key data, so checkpoints hold plain arrays
    # Exponential moving average of params (cfg.ema_decay > 0), what evaluation uses;
    # None otherwise.
    ema_params: Any = None

    @property
    def eval_params(self):
        """The parameters to evaluate and predict with: the average if one is kept."""
        return self.params if self.ema_params is None else self.ema_params


def build_model(cfg: Config) -> nn.Module:
    return tasks.get(cfg.task).build_model(cfg)


def _random_params(cfg: Config, model: nn.Module, rng: jax.Array):
    dummy = jnp.zeros((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
    # XLA:CPU compiles threefry initialisers for 14 layers slowly (about 8 s); an rbg key
    # derived from `rng` is just as deterministic and compiles in about 2 s.
    init_key = jax.random.wrap_key_data(jax.random.bits(rng, (4,), jnp.uint32), impl="rbg")
    return model.init(init_key, dummy)


def init_params(cfg: Config, model: nn.Module, rng: jax.Array):
    """Fresh parameters: random, then ImageNet weights where the config asks for them.

    Only a run's very first start calls this; resuming and evaluation restore
    checkpoints into `abstract_train_state`, so a moved weights file does not matter.
    """
    params = jax.jit(functools.partial(_random_params, cfg, model))(rng)
    if cfg.init == "imagenet" and cfg.backbone == "vgg16":
        params = pretrained.load_into(params, cfg.weights_file)
    elif cfg.init == "imagenet":
        params = lite_weights.import_into(params, cfg.backbone, cfg.weights_file)
    return params


def learning_rate_schedule(cfg: Config, scale: float = 1.0) -> optax.Schedule:
    if cfg.lr_decay_every <= 0:
        return optax.constant_schedule(cfg.learning_rate * scale)
    return optax.exponential_decay(cfg.learning_rate * scale, cfg.lr_decay_every,
                                   cfg.lr_decay_factor, staircase=True)


def make_optimizer(cfg: Config) -> optax.GradientTransformation:
    """SGD with momentum (paper) or Adam, L2 weight decay on kernels (never on biases or
    BatchNorm), step lr decay.

    The new layer (`head`) may learn `head_lr_multiplier` times faster. Variables that do
    not train get no update at all (not even weight decay): BatchNorm's statistics
    (`batch_stats`, which a `batchnorm=train` step replaces itself) and the trunk's
    `frozen_blocks`.
    """
    def one(scale: float) -> optax.GradientTransformation:
        schedule = learning_rate_schedule(cfg, scale)
        if cfg.optimizer == "sgd":
            update = optax.sgd(schedule, momentum=cfg.momentum or None)
        else:
            update = optax.adam(schedule)
        decay_kernels = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
        return optax.chain(optax.add_decayed_weights(cfg.weight_decay, mask=decay_kernels),
                           update)

    frozen = frozen_layers(cfg)

    def label(variables):
        def name(path, _):
            keys = [str(k.key) for k in path]
            if keys[0] != "params" or (keys[1] == "trunk" and keys[2] in frozen):
                return "frozen"
            return "head" if keys[1] == "head" else "trunk"

        return jax.tree_util.tree_map_with_path(name, variables)

    transforms = {"trunk": one(1.0), "head": one(cfg.head_lr_multiplier)}
    if cfg.backbone != "vgg16":  # VGG16's optimizer state keeps the layout of its checkpoints
        transforms["frozen"] = optax.set_to_zero()
    return optax.multi_transform(transforms, label)


def frozen_layers(cfg: Config) -> frozenset[str]:
    """The trunk's layers that `frozen_blocks` keeps at their initial weights."""
    if not cfg.frozen_blocks:
        return frozenset()
    return frozenset(["stem_conv", "stem_bn"] + [f"block{i}" for i in range(cfg.frozen_blocks)])


def loss_fn(params, model: nn.Module, cfg: Config, batch: Batch, rng: jax.Array,
            replicate: Callable[[jax.Array], jax.Array] = lambda x: x):
    """L = L_reg + lambda * L_rank on one batch. Pure; returns (loss, metrics)."""
    task = tasks.get(cfg.task)
    dropout_rng, pair_rng = jax.random.split(rng)
    labeled, ranked = batch["labeled"], batch["ranked"]
    metrics = {}
    total = jnp.zeros((), jnp.float32)
    stats = []  # BatchNorm's running averages after each pass (batchnorm=train)

    def apply(images, index):
        rngs = {"dropout": jax.random.fold_in(dropout_rng, index)}
        if cfg.batchnorm != "train" or "batch_stats" not in params:
            return model.apply(params, images, train=True, rngs=rngs)
        out, updates = model.apply(params, images, train=True, rngs=rngs,
                                   mutable=["batch_stats"])
        stats.append(updates["batch_stats"])
        return out

    if labeled["image"].shape[0]:
        predicted = apply(labeled["image"], 0)
        regression = task.regression_loss(predicted, labeled["target"], labeled.get("mask"))
        total += regression
        metrics["regression_loss"] = regression
    if ranked["image"].shape[0]:
        outputs = apply(ranked["image"], 1)
        # Every pair of the global batch: gather the (few) scalars to all devices first.
        scores, group, rank = (replicate(x) for x in (task.ranking_scores(cfg, outputs),
                                                      ranked["group"], ranked["rank"]))
        mask = ranked.get("mask")
        rank_loss, aux = losses.pairwise_rank_hinge(
            scores, group, rank, task.rank_margin(cfg), None if mask is None else replicate(mask),
            cfg.pair_strategy, cfg.num_pairs, pair_rng)
        total += cfg.rank_weight * rank_loss
        metrics.update(rank_loss=rank_loss, **aux)
    metrics["loss"] = total
    if stats:  # the passes' updates averaged; not a metric, train_step takes it out
        metrics["batch_stats"] = jax.tree.map(lambda *s: sum(s) / len(s), *stats)
    return total, metrics


def train_step(state: TrainState, batch: Batch, *, model: nn.Module, cfg: Config,
               tx: optax.GradientTransformation,
               replicate: Callable[[jax.Array], jax.Array] = lambda x: x):
    rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, model, cfg, batch, rng,
                                                     replicate)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if "batch_stats" in metrics:
        params = {**params, "batch_stats": metrics.pop("batch_stats")}
    metrics["grad_norm"] = optax.tree.norm(grads["params"])  # not BatchNorm statistics
    ema = state.ema_params
    if ema is not None:
        ema = jax.tree.map(lambda a, p: cfg.ema_decay * a + (1 - cfg.ema_decay) * p, ema, params)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         ema_params=ema), metrics


def all_finite(tree) -> jax.Array:
    """True iff every floating-point leaf of `tree` is finite (one fused reduction)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def make_state_check(cfg: Config, model: nn.Module, mesh: jax.sharding.Mesh):
    """jit fn(state, batch) -> bool: the state is usable, i.e. its weights are finite and
    so is its loss on `batch` (the train step's loss is computed before its update, and a
    step can leave finite but absurd weights). Run before a checkpoint is saved."""
    rep = sharding.replicated(mesh)

    def check(state: TrainState, batch: Batch) -> jax.Array:
        loss, _ = loss_fn(state.params, model, cfg, batch, jax.random.wrap_key_data(state.rng),
                          lambda x: jax.lax.with_sharding_constraint(x, rep))
        return jnp.isfinite(loss) & all_finite((state.params, state.ema_params))

    return jax.jit(check, in_shardings=(rep, sharding.batch_sharding(mesh)), out_shardings=rep)


class Trainer(NamedTuple):
    state: TrainState
    train_step: Callable[[TrainState, Batch], tuple[TrainState, dict]]
    model: nn.Module


def _new_state(params, tx: optax.GradientTransformation, step_rng: jax.Array,
               ema: bool = False) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                      rng=jax.random.key_data(step_rng),
                      ema_params=jax.tree.map(jnp.copy, params) if ema else None)


def create_train_state(cfg: Config, model: nn.Module, tx: optax.GradientTransformation,
                       rng: jax.Array, mesh: jax.sharding.Mesh, params=None) -> TrainState:
    """A fresh state, created directly replicated on the mesh (no host copy per device);
    from `params` if given (e.g. the previous active-learning cycle's weights), else
    initialised as the config says."""
    init_rng, step_rng = jax.random.split(rng)
    if params is None:
        params = init_params(cfg, model, init_rng)
    else:
        params = jax.tree.map(np.asarray, params)
    return jax.jit(functools.partial(_new_state, tx=tx, ema=cfg.ema_decay > 0),
                   out_shardings=sharding.replicated(mesh))(params, step_rng=step_rng)


def with_fresh_optimizer(state: TrainState, tx: optax.GradientTransformation,
                         mesh: jax.sharding.Mesh) -> TrainState:
    """`state` with a newly initialised optimizer state (zero moments and step counts, so
    the learning-rate schedule starts again); weights, step and rng are kept."""
    opt_state = jax.jit(tx.init, out_shardings=sharding.replicated(mesh))(state.params)
    return state.replace(opt_state=opt_state)


def abstract_train_state(cfg: Config, model: nn.Module, tx: optax.GradientTransformation,
                         mesh: jax.sharding.Mesh) -> TrainState:
    """Shapes, dtypes and shardings of a train state, computed without creating one
    (`jax.eval_shape`): the target that checkpoints are restored into."""
    def build():
        init_rng, step_rng = jax.random.split(jax.random.key(0))
        return _new_state(_random_params(cfg, model, init_rng), tx, step_rng,
                          cfg.ema_decay > 0)

    replicated = sharding.replicated(mesh)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                        jax.eval_shape(build))


def make_train_step(cfg: Config, model: nn.Module, tx: optax.GradientTransformation,
                    mesh: jax.sharding.Mesh, donate: bool = True):
    rep = sharding.replicated(mesh)
    step = jax.tree_util.Partial(train_step, model=model, cfg=cfg, tx=tx,
                                 replicate=lambda x: jax.lax.with_sharding_constraint(x, rep))
    return jax.jit(step, in_shardings=(rep, sharding.batch_sharding(mesh)),
                   out_shardings=(rep, rep), donate_argnums=(0,) if donate else ())


def create_training(cfg: Config, rng: jax.Array, mesh: jax.sharding.Mesh | None = None,
                    donate: bool = True, state: TrainState | None = None) -> Trainer:
    """Model, jitted step and a state: `state` if given (e.g. restored), else a fresh one."""
    mesh = sharding.make_mesh() if mesh is None else mesh
    model = build_model(cfg)
    tx = make_optimizer(cfg)
    if state is None:
        state = create_train_state(cfg, model, tx, rng, mesh)
    return Trainer(state, make_train_step(cfg, model, tx, mesh, donate), model)
