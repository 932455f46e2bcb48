"""Where a crowd preset's time goes: the train step by op class beside PyTorch, and a
whole run (a table cell) by part.

    python benchmarks/profile_step.py --preset crowd_shb_cpu_small
    python benchmarks/profile_step.py --preset crowd_shb_cpu_small --flax_pooling
    python benchmarks/profile_step.py --preset crowd_shb_cpu      # Lite0: by XLA fusion
    python benchmarks/profile_step.py --cell --stall --preset crowd_shb_cpu_small \
        --data_dir ~/data/ShanghaiTech --set paradigm=multitask labeled_fraction=0.1
    python benchmarks/profile_step.py --runs runs/reproduce/label_scarcity_shb/*/seed0

Step: each op class of the preset's multitask step (labeled and ranked images in their
two passes, the preset's width and input size) timed as its own compiled program, in
JAX and in PyTorch (channels_last, all CPU threads), the two interleaved, median of
--repeats: convolutions forward; convolutions backward (input and weight gradients,
the first layer's weights only); 2x2 max pooling forward and backward (rankjax's, and
with --flax_pooling flax's reduce-window pooling that it replaced); bias and ReLU
forward and backward; the losses (density regression and the all-pairs hinge) forward
and backward; the optimizer update with the weight average; host-to-device copy of a
batch; and the whole step. The sum of the parts beside the whole step shows what
fusion saves or costs.

--fusions (and any preset whose backbone is not VGG16, e.g. crowd_shb_cpu): the compiled
step traced with jax.profiler, its time per XLA op or fusion class (transposes, the
depthwise taps' pads and reductions, matrix products, ...), summed over threads.

Cell (--cell): trains the preset (with --set overrides) through train_and_evaluate in a
temporary run directory, then prints the run's own wall-time split (summary.json:
start-up, compilation and first step, training steps, validation, checkpoints, test).
--stall: the train step fed by tf.data (its images decoded once and kept in memory, and
decoded per sample) against the same step on one batch held in memory. --runs prints
the split of finished runs.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import tempfile
import time

import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from rankjax import config as config_lib, losses, models, sharding, training  # noqa: E402
from rankjax import presets  # noqa: E402

import train_throughput  # noqa: E402  (the same step in PyTorch, the machine line)


def _median_ms(run, repeats: int, inner: int) -> float:
    run()  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            run()
        times.append((time.perf_counter() - start) / inner * 1e3)
    return statistics.median(times)


def _jax(fn, *args):
    compiled = jax.jit(fn)
    return lambda: jax.block_until_ready(compiled(*args))


def _layers(cfg) -> list[tuple[int, int, int]]:
    """(side, input channels, output channels) of every 3x3 convolution, head included."""
    layers, channels, side = [], 3, cfg.image_size
    for block, n_convs, full in models.VGG16_BLOCKS:
        for _ in range(n_convs):
            out = models.scaled_channels(full, cfg.width)
            layers.append((side, channels, out))
            channels = out
        if block < 5:
            side //= 2
    return layers + [(side, channels, 1)]


def _pools(cfg) -> list[tuple[int, int]]:
    side, out = cfg.image_size, []
    for block, _, full in models.VGG16_BLOCKS[:4]:
        out.append((side, models.scaled_channels(full, cfg.width)))
        side //= 2
    return out


def _conv(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def step_classes(cfg, repeats: int, flax_pooling: bool) -> list[tuple[str, float, float]]:
    """[(op class, JAX ms, torch ms)] of one train step of `cfg`."""
    torch, device = train_throughput._torch()
    rng = np.random.default_rng(0)
    parts = [n for n in (cfg.labeled_batch, cfg.ranked_groups * cfg.ranked_per_group) if n]
    rows: dict[str, list[float]] = {}

    def add(name, jax_run, torch_run, inner=3, torch_minus=0.0):
        """Adds the medians of both to the row `name`; returns PyTorch's."""
        j = _median_ms(jax_run, repeats, inner)
        t = _median_ms(torch_run, repeats, inner) if torch_run else float("nan")
        rows.setdefault(name, [0.0, 0.0])
        rows[name][0] += j
        rows[name][1] += t - torch_minus
        return t

    def tensor(array, grad=False):
        x = torch.tensor(array)
        if x.ndim == 4:
            x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        return x.requires_grad_(grad)

    for n in parts:
        for side, cin, cout in _layers(cfg):
            x = rng.standard_normal((n, side, side, cin)).astype(np.float32)
            k = (rng.standard_normal((3, 3, cin, cout)) * 0.1).astype(np.float32)
            g = rng.standard_normal((n, side, side, cout)).astype(np.float32)
            conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(
                memory_format=torch.channels_last) if torch else None
            xt, gt = (tensor(x, cin != 3), tensor(g)) if torch else (None, None)

            def torch_forward(conv=conv, xt=xt):
                with torch.no_grad():
                    conv(xt)

            def torch_backward(conv=conv, xt=xt, gt=gt):
                # PyTorch keeps no graph without a forward: the forward runs again, and
                # its time (measured just before) is taken off the row
                conv(xt).backward(gt)

            forward_ms = add("convolutions forward", _jax(_conv, x, k),
                             torch and torch_forward)
            if cin == 3:  # the input needs no gradient
                backward = _jax(lambda x, k, g: jax.vjp(lambda k: _conv(x, k), k)[1](g), x, k, g)
            else:
                backward = _jax(lambda x, k, g: jax.vjp(_conv, x, k)[1](g), x, k, g)
            add("convolutions backward", backward, torch and torch_backward,
                torch_minus=forward_ms if torch else 0.0)
            if cout > 1:
                b = rng.standard_normal(cout).astype(np.float32)
                bias_relu = _jax(lambda y, b, g: jax.vjp(lambda y, b: jax.nn.relu(y + b), y,
                                                         b)[1](g), g, b, g)
                bt = torch.tensor(b).requires_grad_() if torch else None
                yt = tensor(g, True) if torch else None

                def torch_bias_relu(yt=yt, bt=bt, gt=gt):
                    torch.relu(yt + bt[:, None, None]).backward(gt)

                add("bias and ReLU fwd+bwd", bias_relu, torch and torch_bias_relu)
        for side, channels in _pools(cfg):
            x = np.maximum(rng.standard_normal((n, side, side, channels)), 0).astype(np.float32)
            g = rng.standard_normal((n, side // 2, side // 2, channels)).astype(np.float32)
            xt, gt = (tensor(x, True), tensor(g)) if torch else (None, None)

            def torch_pool(xt=xt, gt=gt):
                torch.nn.functional.max_pool2d(xt, 2, 2).backward(gt)

            pool = models.max_pool_2x2
            add("max pooling fwd+bwd", _jax(lambda x, g: jax.vjp(pool, x)[1](g), x, g),
                torch and torch_pool)
            if flax_pooling:
                import flax.linen as nn

                def flax_pool(x):
                    return nn.max_pool(x, (2, 2), strides=(2, 2))

                add("max pooling fwd+bwd, flax (before)",
                    _jax(lambda x, g: jax.vjp(flax_pool, x)[1](g), x, g), None)
    # Losses on the outputs: forward and backward.
    grid = cfg.image_size // models.OUTPUT_STRIDE
    k, groups = cfg.ranked_per_group, cfg.ranked_groups
    out_l = rng.standard_normal((cfg.labeled_batch, grid, grid)).astype(np.float32)
    target = rng.standard_normal((cfg.labeled_batch, grid, grid)).astype(np.float32)
    out_r = rng.standard_normal((groups * k, grid, grid)).astype(np.float32)
    group = np.repeat(np.arange(groups, dtype=np.int32), k)
    rank = np.tile(np.arange(k, dtype=np.int32), groups)

    def loss(out_l, out_r):
        regression = losses.density_regression_loss(out_l, target)
        hinge, _ = losses.pairwise_rank_hinge(out_r.sum(axis=(1, 2)), group, rank, cfg.margin)
        return regression + cfg.rank_weight * hinge

    def torch_loss(tl=tensor(out_l, True) if torch else None,
                   tr=tensor(out_r, True) if torch else None,
                   tt=torch.tensor(target) if torch else None):
        regression = ((tl - tt) ** 2).sum() / (2 * cfg.labeled_batch)
        scores = tr.sum(dim=(1, 2)).view(groups, k)
        higher, lower = torch.triu_indices(k, k, 1)
        hinge = torch.relu(scores[:, lower] - scores[:, higher] + cfg.margin).mean()
        (regression + cfg.rank_weight * hinge).backward()

    add("losses fwd+bwd", _jax(jax.grad(loss, argnums=(0, 1)), out_l, out_r),
        torch and torch_loss, inner=20)
    # Optimizer update and weight average on the network's parameters.
    model, tx = training.build_model(cfg), training.make_optimizer(cfg)
    params = training.init_params(cfg, model, jax.random.key(0))
    opt_state, ema = tx.init(params), params
    grads = jax.tree.map(jnp.ones_like, params)

    def update(params, opt_state, ema, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        ema = jax.tree.map(lambda a, p: cfg.ema_decay * a + (1 - cfg.ema_decay) * p, ema, params)
        return params, opt_state, ema

    torch_update = None
    if torch:
        net = train_throughput.torch_counting_net(cfg.width)
        for p in net.parameters():
            p.grad = torch.ones_like(p)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
        averaged = [p.detach().clone() for p in net.parameters()]

        def torch_update():
            optimizer.step()
            with torch.no_grad():
                torch._foreach_lerp_(averaged, list(net.parameters()), 1 - cfg.ema_decay)

    add("optimizer and weight average", _jax(update, params, opt_state, ema, grads),
        torch_update, inner=20)
    # Host to device: the numpy batch becomes the step's global arrays.
    mesh = sharding.make_mesh(jax.devices()[:1])
    batch = train_throughput_batch(cfg, rng)
    add("host to device", lambda: jax.block_until_ready(sharding.global_batch(batch, mesh)),
        (lambda: [torch.from_numpy(batch["labeled"]["image"]),
                  torch.from_numpy(batch["ranked"]["image"])]) if torch else None, inner=20)
    # The whole step.
    seconds, _ = train_throughput.preset_step(cfg, max(5, repeats))
    torch_seconds = train_throughput.torch_preset_step(cfg, max(5, repeats))
    table = [(name, j, t) for name, (j, t) in rows.items()]
    table.append(("sum of the parts above", sum(j for name, j, _ in table if "before" not in name),
                  sum(t for name, _, t in table if "before" not in name)))
    table.append(("whole train step", seconds * 1e3,
                  torch_seconds * 1e3 if torch_seconds else float("nan")))
    return table


def train_throughput_batch(cfg, rng) -> dict:
    from rankjax import input_pipeline

    size, side = cfg.image_size, cfg.image_size // models.OUTPUT_STRIDE
    ranked = cfg.ranked_groups * cfg.ranked_per_group
    return input_pipeline.make_batch(cfg, labeled={
        "image": rng.random((cfg.labeled_batch, size, size, 3), np.float32),
        "target": rng.random((cfg.labeled_batch, side, side), np.float32)}, ranked={
        "image": rng.random((ranked, size, size, 3), np.float32),
        "group": np.repeat(np.arange(cfg.ranked_groups, dtype=np.int32), cfg.ranked_per_group),
        "rank": np.tile(np.arange(cfg.ranked_per_group, dtype=np.int32), cfg.ranked_groups)})


def print_step(cfg, table) -> None:
    print(f"train step of {cfg.name}: width {cfg.width}, {cfg.image_size} px, "
          f"{cfg.labeled_batch} labeled + {cfg.ranked_groups}x{cfg.ranked_per_group} ranked "
          f"images, {cfg.optimizer}; ms per step (median), JAX beside PyTorch")
    print(f"{'op class':38s} {'jax ms':>8s} {'torch ms':>9s} {'torch/jax':>9s}")
    for name, j, t in table:
        print(f"{name:38s} {j:8.1f} {t:9.1f} {t / j:9.2f}")


def run_split(workdir: str) -> dict:
    with open(os.path.join(workdir, "summary.json")) as f:
        return json.load(f)["seconds"]


def print_split(name: str, seconds: dict) -> None:
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if k != "total")
    print(f"{name}: {seconds['total']:.0f} s in all ({seconds['total'] / 60:.1f} min): {parts}")


def cell(cfg) -> None:
    """Trains `cfg` in a temporary run directory and prints its wall-time split."""
    from rankjax import experiment

    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        experiment.train_and_evaluate(cfg, workdir, progress=False)
        print(f"cell wall time {time.perf_counter() - start:.0f} s")
        print_split(cfg.name, run_split(workdir))


def stall(cfg, steps: int) -> None:
    """ms per train step fed by tf.data (images decoded once and kept in memory, and
    decoded per sample) and on one batch held in memory: the difference is what the
    input pipeline costs the step, waiting for it or sharing the cores with it."""
    from rankjax import input_pipeline
    from rankjax.data import splits

    mesh = sharding.make_mesh()
    trainer = training.create_training(cfg, jax.random.key(0), mesh, donate=False)
    sources = splits.build_sources(cfg)
    labeled = cfg.labeled_batch if cfg.paradigm != "rank_only" else 0
    groups = cfg.ranked_groups if cfg.paradigm in ("multitask", "rank_only") else 0

    def timed(feed) -> float:
        state, metrics = trainer.train_step(trainer.state, feed())
        jax.block_until_ready(metrics)
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = trainer.train_step(state, feed())
        jax.block_until_ready(metrics)
        return (time.perf_counter() - start) / steps * 1e3

    results = {}
    for name, budget in (("images kept in memory", None), ("decoded per sample", 0)):
        start = time.perf_counter()
        batches = input_pipeline.train_batches(sources, cfg, cfg.seed, labeled, groups,
                                               cache_bytes=budget)
        first = next(batches)
        ready = time.perf_counter() - start
        results[name] = timed(lambda: sharding.global_batch(next(batches), mesh))
        print(f"fed by tf.data, {name}: {results[name]:.1f} ms per step "
              f"(first batch after {ready:.1f} s)", flush=True)
    held = sharding.global_batch(first, mesh)
    alone = timed(lambda: held)
    print(f"one batch held in memory: {alone:.1f} ms per step; the input pipeline costs "
          + ", ".join(f"{v - alone:+.1f} ms ({k})" for k, v in results.items())
          + f" per step ({steps} steps each)")


def fusion_classes(cfg, steps: int = 5) -> list[tuple[str, float]]:
    """The preset's compiled train step under jax.profiler: (XLA op or fusion class, ms
    per step summed over the threads that ran it), largest first. Op-class timing that
    needs no hand-built parts, so it profiles any backbone (e.g. EfficientNet-Lite0)."""
    import collections
    import gzip
    import re

    mesh = sharding.make_mesh(jax.devices()[:1])
    trainer = training.create_training(cfg, jax.random.key(0), mesh)
    batch = sharding.global_batch(train_throughput_batch(cfg, np.random.default_rng(0)), mesh)
    state = trainer.state
    for _ in range(3):
        state, metrics = trainer.train_step(state, batch)
    jax.block_until_ready(metrics)
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder, create_perfetto_trace=True)
        for _ in range(steps):
            state, metrics = trainer.train_step(state, batch)
        jax.block_until_ready(metrics)
        jax.profiler.stop_trace()
        trace = sorted(glob.glob(os.path.join(folder, "**", "*.trace.json.gz"),
                                 recursive=True))[-1]
        with gzip.open(trace) as f:
            events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    totals = collections.Counter()
    for event in events:
        name = event.get("name", "")
        if event.get("ph") == "X" and "dur" in event and not name.startswith(
                ("ThunkExecutor", "$", "PjitFunction", "Common", "Slinky", "Parse", "Handle")):
            totals[re.sub(r"\.\d+$", "", name)] += event["dur"] / 1e3 / steps
    return totals.most_common()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="crowd_shb_cpu_small")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--flax_pooling", action="store_true",
                        help="also time flax's reduce-window pooling (what rankjax used before)")
    parser.add_argument("--cell", action="store_true", help="train a whole cell and split it")
    parser.add_argument("--stall", action="store_true",
                        help="time the train step fed by tf.data against a batch in memory")
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--stall_steps", type=int, default=60)
    parser.add_argument("--runs", nargs="*", default=[], help="run directories to split")
    parser.add_argument("--fusions", action="store_true",
                        help="the compiled step by XLA op and fusion class (jax.profiler); "
                             "any backbone")
    args = parser.parse_args()
    print(train_throughput.machine_line())
    if args.runs:
        for pattern in args.runs:
            for workdir in sorted(glob.glob(pattern)):
                if os.path.isfile(os.path.join(workdir, "summary.json")):
                    print_split(workdir, run_split(workdir))
        return
    cfg = config_lib.apply_overrides(presets.get_preset(args.preset).replace(
        init="scratch", weights_file=""), args.set)
    if args.data_dir:
        cfg = cfg.replace(data_dir=os.path.expanduser(args.data_dir))
    if args.cell:
        cell(cfg)
    if args.stall:
        stall(cfg, args.stall_steps)
    if args.cell or args.stall:
        return
    if cfg.task != "crowd":
        parser.error(f"--preset takes a crowd preset, got {args.preset} ({cfg.task})")
    if args.fusions or cfg.backbone != "vgg16":
        print(f"train step of {cfg.name} ({cfg.backbone}): ms per step by XLA op class, "
              f"summed over threads")
        for name, ms in fusion_classes(cfg):
            if ms >= 0.5:
                print(f"{name:38s} {ms:8.1f}")
        return
    print_step(cfg, step_classes(cfg, args.repeats, args.flax_pooling))


if __name__ == "__main__":
    main()
