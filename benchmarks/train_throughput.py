"""Images/s of the counting train step, rankjax vs the same step in PyTorch.

Default: the paper's network (full VGG16 width) on a regression batch. Both: VGG16
conv1_1..conv5_3 + 3x3 head, Euclidean density loss, SGD momentum 0.9 with weight decay,
batch 8. PyTorch runs channels_last, with all CPU threads, or on the GPU when JAX runs on
one (TF32 allowed in both, as XLA does by default; --bf16: bfloat16 compute in both,
autocast in PyTorch). GFLOP/s: XLA's cost analysis of the compiled rankjax step on CPU,
the convolutions' FLOPs counted by hand on a GPU (`analytic_flops`), for both.

    python benchmarks/train_throughput.py [--sizes 224,112] [--batch 8] [--steps 5]

With --preset (a crowd preset, e.g. crowd_shb_cpu_small): the step the preset trains,
with its width, input size, labeled batch plus ranked groups (hinge over every valid pair
of each group, sum-pooled scores), its optimizer and weight averaging, in both.

    python benchmarks/train_throughput.py --preset crowd_shb_cpu_small --steps 30
    python benchmarks/train_throughput.py --preset crowd_shb_cpu --steps 20   # Lite0
    python benchmarks/train_throughput.py --preset crowd_shb --bf16 --steps 20   # a GPU

It feeds random arrays, not tf.data, so it also runs where JAX is installed without
TensorFlow (TensorFlow is then stubbed at import). Where rankjax is not installed
(`pip install -r requirements.txt` installs it), run it as
`PYTHONPATH=. python benchmarks/train_throughput.py` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import no_tensorflow  # noqa: E402

no_tensorflow.stub_if_missing()  # a JAX-only GPU image: this benchmark uses no tf.data
import rankjax  # noqa: F401,E402  (CPU flags before JAX starts)
import jax  # noqa: E402
import numpy as np  # noqa: E402

from rankjax import input_pipeline, models, presets, sharding, training  # noqa: E402


def machine_line() -> str:
    """The machine and software a timing was measured with: CPU model and vector flags
    (lscpu), cores, JAX and PyTorch versions, XLA_FLAGS."""
    from rankjax import platform

    info = platform.machine()
    torch, _ = _torch()
    return (f"machine: {info.get('cpu')}, {info['cores']} cores ({info.get('vector_flags')}); "
            f"device={jax.devices()[0].device_kind} backend={jax.default_backend()} "
            f"jax={jax.__version__}{' torch=' + torch.__version__ if torch else ''} "
            f"XLA_FLAGS='{os.environ.get('XLA_FLAGS', '')}' date={info['date']}")


def analytic_flops(width: float, size: int, images: int) -> float:
    """FLOPs of a training step by hand: 2 * 9 * Cin * Cout per output pixel of every 3x3
    convolution (VGG16 conv1_1..conv5_3 and the head), forward, times 3 for forward plus
    backward. XLA's cost analysis counts the same on CPU; on a GPU it leaves out the
    convolutions it hands to cuDNN, so GPU lines use this count."""
    forward, channels, side = 0, 3, size
    for block, n_convs, full in models.VGG16_BLOCKS:
        for _ in range(n_convs):
            out = models.scaled_channels(full, width)
            forward += 2 * 9 * channels * out * side * side
            channels = out
        if block < 5:
            side //= 2
    forward += 2 * 9 * channels * 1 * side * side
    return 3.0 * forward * images


def _flops(compiled, width: float, size: int, images: int) -> float:
    if jax.default_backend() == "cpu":
        return (compiled.cost_analysis() or {}).get("flops", float("nan"))
    return analytic_flops(width, size, images)


def _seconds_per_step(trainer, batch_data, steps: int) -> float:
    """Mean seconds of `steps` train steps after one warm-up step (compiled already).
    The step donates its state: the trainer holds the newest one, for the next call."""
    state, metrics = trainer.train_step(trainer.state, batch_data)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = trainer.train_step(state, batch_data)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - start) / steps
    if isinstance(trainer, Held):
        trainer.holder[0] = state
    return seconds


def rankjax_step(size: int, batch: int, steps: int, bf16: bool) -> tuple[float, float]:
    cfg = presets.get_preset("crowd_sha").replace(
        init="scratch", weights_file="", image_size=size, labeled_batch=batch, bf16=bf16)
    mesh = sharding.make_mesh(jax.devices()[:1])
    trainer = training.create_training(cfg, jax.random.key(0), mesh)
    rng = np.random.default_rng(0)
    batch_data = sharding.global_batch(input_pipeline.make_batch(cfg, labeled={
        "image": rng.random((batch, size, size, 3), np.float32),
        "target": rng.random((batch, size // 16, size // 16), np.float32)}), mesh)
    compiled = trainer.train_step.lower(trainer.state, batch_data).compile()
    flops = _flops(compiled, cfg.width, size, batch)
    return _seconds_per_step(trainer, batch_data, steps), flops


def preset_step(cfg, steps: int) -> tuple[float, float]:
    """Seconds per step and FLOPs of the preset's own multitask train step."""
    timer, flops = preset_timer(cfg)
    return timer(steps), flops


def preset_timer(cfg):
    """(steps -> mean seconds per step of the preset's own multitask train step, its
    FLOPs), compiled once, so that rounds can alternate with PyTorch's."""
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
    flops = _flops(compiled, cfg.width, size, cfg.labeled_batch + ranked)
    held = Held(trainer, [trainer.state])
    return (lambda steps: _seconds_per_step(held, batch_data, steps)), flops


class Held:
    """A trainer whose state is replaced by the newest after each timing."""

    def __init__(self, trainer, holder):
        self.train_step, self.holder = trainer.train_step, holder

    @property
    def state(self):
        return self.holder[0]


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


def torch_lite_counting_net(cfg):
    """EfficientNet-Lite (cfg.backbone) cut at output stride 16 plus the 3x3 head, in
    PyTorch channels_last: BatchNorm frozen (eval mode) or trained as the config says,
    and the stem and the first cfg.frozen_blocks blocks run without gradients, as
    rankjax's step does. PyTorch's own symmetric padding (its fastest path; the same
    work as TensorFlow's SAME padding)."""
    import torch
    from rankjax.backbones import efficientnet_lite

    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, block):
            super().__init__()
            hidden = block.inputs * block.expansion
            layers = []
            if block.expansion != 1:
                layers += [nn.Conv2d(block.inputs, hidden, 1, bias=False),
                           nn.BatchNorm2d(hidden, eps=1e-3), nn.ReLU6()]
            layers += [nn.Conv2d(hidden, hidden, block.kernel, block.stride, block.kernel // 2,
                                 groups=hidden, bias=False),
                       nn.BatchNorm2d(hidden, eps=1e-3), nn.ReLU6(),
                       nn.Conv2d(hidden, block.outputs, 1, bias=False),
                       nn.BatchNorm2d(block.outputs, eps=1e-3)]
            self.layers, self.residual = nn.Sequential(*layers), block.residual

        def forward(self, x):
            return x + self.layers(x) if self.residual else self.layers(x)

    blocks = efficientnet_lite.blocks(cfg.backbone)
    cut = efficientnet_lite.blocks_to_stride(cfg.backbone, models.OUTPUT_STRIDE)
    stem = [nn.Conv2d(3, efficientnet_lite.STEM_CHANNELS, 3, 2, 1, bias=False),
            nn.BatchNorm2d(efficientnet_lite.STEM_CHANNELS, eps=1e-3), nn.ReLU6()]
    modules = stem + [Block(b) for b in blocks[:cut]]
    frozen = nn.Sequential(*modules[:3 + cfg.frozen_blocks]) if cfg.frozen_blocks else None
    trained = nn.Sequential(*modules[3 + cfg.frozen_blocks if cfg.frozen_blocks else 0:],
                            nn.Conv2d(blocks[cut - 1].outputs, 1, 3, padding=1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen, self.trained = frozen, trained
            if frozen is not None:
                frozen.requires_grad_(False)

        def train(self, mode=True):
            super().train(mode)
            if cfg.batchnorm == "frozen":
                for module in self.modules():
                    if isinstance(module, nn.BatchNorm2d):
                        module.eval()
            if self.frozen is not None:
                self.frozen.eval()
            return self

        def forward(self, x):
            if self.frozen is not None:
                with torch.no_grad():
                    x = self.frozen(x)
            return self.trained(x)

    return Net().train().to(memory_format=torch.channels_last)


def _torch():
    """torch and the device the comparison runs on: the GPU when JAX runs on one, else
    the CPU with all its threads; None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None, None
    if jax.default_backend() == "gpu" and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        # XLA's default precision runs float32 convolutions in TF32 on this GPU: the same.
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        return torch, torch.device("cuda")
    torch.set_num_threads(os.cpu_count())
    return torch, torch.device("cpu")


def _time_torch(torch, device, step, steps: int, bf16: bool) -> float:
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    with autocast:
        step()
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with autocast:
        for _ in range(steps):
            step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def torch_preset_step(cfg, steps: int) -> float | None:
    timer = torch_preset_timer(cfg)
    return None if timer is None else timer(steps)


def torch_preset_timer(cfg):
    """The same step as `preset_step` in PyTorch: density loss on the labeled images, the
    hinge over every valid pair of each ranked group, the preset's optimizer (Adam, or SGD
    with momentum and weight decay) and weight averaging when the preset averages."""
    torch, device = _torch()
    if torch is None:
        return None
    net = (torch_counting_net(cfg.width) if cfg.backbone == "vgg16"
           else torch_lite_counting_net(cfg)).to(device)
    averaged = [p.detach().clone() for p in net.parameters()]
    trained = [p for p in net.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        optimizer = torch.optim.Adam(trained, lr=cfg.learning_rate,
                                     weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(trained, lr=cfg.learning_rate,
                                    momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    size, side, k = cfg.image_size, cfg.image_size // models.OUTPUT_STRIDE, cfg.ranked_per_group

    def images(n):
        return torch.rand(n, 3, size, size, device=device).to(
            memory_format=torch.channels_last)

    labeled, ranked = images(cfg.labeled_batch), images(cfg.ranked_groups * k)
    target = torch.rand(cfg.labeled_batch, side, side, device=device)
    higher, lower = torch.triu_indices(k, k, 1, device=device)  # rank i above rank j

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = 0.0
        if cfg.labeled_batch:
            loss = ((net(labeled)[:, 0].float() - target) ** 2).sum() / (2 * cfg.labeled_batch)
        if cfg.ranked_groups:
            scores = net(ranked).float().sum(dim=(1, 2, 3)).view(cfg.ranked_groups, k)
            hinge = torch.relu(scores[:, lower] - scores[:, higher] + cfg.margin).mean()
            loss = loss + cfg.rank_weight * hinge
        loss.backward()
        optimizer.step()
        if cfg.ema_decay:
            with torch.no_grad():
                torch._foreach_lerp_(averaged, list(net.parameters()), 1 - cfg.ema_decay)
    net.train()

    return lambda steps: _time_torch(torch, device, step, steps, cfg.bf16)


def torch_step(size: int, batch: int, steps: int, bf16: bool = False) -> float | None:
    torch, device = _torch()
    if torch is None:
        return None
    net = torch_counting_net().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-6, momentum=0.9, weight_decay=5e-4)
    images = torch.rand(batch, 3, size, size, device=device).to(
        memory_format=torch.channels_last)
    target = torch.rand(batch, 1, size // 16, size // 16, device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = ((net(images).float() - target) ** 2).sum() / (2 * batch)
        loss.backward()
        optimizer.step()

    return _time_torch(torch, device, step, steps, bf16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="224,112")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 compute (GPU/TPU)")
    parser.add_argument("--preset", default="",
                        help="a crowd preset: time its own multitask step instead")
    parser.add_argument("--rounds", type=int, default=3,
                        help="--preset: alternating rounds of --steps steps per framework")
    args = parser.parse_args()
    torch, torch_device = _torch()
    print(f"{machine_line()} bf16={args.bf16} torch_device={torch_device}")
    if args.preset:
        cfg = presets.get_preset(args.preset).replace(bf16=args.bf16)
        if cfg.task != "crowd":
            parser.error(f"--preset takes a crowd preset, got {args.preset} ({cfg.task})")
        images = cfg.labeled_batch + cfg.ranked_groups * cfg.ranked_per_group
        timer, flops = preset_timer(cfg)
        torch_timer = torch_preset_timer(cfg)
        # Rounds alternate the two frameworks, so a busy moment of the machine falls on
        # both; the medians are reported.
        rounds = [(timer(args.steps), torch_timer(args.steps) if torch_timer else None)
                  for _ in range(args.rounds)]
        seconds = statistics.median(r[0] for r in rounds)
        line = (f"preset={args.preset} backbone={cfg.backbone} size={cfg.image_size} "
                f"width={cfg.width} frozen_blocks={cfg.frozen_blocks} batch="
                f"{cfg.labeled_batch}+{cfg.ranked_groups}x{cfg.ranked_per_group} "
                f"optimizer={cfg.optimizer} rankjax={images / seconds:.1f} img/s "
                f"({1e3 * seconds:.1f} ms/step, {flops / seconds / 1e9:.1f} GFLOP/s)")
        if torch_timer is not None:
            torch_seconds = statistics.median(r[1] for r in rounds)
            ratios = ", ".join(f"{t / r:.2f}" for r, t in rounds)
            line += (f" torch_channels_last={images / torch_seconds:.1f} img/s "
                     f"({1e3 * torch_seconds:.1f} ms/step) "
                     f"ratio_vs_torch={torch_seconds / seconds:.2f} (rounds: {ratios})")
        print(line, flush=True)
        return
    for size in map(int, args.sizes.split(",")):
        seconds, flops = rankjax_step(size, args.batch, args.steps, args.bf16)
        line = (f"size={size} batch={args.batch} rankjax={args.batch / seconds:.2f} img/s "
                f"({flops / seconds / 1e9:.1f} GFLOP/s)")
        torch_seconds = torch_step(size, args.batch, args.steps, args.bf16)
        if torch_seconds is not None:
            line += (f" torch_channels_last={args.batch / torch_seconds:.2f} img/s "
                     f"({flops / torch_seconds / 1e9:.1f} GFLOP/s) "
                     f"ratio_vs_torch={torch_seconds / seconds:.2f}")
        else:
            line += " torch=not installed"
        print(line, flush=True)


if __name__ == "__main__":
    main()
