"""Multi-host for real: train.py in 2 processes of 2 CPU devices each, joined by
jax.distributed (gloo collectives), against 1 process of 4 devices.

Skipped where a local TCP port cannot be opened. Each process gets the environment a
cluster launcher would give: JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 4 labeled images and 2 ranked sets of 4 per global step: each process reads half.
ARGS = ["--width", "0.125", "--image_size", "32", "--labeled_batch", "4", "--ranked_groups",
        "2", "--ranked_per_group", "4", "--patch_min", "16", "--patch_max", "32",
        "--log_every", "2", "--checkpoint_every", "2", "--eval_every", "4",
        "--deterministic", "true", "--quiet", "--steps", "8"]


def free_port():
    try:
        with socket.socket() as s:
            s.bind(("localhost", 0))
            return s.getsockname()[1]
    except OSError as error:
        pytest.skip(f"cannot open a local TCP port for the coordinator: {error}")


def launch(tmp_path, workdir, processes, devices, port=None, out="out"):
    procs = []
    for index in range(processes):
        env = fixtures.child_env(devices)
        if processes > 1:
            env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                       JAX_NUM_PROCESSES=str(processes), JAX_PROCESS_ID=str(index),
                       RANKJAX_DISTRIBUTED_TIMEOUT="10")
        log = open(tmp_path / f"{out}{index}.log", "w")
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *ARGS,
                                       "--workdir", workdir], cwd=tmp_path, env=env,
                                      stdout=log, stderr=subprocess.STDOUT))
    return procs


def finish(procs, timeout=400):
    deadline = time.time() + timeout
    for proc in procs:
        proc.wait(max(1, deadline - time.time()))
    return [proc.returncode for proc in procs]


def rows(path):
    return [json.loads(line) for line in open(path)]


def final_params(run):
    from rankjax import restore, rundir
    params, _ = restore.restore_params(rundir.read_config(str(run)), str(run), "latest")
    return params


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_two_processes_train_exactly_as_one_even_after_a_kill(tmp_path):
    """2 x 2 devices, process 1 SIGKILLed after the step-4 checkpoint: process 0 stops
    (no hang); the same command rerun on both resumes, and the run ends as one process
    of 4 devices does: losses, pair counts, validation and test metrics, weights."""
    # The synthetic data is made once, then the reference (1 process of 4 devices) runs
    # beside the two processes (they wait on each other often: this saves wall time).
    from rankjax import synthetic
    synthetic.crowd_folder()  # in conftest's RANKJAX_CACHE
    reference = launch(tmp_path, "one", 1, 4, out="one")
    one_process = tmp_path / "one"
    procs = launch(tmp_path, "run", 2, 2, free_port())
    mark = tmp_path / "run" / "checkpoints" / "4"
    deadline = time.time() + 300
    while not mark.is_dir() and time.time() < deadline and procs[1].poll() is None:
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    start = time.time()
    codes = finish(procs, timeout=120)
    log = (tmp_path / "out0.log").read_text()
    assert codes[0] != 0 and time.time() - start < 120, log[-3000:]  # stopped, no hang
    assert ("another process of this run has most likely stopped" in log
            or "another task died" in log), log[-3000:]

    codes = finish(launch(tmp_path, "run", 2, 2, free_port(), out="again"))
    assert finish(reference) == [0], (tmp_path / "one0.log").read_text()[-3000:]
    logs = [(tmp_path / f"again{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "resumed from step" in logs[0]
    # Each process read only its rows of every global batch.
    assert "process 0 of 2 reads rows [0, 2) of every 4 labeled images and ranked sets " \
           "[0, 1) of every 2" in logs[0]
    assert "process 1 of 2 reads rows [2, 4) of every 4 labeled images and ranked sets " \
           "[1, 2) of every 2" in logs[1]
    one, two = rows(one_process / "metrics.jsonl"), rows(tmp_path / "run" / "metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in two] == [(r["kind"], r["step"]) for r in one]
    for a, b in zip(one, two):  # losses, pair counts, validation metrics
        for key in ("loss", "rank_loss", "regression_loss", "pairs", "mae"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (key, a, b)
    assert all(r["pairs"] == 12 for r in two if r["kind"] == "train")  # 2 sets x 6 pairs
    import jax
    flat_one = jax.tree.leaves(final_params(one_process))
    flat_two = jax.tree.leaves(final_params(tmp_path / "run"))
    assert max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(flat_one, flat_two)) < 1e-5
    results = json.load(open(tmp_path / "run" / "test" / "results.json"))
    test_one = json.load(open(one_process / "test" / "results.json"))["metrics"]
    assert results["metrics"]["mae"] == pytest.approx(test_one["mae"], rel=1e-5)
    assert results["metrics"]["images"] == 30 and results["process_count"] == 2
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["6", "8"]
