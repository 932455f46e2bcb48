"""Times the counting train step on CPU under candidate XLA CPU flags.

XLA reads its flags when the backend starts, so every setting runs in a fresh
subprocess. rankjax.platform.CPU_XLA_FLAGS holds the winner; this script is how
it was chosen and how to re-check it on another CPU:

    python benchmarks/cpu_flags.py [--size 112] [--batch 8] [--steps 5]

With --preset NAME (a crowd preset) each setting times that preset's own multitask step
(benchmarks/train_throughput.py --preset) instead, and a few more candidates run:

    python benchmarks/cpu_flags.py --preset crowd_shb_cpu_small --steps 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CANDIDATES = {
    "xla_default": "",
    "ynn_fusion_empty": "--xla_cpu_experimental_ynn_fusion_type=",
    "ynn_minus_individual_conv": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
}
# Tried on the CPU presets' small step as well (--preset).
MORE_CANDIDATES = {
    "onednn": "--xla_cpu_use_onednn=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "ynn_vector_width_512": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution "
                            "--xla_cpu_prefer_vector_width=512",
}

CHILD = r"""
import json, sys, time
import jax, jax.numpy as jnp
from rankjax import input_pipeline, presets, training
size, batch, steps = map(int, sys.argv[1:4])
cfg = presets.get_preset("crowd_cpu_small").replace(
    image_size=size, width=1.0, labeled_batch=batch, ranked_groups=0)
trainer = training.create_training(cfg, jax.random.key(0))
state, step_fn = trainer.state, trainer.train_step
images = jax.random.uniform(jax.random.key(1), (batch, size, size, 3))
density = jnp.zeros((batch, size // 16, size // 16))
b = input_pipeline.make_batch(cfg, labeled={"image": images, "target": density})
state, m = step_fn(state, b); jax.block_until_ready(m)
t = time.perf_counter()
for _ in range(steps):
    state, m = step_fn(state, b)
jax.block_until_ready(m)
print(json.dumps({"seconds_per_step": (time.perf_counter() - t) / steps}))
"""

PRESET_CHILD = r"""
import json, sys
import train_throughput
from rankjax import presets
seconds, _ = train_throughput.preset_step(presets.get_preset(sys.argv[1]), int(sys.argv[2]))
print(json.dumps({"seconds_per_step": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--preset", default="", help="time this crowd preset's own step")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = {**CANDIDATES, **(MORE_CANDIDATES if args.preset else {})}
    if args.preset:
        child = [PRESET_CHILD, args.preset, str(args.steps)]
        shape = f"preset={args.preset}"
    else:
        child = [CHILD, str(args.size), str(args.batch), str(args.steps)]
        shape = f"size={args.size} batch={args.batch}"
    results = {}
    for name, flag in candidates.items():
        env = dict(os.environ, XLA_FLAGS=flag, RANKJAX_CPU_XLA_FLAGS="0", JAX_PLATFORMS="cpu",
                   PYTHONPATH=os.pathsep.join([root, os.path.join(root, "benchmarks")]))
        out = subprocess.run([sys.executable, "-c", *child], env=env, capture_output=True,
                             text=True)
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])["seconds_per_step"]
    base = results.get("xla_default")
    for name, seconds in results.items():
        speedup = f" speedup_vs_default={base / seconds:.2f}" if base else ""
        print(f"{name:28s} {shape} step={seconds * 1e3:8.1f} ms{speedup}  "
              f"XLA_FLAGS='{candidates[name]}'")


if __name__ == "__main__":
    main()
