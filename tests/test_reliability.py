"""Nothing lost, nothing nonsensical (docs/bad_inputs.md): run directories on any
filesystem, one run per directory, counts that are never negative, one error line for
every user error, predictions that survive a kill.

The command lines run in this process (`train.main(argv)`, `eval.main(argv)`) on one
device, except where a real second process is the point (the lock)."""

import csv
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import eval as eval_cli
import fixtures
import train as train_cli
from rankjax import api, checkpoints, cli, sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--width", "0.125", "--image_size", "32", "--labeled_batch", "2", "--ranked_groups", "1",
        "--ranked_per_group", "3", "--patch_min", "16", "--patch_max", "32", "--log_every", "2",
        "--checkpoint_every", "2", "--eval_every", "2", "--deterministic", "true", "--quiet"]


@pytest.fixture
def one_device(monkeypatch):
    mesh = sharding.make_mesh(jax.devices()[:1])
    monkeypatch.setattr(sharding, "make_mesh", lambda *a, **k: mesh)


def tiny_run(data, workdir, steps=2, *more):
    return ["--task", "crowd", "--dataset", "folder", "--data_dir", data, "--workdir", workdir,
            "--steps", str(steps), *TINY, *more]


def exits_with_one_line(capsys, run, *match):
    with pytest.raises(SystemExit) as stop:
        run()
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2, err
    assert err[-1].startswith("error: ") and "Traceback" not in "\n".join(err), err
    for text in match:
        assert text in err[-1], err[-1]
    return err[-1]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, crowd_folder):
    """A 2-step run (best checkpoint on validation at step 2)."""
    mesh = sharding.make_mesh(jax.devices()[:1])
    original = sharding.make_mesh
    sharding.make_mesh = lambda *a, **k: mesh
    try:
        workdir = str(tmp_path_factory.mktemp("runs") / "run")
        train_cli.main(tiny_run(crowd_folder, workdir))
    finally:
        sharding.make_mesh = original
    return workdir


# ------------------------------------------------------------ run directories on any filesystem

def test_a_run_on_a_url_writes_nothing_under_the_current_folder(tmp_path, crowd_folder,
                                                                one_device, monkeypatch):
    """--workdir ram://... (TensorFlow's in-memory filesystem, a URL like gs://): every run
    file goes there. Orbax writes arrays through TensorStore, which has no ram:// driver,
    so here (only) its checkpoint folders are redirected to a local folder; on gs:// orbax
    writes to the bucket itself."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    local = tmp_path / "orbax"
    make_manager = checkpoints._manager
    monkeypatch.setattr(checkpoints, "_manager", lambda directory, keep, writer=False:
                        make_manager(str(local / directory.replace("ram://", "")), keep, writer))
    workdir = "ram://bucket/run"
    train_cli.main(tiny_run(crowd_folder, workdir))
    import tensorflow as tf

    files = [f"{folder}/{name}"[len(workdir) + 1:] for folder, _, names
             in tf.io.gfile.walk(workdir) for name in names
             if tf.io.gfile.exists(f"{folder}/{name}")]
    for name in ("config.json", "metrics.jsonl", "summary.json", "training_curves.png",
                 "test/results.json", "test/predictions.csv", "test_last/results.json"):
        assert name in files, (name, files)
    assert any(name.startswith("tensorboard/events.") for name in files)
    assert any(name.startswith("validation/step_2/") and name.endswith(".png") for name in files)
    assert not any(name.startswith("run.lock") for name in files)  # released
    assert os.listdir(cwd) == []
    assert (local / "bucket" / "run" / "checkpoints" / "2").is_dir()


@pytest.mark.parametrize("workdir, reason", [
    ("nofs://bucket/run", "TensorFlow has no filesystem for nofs://"),
    ("/proc/rankjax_run", "/proc/rankjax_run"),
])
def test_an_unwritable_workdir_fails_at_start_with_one_line(tmp_path, crowd_folder, one_device,
                                                            monkeypatch, capsys, workdir, reason):
    monkeypatch.chdir(tmp_path)
    exits_with_one_line(capsys, lambda: train_cli.main(tiny_run(crowd_folder, workdir)),
                        "cannot write the run directory", reason)
    assert os.listdir(tmp_path) == []  # no local folder named "nofs:"


def test_a_workdir_under_a_file_fails_at_start_with_one_line(tmp_path, crowd_folder,
                                                             one_device, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    exits_with_one_line(capsys, lambda: train_cli.main(tiny_run(crowd_folder,
                                                                str(blocker / "run"))),
                        "cannot write the run directory", "a_file")


# ------------------------------------------------------------ one run per directory

def _train_process(tmp_path, data, workdir, steps, *more):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"),
                             *tiny_run(data, workdir, steps, *more)], cwd=tmp_path,
                            env=fixtures.child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path, process, seconds=240):
    deadline = time.time() + seconds
    while not path.is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    return path.is_file()


def test_a_second_process_on_a_busy_workdir_is_refused_and_a_dead_ones_lock_taken_over(
        tmp_path, crowd_folder):
    processes = [_train_process(tmp_path, crowd_folder, "busy", 4000)]
    try:
        first = processes[0]
        lock = tmp_path / "busy" / "run.lock"
        assert _wait_for(lock, first), "no lock file while the first run trains"
        holder = json.loads(lock.read_text())
        assert holder["pid"] == first.pid and holder["host"] and holder["started"]
        processes.append(_train_process(tmp_path, crowd_folder, "busy", 4000))
        _, err = processes[-1].communicate(timeout=240)
        assert processes[-1].returncode == 2, err[-2000:]
        assert f"in use by another run: process {first.pid}" in err.strip().splitlines()[-1]
        first.send_signal(signal.SIGKILL)  # no code runs: the lock stays behind
        first.wait()
        assert lock.is_file()
        # --overwrite: the killed run may have reached any step; the lock is what is tested
        processes.append(_train_process(tmp_path, crowd_folder, "busy", 2, "--overwrite"))
        _, err = processes[-1].communicate(timeout=240)
        assert processes[-1].returncode == 0, err[-2000:]
        assert f"taking over the lock of process {first.pid}" in err
        assert not lock.exists()  # released at the end
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_sigterm_releases_the_lock(tmp_path, crowd_folder):
    process = _train_process(tmp_path, crowd_folder, "term", 4000)
    try:
        lock = tmp_path / "term" / "run.lock"
        assert _wait_for(lock, process), "no lock file while the run trains"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
        assert process.returncode == 128 + signal.SIGTERM
        assert not lock.exists()
    finally:
        process.kill()
        process.wait()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # on purpose
def test_a_stop_swallowed_by_a_finaliser_still_stops_the_next_step():
    """Python ignores an exception raised while a __del__ runs; the request is kept."""
    from rankjax import stopping

    class Finalised:
        def __del__(self):
            stopping._stop(signal.SIGTERM, None)  # the handler, as if the signal came now

    try:
        Finalised()  # deleted at once: its SystemExit is printed and ignored
        with pytest.raises(SystemExit) as stop:
            stopping.raise_if_requested()
        assert stop.value.code == 128 + signal.SIGTERM
    finally:
        stopping._requested.clear()


# ------------------------------------------------------------ counts are never negative

@pytest.fixture
def negative_run(trained_run, tmp_path):
    """The trained run with its head's bias set to -100: every output cell is negative."""
    import shutil

    workdir = str(tmp_path / "negative")
    shutil.copytree(trained_run, workdir)
    predictor = api.load(workdir)
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: np.full_like(p, -100.0) if "head" in jax.tree_util.keystr(path)
        and "bias" in jax.tree_util.keystr(path) else p, predictor.params)
    return predictor.cfg, params


def test_no_reported_count_is_negative(negative_run, tmp_path):
    from rankjax import experiment, training
    from rankjax.data import splits

    cfg, params = negative_run
    predictor = api.Predictor(cfg, params)
    image = np.random.default_rng(0).random((64, 96, 3)).astype(np.float32)
    (result,) = predictor.predict(image)
    assert result["raw_count"] < 0 and result["count"] == 0.0
    assert (result["density"] < 0).all()  # the map as predicted; only the count is bounded
    records = splits.build_sources(cfg).test
    out = str(tmp_path / "eval")
    metrics = experiment.evaluate_split(cfg, training.build_model(cfg), params, records, out)
    with open(os.path.join(out, "predictions.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["predicted_count"]) for r in rows] == [0.0] * len(rows)
    assert all(float(r["raw_count"]) < 0 for r in rows)
    assert metrics["mae"] == pytest.approx(np.mean([r.count for r in records]))


# ------------------------------------------------------------ eval.py --images

def _own_images(folder, sizes):
    paths = []
    for i, (height, width) in enumerate(sizes):
        paths.append(fixtures.write_image(str(folder / f"img{i}.png"), height, width, seed=i))
    return paths


def test_images_predictions_are_written_as_they_go_and_a_rerun_continues(
        trained_run, tmp_path, one_device, monkeypatch):
    paths = _own_images(tmp_path / "own", [(48, 64)] * 5)
    out = str(tmp_path / "out")
    calls = []
    predict = api.Predictor.predict

    def killed_after_three(self, images):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # the process is stopped while predicting image 4
        return predict(self, images)

    monkeypatch.setattr(api.Predictor, "predict", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        eval_cli.main(["--workdir", trained_run, "--images", *paths, "--output", out])
    with open(os.path.join(out, "predictions.csv")) as f:
        assert [row["path"] for row in csv.DictReader(f)] == paths[:3]
    calls.clear()
    monkeypatch.setattr(api.Predictor, "predict", predict)
    counted = []
    monkeypatch.setattr(api.Predictor, "predict",
                        lambda self, images: counted.append(1) or predict(self, images))
    eval_cli.main(["--workdir", trained_run, "--images", *paths, "--output", out])
    assert len(counted) == 2  # images 4 and 5 only
    with open(os.path.join(out, "predictions.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [row["path"] for row in rows] == paths
    assert all(float(row["predicted_count"]) >= 0 for row in rows)


def test_a_cut_last_row_is_dropped_on_rerun(trained_run, tmp_path, one_device):
    paths = _own_images(tmp_path / "own", [(48, 64)] * 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.csv").write_text(f"path,predicted_count,raw_count\r\n{paths[0]},1.5")
    eval_cli.main(["--workdir", trained_run, "--images", *paths, "--output", str(out)])
    with open(out / "predictions.csv") as f:
        assert [row["path"] for row in csv.DictReader(f)] == paths


def test_missing_and_tiny_images_are_named_and_skipped_the_rest_predicted(
        trained_run, tmp_path, one_device, capsys, caplog):
    good = _own_images(tmp_path / "own", [(48, 64), (40, 300)])
    tiny = fixtures.write_image(str(tmp_path / "tiny.png"), 10, 10)
    missing = str(tmp_path / "not_there.jpg")
    out = str(tmp_path / "out")
    line = exits_with_one_line(
        capsys, lambda: eval_cli.main(["--workdir", trained_run, "--images", good[0], missing,
                                       tiny, good[1], "--output", out]),
        "2 of 4 files could not be predicted")
    assert "no such image or folder" in caplog.text and "not_there.jpg" in caplog.text
    assert "tiny.png: 10x10 px is smaller than one output cell" in caplog.text
    assert "img1.png: 40x300 px is a strip (aspect ratio 8 to 1)" not in caplog.text
    assert "img1.png: 40x300 px is far smaller" in caplog.text  # 40 px < 64 px: a warning
    with open(os.path.join(out, "predictions.csv")) as f:
        assert [row["path"] for row in csv.DictReader(f)] == good
    del line


def test_a_strip_gets_a_warning_naming_it(trained_run, caplog):
    predictor = api.load(trained_run)
    predictor.predict(np.zeros((64, 5000, 3), np.float32))
    assert "image 0 of 1: 64x5000 px is a strip (aspect ratio 78 to 1)" in caplog.text


def test_empty_and_tiny_arrays_get_one_clear_error(trained_run):
    predictor = api.load(trained_run)
    with pytest.raises(ValueError, match=r"the image is empty: shape \(0, 5, 3\)"):
        predictor.predict(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="image 0 of 1: 10x10 px is smaller than one output"):
        predictor.predict(np.zeros((10, 10, 3), np.uint8))


# ------------------------------------------------------------ damaged checkpoints, small sets

def test_eval_best_with_a_damaged_best_checkpoint_says_so_in_one_line(trained_run, tmp_path,
                                                                      one_device, capsys):
    import shutil

    workdir = str(tmp_path / "damaged")
    shutil.copytree(trained_run, workdir)
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(workdir, "best"))
             for f in fs]
    largest = max(files, key=os.path.getsize)
    with open(largest, "r+b") as f:
        f.truncate(os.path.getsize(largest) // 2)
    exits_with_one_line(capsys, lambda: eval_cli.main(["--workdir", workdir, "--which", "best"]),
                        "best checkpoint", "--which latest")
    eval_cli.main(["--workdir", workdir, "--which", "latest"])  # the last one still works


def test_a_labeled_set_smaller_than_the_batch_gets_a_warning(tmp_path, crowd_folder,
                                                             one_device, caplog):
    train_cli.main(tiny_run(crowd_folder, str(tmp_path / "one"), 2, "--labeled_fraction",
                            "0.01", "--labeled_batch", "4"))
    assert "only 1 labeled image(s), fewer than labeled_batch 4" in caplog.text


def test_logging_follows_a_replaced_stderr(monkeypatch):
    """`main()` twice in one process (a notebook, pytest's capture): the second run's log lines
    reach the stderr of that moment, not the closed stream of the first (seen in CI as
    "--- Logging error --- ValueError: I/O operation on closed file")."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    cli.setup_logging()
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    cli.setup_logging()
    logging.getLogger("rankjax.test").info("after the first stream closed")
    printed = second.getvalue()
    assert "Logging error" not in printed and "INFO after the first stream closed" in printed, printed
