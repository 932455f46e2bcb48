"""Efficient all-pairs ranking step vs a naive Siamese step, at equal pairs.

Efficient (the paper's method): each of the G*k ranked images is forwarded once and
the loss layer forms all G*k(k-1)/2 valid pairs. Naive Siamese: each pair's two
images go through the network separately, 2 * pairs images per step. Both run the
full train step (forward, backward, SGD update) of the same counting network.

    python benchmarks/rank_backprop.py [--groups 2] [--size 64] [--width 0.25] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import no_tensorflow  # noqa: E402

no_tensorflow.stub_if_missing()  # a JAX-only GPU image: this benchmark uses no tf.data
import rankjax  # noqa: F401,E402  (CPU flags before JAX starts)
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rankjax import losses, presets, tasks, training


def time_steps(steps: dict, state, images, repeats: int) -> dict:
    """Median seconds per call of each step, measured interleaved so both see the same noise."""
    for step in steps.values():  # compile
        jax.block_until_ready(step(state, images))
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            jax.block_until_ready(step(state, images))
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--ks", default="3,5,8")
    args = parser.parse_args()
    print(f"device={jax.devices()[0].device_kind} backend={jax.default_backend()} "
          f"network=CountingNet width={args.width} input={args.size}px groups={args.groups}")

    for k in map(int, args.ks.split(",")):
        cfg = presets.get_preset("crowd_cpu_small").replace(
            width=args.width, image_size=args.size, ranked_groups=args.groups,
            ranked_per_group=k, labeled_batch=0, optimizer="sgd", learning_rate=1e-6,
            margin=1.0)
        model, tx = training.build_model(cfg), training.make_optimizer(cfg)
        params = training.init_params(cfg, model, jax.random.key(0))
        images = jax.random.uniform(jax.random.key(1), (cfg.ranked_batch, args.size, args.size, 3))
        group = np.repeat(np.arange(args.groups), k).astype(np.int32)
        rank = np.tile(np.arange(k), args.groups).astype(np.int32)
        pairs = len(losses.siamese_pair_indices(group, rank)[0])

        def score_fn(p):
            return lambda x: tasks.get(cfg.task).ranking_scores(cfg, model.apply(p, x))

        def efficient_loss(p, images):
            return losses.pairwise_rank_hinge(score_fn(p)(images), jnp.asarray(group),
                                              jnp.asarray(rank), cfg.margin)[0]

        def naive_loss(p, images):
            return losses.naive_siamese_rank_hinge(score_fn(p), images, group, rank, cfg.margin)

        def make_step(loss):
            @jax.jit
            def step(state, images):
                params, opt_state = state
                grads = jax.grad(loss)(params, images)
                updates, opt_state = tx.update(grads, opt_state, params)
                return optax.apply_updates(params, updates), opt_state
            return step

        state = (params, tx.init(params))
        timed = time_steps({"efficient": make_step(efficient_loss),
                            "naive": make_step(naive_loss)}, state, images, args.repeats)
        efficient, naive = timed["efficient"], timed["naive"]
        theoretical = 2 * pairs / cfg.ranked_batch
        print(f"k={k} images={cfg.ranked_batch} pairs={pairs} efficient={efficient * 1e3:.1f}ms "
              f"naive={naive * 1e3:.1f}ms theoretical={theoretical:.2f} "
              f"speedup={naive / efficient:.2f}", flush=True)


if __name__ == "__main__":
    main()
