"""Data parallelism over every device of every host.

One mesh axis, 'data', spans all devices. Batches are sharded on their first
axis, the train state is replicated. Each process feeds its own slice of the
global batch (`global_batch`), built with `jax.make_array_from_process_local_data`.
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from rankjax import platform

DATA_AXIS = "data"


def maybe_initialize_distributed(mode: str = "auto") -> bool:
    """Calls `jax.distributed.initialize()` for multi-host runs; returns whether it did.

    mode "on" always initialises; "auto" does so only when a cluster is visible: Cloud
    TPU pods and SLURM (which JAX detects itself), or, on any machines, the variables
    JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and
    JAX_PROCESS_ID, which are passed to JAX here. On CPU backends the cross-process
    collectives use gloo. RANKJAX_DISTRIBUTED_TIMEOUT (seconds, default 300) bounds how
    long a process waits for the others to join, and how long after a process dies the
    others notice and stop with an error instead of hanging.
    """
    if mode == "off":
        return False
    tpu_hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    cluster = ("JAX_COORDINATOR_ADDRESS" in os.environ
               or len([h for h in tpu_hosts.split(",") if h]) > 1
               or int(os.environ.get("SLURM_NTASKS", "1")) > 1
               or "MEGASCALE_COORDINATOR_ADDRESS" in os.environ)
    if mode != "on" and not cluster:
        return False
    if _cpu_backend():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    timeout = int(os.environ.get("RANKJAX_DISTRIBUTED_TIMEOUT", "300"))
    kwargs = {"initialization_timeout": timeout,
              "heartbeat_timeout_seconds": max(10, min(timeout, 100))}
    if "JAX_NUM_PROCESSES" in os.environ:
        kwargs.update(num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                      process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
    jax.distributed.initialize(**kwargs)
    logging.info("jax.distributed: process %d of %d, %d local of %d devices",
                 jax.process_index(), jax.process_count(), jax.local_device_count(),
                 jax.device_count())
    return True


def check_batch_split(labeled_batch: int, ranked_groups: int) -> None:
    """Each process must read a whole share of the global batch (ranked sets whole)."""
    count = jax.process_count()
    if count > 1 and (labeled_batch % count or ranked_groups % count):
        raise ValueError(f"labeled_batch ({labeled_batch}) and ranked_groups ({ranked_groups}) "
                         f"must be multiples of the number of processes ({count})")


def _cpu_backend() -> bool:
    return platform.cpu_is_default_backend()


def make_mesh(devices: list | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over all (or the given) devices, with Auto axes so XLA places collectives."""
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def global_batch(local_batch, mesh: jax.sharding.Mesh):
    """Turns this process's slice of the batch (a pytree of numpy arrays) into global arrays.

    Every leaf's first axis must divide evenly across this process's devices. The
    input pipeline has already made group ids globally unique.
    """
    sharding = batch_sharding(mesh)
    local_devices = len(mesh.local_devices)

    def to_global(path, leaf):
        leaf = np.asarray(leaf)
        if leaf.shape[0] % local_devices:
            name = jax.tree_util.keystr(path)
            raise ValueError(
                f"batch entry {name} has {leaf.shape[0]} rows, which do not split evenly over "
                f"{local_devices} local devices; choose batch sizes that are multiples of it")
        return jax.make_array_from_process_local_data(sharding, leaf)

    return jax.tree_util.tree_map_with_path(to_global, local_batch)
