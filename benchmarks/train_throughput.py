"""Images/s of the counting train step, rankjax vs the same step in PyTorch.

Default: the paper's network (full VGG16 width) on a regression batch. Both: VGG16
conv1_1..conv5_3 + 3x3 head, Euclidean density loss, SGD momentum 0.9 with weight decay,
batch 8. PyTorch runs channels_last with all CPU threads. GFLOP/s uses XLA's cost
analysis of the compiled rankjax step for both.

    python benchmarks/train_throughput.py [--sizes 224,112] [--batch 8] [--steps 5]

With --preset (a crowd preset, e.g. crowd_shb_cpu_small): the step the preset trains,
with its width, input size, labeled batch plus ranked groups (hinge over every valid pair
of each group, sum-pooled scores), its optimizer (Adam) and weight averaging, in both.

    python benchmarks/train_throughput.py --preset crowd_shb_cpu_small --steps 30
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rankjax  # noqa: F401,E402  (CPU flags before JAX starts)
import jax  # noqa: E402
import numpy as np  # noqa: E402

from rankjax import config as config_lib, input_pipeline, models, sharding, training  # noqa: E402


def rankjax_step(size: int, batch: int, steps: int, bf16: bool) -> tuple[float, float]:
    cfg = config_lib.get_preset("crowd_sha").replace(
        init="scratch", weights_file="", image_size=size, labeled_batch=batch, bf16=bf16)
    mesh = sharding.make_mesh(jax.devices()[:1])
    trainer = training.create_training(cfg, jax.random.key(0), mesh)
    rng = np.random.default_rng(0)
    batch_data = sharding.global_batch(input_pipeline.make_batch(cfg, labeled={
        "image": rng.random((batch, size, size, 3), np.float32),
        "target": rng.random((batch, size // 16, size // 16), np.float32)}), mesh)
    compiled = trainer.train_step.lower(trainer.state, batch_data).compile()
    flops = (compiled.cost_analysis() or {}).get("flops", float("nan"))
    state, metrics = trainer.train_step(trainer.state, batch_data)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = trainer.train_step(state, batch_data)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / steps, flops


def preset_step(cfg, steps: int) -> tuple[float, float]:
    """Seconds per step and FLOPs of the preset's own multitask train step."""
    cfg = cfg.replace(init="scratch", weights_file="")
    mesh = sharding.make_mesh(jax.devices()[:1])
    trainer = training.create_training(cfg, jax.random.key(0), mesh)
    rng = np.random.default_rng(0)
    size, side = cfg.image_size, cfg.image_size // models.OUTPUT_STRIDE
    ranked = cfg.ranked_groups * cfg.ranked_per_group
    batch_data = sharding.global_batch(input_pipeline.make_batch(cfg, labeled={
        "image": rng.random((cfg.labeled_batch, size, size, 3), np.float32),
        "target": rng.random((cfg.labeled_batch, side, side), np.float32)}, ranked={
        "image": rng.random((ranked, size, size, 3), np.float32),
        "group": np.repeat(np.arange(cfg.ranked_groups, dtype=np.int32), cfg.ranked_per_group),
        "rank": np.tile(np.arange(cfg.ranked_per_group, dtype=np.int32), cfg.ranked_groups)}),
        mesh)
    compiled = trainer.train_step.lower(trainer.state, batch_data).compile()
    flops = (compiled.cost_analysis() or {}).get("flops", float("nan"))
    state, metrics = trainer.train_step(trainer.state, batch_data)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = trainer.train_step(state, batch_data)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / steps, flops


def torch_counting_net(width: float = 1.0):
    import torch

    nn = torch.nn
    layers, channels = [], 3
    for block, n_convs, full in models.VGG16_BLOCKS:
        for _ in range(n_convs):
            out = models.scaled_channels(full, width)
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
            channels = out
        if block < 5:
            layers.append(nn.MaxPool2d(2, 2))
    layers.append(nn.Conv2d(channels, 1, 3, padding=1))
    return nn.Sequential(*layers).to(memory_format=torch.channels_last)


def torch_preset_step(cfg, steps: int) -> float | None:
    """The same step as `preset_step` in PyTorch: density loss on the labeled images, the
    hinge over every valid pair of each ranked group, Adam, weight averaging."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    net = torch_counting_net(cfg.width)
    averaged = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    size, side, k = cfg.image_size, cfg.image_size // models.OUTPUT_STRIDE, cfg.ranked_per_group
    labeled = torch.rand(cfg.labeled_batch, 3, size, size).to(memory_format=torch.channels_last)
    target = torch.rand(cfg.labeled_batch, side, side)
    ranked = torch.rand(cfg.ranked_groups * k, 3, size, size).to(
        memory_format=torch.channels_last)
    higher, lower = torch.triu_indices(k, k, 1)  # rank i above rank j within each group

    def step():
        optimizer.zero_grad(set_to_none=True)
        regression = ((net(labeled)[:, 0] - target) ** 2).sum() / (2 * cfg.labeled_batch)
        scores = net(ranked).sum(dim=(1, 2, 3)).view(cfg.ranked_groups, k)
        hinge = torch.relu(scores[:, lower] - scores[:, higher] + cfg.margin).mean()
        (regression + cfg.rank_weight * hinge).backward()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(averaged, list(net.parameters()), 1 - cfg.ema_decay)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def torch_step(size: int, batch: int, steps: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    net = torch_counting_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-6, momentum=0.9, weight_decay=5e-4)
    images = torch.rand(batch, 3, size, size).to(memory_format=torch.channels_last)
    target = torch.rand(batch, 1, size // 16, size // 16)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = ((net(images) - target) ** 2).sum() / (2 * batch)
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="224,112")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 compute (GPU/TPU)")
    parser.add_argument("--preset", default="",
                        help="a crowd preset: time its own multitask step instead")
    args = parser.parse_args()
    print(f"device={jax.devices()[0].device_kind} backend={jax.default_backend()} "
          f"cpus={os.cpu_count()} XLA_FLAGS='{os.environ.get('XLA_FLAGS', '')}' bf16={args.bf16}")
    if args.preset:
        cfg = config_lib.get_preset(args.preset)
        if cfg.task != "crowd":
            parser.error(f"--preset takes a crowd preset, got {args.preset} ({cfg.task})")
        images = cfg.labeled_batch + cfg.ranked_groups * cfg.ranked_per_group
        seconds, flops = preset_step(cfg, args.steps)
        line = (f"preset={args.preset} size={cfg.image_size} width={cfg.width} batch="
                f"{cfg.labeled_batch}+{cfg.ranked_groups}x{cfg.ranked_per_group} "
                f"optimizer={cfg.optimizer} rankjax={images / seconds:.1f} img/s "
                f"({1e3 * seconds:.1f} ms/step, {flops / seconds / 1e9:.1f} GFLOP/s)")
        torch_seconds = torch_preset_step(cfg, args.steps)
        if torch_seconds is not None:
            line += (f" torch_channels_last={images / torch_seconds:.1f} img/s "
                     f"({1e3 * torch_seconds:.1f} ms/step) "
                     f"ratio_vs_torch={torch_seconds / seconds:.2f}")
        print(line, flush=True)
        return
    for size in map(int, args.sizes.split(",")):
        seconds, flops = rankjax_step(size, args.batch, args.steps, args.bf16)
        line = (f"size={size} batch={args.batch} rankjax={args.batch / seconds:.2f} img/s "
                f"({flops / seconds / 1e9:.1f} GFLOP/s)")
        torch_seconds = torch_step(size, args.batch, args.steps)
        if torch_seconds is not None:
            line += (f" torch_channels_last={args.batch / torch_seconds:.2f} img/s "
                     f"({flops / torch_seconds / 1e9:.1f} GFLOP/s) "
                     f"ratio_vs_torch={torch_seconds / seconds:.2f}")
        else:
            line += " torch=not installed"
        print(line, flush=True)


if __name__ == "__main__":
    main()
