"""CPU speed-up applied when rankjax is imported, before XLA starts a backend.

XLA's default CPU convolution path trains VGG about 2-3x slower than it could on
the CPUs we measured; routing convolutions through the YNNPACK fusion with
`--xla_cpu_experimental_ynn_fusion_type=-individual_convolution` gave 1.8-3.0x
faster counting train steps on a 2-core x86 machine (`python benchmarks/cpu_flags.py`,
numbers in BENCHMARKS.md; the flag's empty value is within noise of it).

The flag only reaches XLA's CPU compiler, and it is added only when no GPU or
TPU plugin is installed (or JAX_PLATFORMS asks for cpu). Opt out with
RANKJAX_CPU_XLA_FLAGS=0; pass your own value of the flag in XLA_FLAGS and it wins.
"""

from __future__ import annotations

import datetime
import importlib.util
import logging
import os
import platform
import subprocess
import sys

CPU_XLA_FLAGS = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin", "libtpu")


def cpu_is_default_backend() -> bool:
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms.split(",")[0] == "cpu"
    return not any(importlib.util.find_spec(name) for name in _ACCELERATOR_PLUGINS)


def apply_cpu_xla_flags() -> bool:
    """Adds CPU_XLA_FLAGS to XLA_FLAGS if appropriate; returns whether it did."""
    if os.environ.get("RANKJAX_CPU_XLA_FLAGS", "1") == "0" or not cpu_is_default_backend():
        return False
    current = os.environ.get("XLA_FLAGS", "")
    if CPU_XLA_FLAGS.split("=")[0] in current:
        return False  # the user chose a value
    if "jax" in sys.modules:
        from jax._src import xla_bridge
        if xla_bridge.backends_are_initialized():
            logging.warning("rankjax was imported after JAX started its backend; the CPU flag "
                            "%s is not applied (import rankjax first)", CPU_XLA_FLAGS)
            return False
    os.environ["XLA_FLAGS"] = f"{current} {CPU_XLA_FLAGS}".strip()
    return True


def machine() -> dict:
    """The CPU model and its vector extensions (lscpu), cores, Python, and today's date:
    what a timing or a result needs beside it."""
    info = {"cores": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", "").strip()
        flags = fields.get("Flags", "").split()
        info["vector_flags"] = " ".join(f for f in flags if f.startswith(("avx", "amx", "fma")))
    except (OSError, subprocess.SubprocessError):
        info["cpu"] = platform.processor()
    return info
