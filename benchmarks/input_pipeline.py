"""Input pipeline speed on ShanghaiTech B vs what the train step consumes, on this machine.

Measures images/s of labeled batches and of ranked sets separately, then of the full
training batch (both parts), and the train step's images/s for the same preset on
random tensors. feed_ratio = pipeline images/s / train step images/s (goal >= 2).
Both are measured alone; in training they share the CPU.

    python benchmarks/input_pipeline.py --data_dir ../shared/data [--preset crowd_shb]
"""

from __future__ import annotations

import argparse
import os
import time

import rankjax  # noqa: F401,E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from rankjax import input_pipeline, presets, sharding, training  # noqa: E402
from rankjax.data import splits  # noqa: E402


def pipeline_rate(sources, cfg, labeled, groups, batches) -> float:
    iterator = input_pipeline.train_batches(sources, cfg, 0, labeled, groups)
    for _ in range(3):  # warm-up: threads, autotuning, file cache
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    images = labeled + groups * cfg.ranked_per_group
    return batches * images / (time.perf_counter() - start)


def train_rate(cfg, steps) -> float:
    mesh = sharding.make_mesh(jax.devices()[:1])
    trainer = training.create_training(cfg, jax.random.key(0), mesh)
    rng = np.random.default_rng(0)
    size, k = cfg.image_size, cfg.ranked_per_group
    grid = cfg.image_size // 16
    batch = sharding.global_batch(input_pipeline.make_batch(
        cfg, labeled={"image": rng.random((cfg.labeled_batch, size, size, 3), np.float32),
                      "target": rng.random((cfg.labeled_batch, grid, grid), np.float32)},
        ranked={"image": rng.random((cfg.ranked_batch, size, size, 3), np.float32),
                "group": np.repeat(np.arange(cfg.ranked_groups), k).astype(np.int32),
                "rank": np.tile(np.arange(k), cfg.ranked_groups).astype(np.int32)}), mesh)
    state, metrics = trainer.train_step(trainer.state, batch)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = trainer.train_step(state, batch)
    jax.block_until_ready(metrics)
    return steps * (cfg.labeled_batch + cfg.ranked_batch) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default="../shared/data",
                        help="folder holding ShanghaiTech/ (with part_B/)")
    parser.add_argument("--preset", default="crowd_shb")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    cfg = presets.get_preset(args.preset).replace(
        dataset="shanghaitech_b", data_dir=os.path.join(args.data_dir, "ShanghaiTech"),
        init="scratch", weights_file="", labeled_fraction=0.5)
    start = time.perf_counter()
    sources = splits.build_sources(cfg)
    print(f"preset={args.preset} input={cfg.image_size}px width={cfg.width} "
          f"batch={cfg.labeled_batch}+{cfg.ranked_groups}x{cfg.ranked_per_group} "
          f"cpus={os.cpu_count()} (read {len(sources.labeled) + len(sources.unlabeled)} "
          f"training images in {time.perf_counter() - start:.1f}s)")
    labeled = pipeline_rate(sources, cfg, cfg.labeled_batch, 0, args.batches)
    ranked = pipeline_rate(sources, cfg, 0, cfg.ranked_groups, args.batches)
    both = pipeline_rate(sources, cfg, cfg.labeled_batch, cfg.ranked_groups, args.batches)
    step = train_rate(cfg, args.steps)
    print(f"labeled={labeled:.1f} img/s ranked={ranked:.1f} img/s batch={both:.1f} img/s "
          f"train_step={step:.1f} img/s feed_ratio={both / step:.2f}")


if __name__ == "__main__":
    main()
