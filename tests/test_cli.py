"""End to end through the real command lines, on tiny fixtures (subprocesses, one CPU device)."""

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--width", "0.125", "--image_size", "32", "--labeled_batch", "2", "--ranked_groups", "1",
        "--ranked_per_group", "3", "--patch_min", "16", "--patch_max", "32", "--log_every", "2",
        "--checkpoint_every", "2", "--eval_every", "4", "--deterministic", "true", "--quiet"]


def run(tmp_path, script, *args, check=True):
    out = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=tmp_path,
                         env=fixtures.child_env(), capture_output=True, text=True, timeout=300)
    if check and out.returncode:
        raise AssertionError(f"{script} {args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def printed_metrics(stdout, prefix="test metrics"):
    line = next(l for l in stdout.splitlines() if l.startswith(prefix))
    return json.loads(line.split(": ", 1)[1])


def crowd_args(data, workdir, steps=6):
    return ["--task", "crowd", "--dataset", "folder", "--data_dir", data, "--workdir", workdir,
            "--steps", str(steps), *TINY]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, crowd_folder):
    """One finished 6-step run that the tests below read (and copy before changing)."""
    tmp_path = tmp_path_factory.mktemp("runs")
    straight = run(tmp_path, "train.py", *crowd_args(crowd_folder, "straight"))
    return tmp_path, printed_metrics(straight.stdout)


def test_run_directory_contents(trained):
    tmp_path, expected = trained
    assert expected["images"] == 2
    run_dir = tmp_path / "straight"
    for name in ("config.json", "metrics.jsonl", "training_curves.png", "test/results.json",
                 "test/predictions.csv", "test_last/results.json"):
        assert (run_dir / name).is_file(), name
    assert any(p.endswith(".png") for p in os.listdir(run_dir / "test"))
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["4", "6"]
    rows = [json.loads(l) for l in open(run_dir / "metrics.jsonl")]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [2, 4, 6]
    assert [r["step"] for r in rows if r["kind"] == "validation"] == [4, 6]


def test_tensorboard_holds_the_metrics_and_pictures(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    tmp_path, _ = trained
    events = EventAccumulator(str(tmp_path / "straight" / "tensorboard"),
                              size_guidance={"tensors": 0})
    events.Reload()
    logged = [json.loads(l) for l in open(tmp_path / "straight" / "metrics.jsonl")]
    for kind, key in (("train", "loss"), ("train", "rank_loss"), ("validation", "mae")):
        expected = [(r["step"], r[key]) for r in logged if r["kind"] == kind]
        got = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
               for e in events.Tensors(f"{kind}/{key}")]
        assert [s for s, _ in got] == [s for s, _ in expected]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-6)
    pictures = [t for t in events.Tags()["tensors"] if t.startswith("validation/train")]
    assert pictures and len(events.Tensors(pictures[0])) == 2  # steps 4 and 6


def test_sigkill_then_rerun_ends_with_the_same_metrics(trained, crowd_folder):
    tmp_path, expected = trained
    args = crowd_args(crowd_folder, "killed", steps=6)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *args],
                               cwd=tmp_path, env=fixtures.child_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    checkpoint = tmp_path / "killed" / "checkpoints" / "2"
    while not checkpoint.is_dir() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.is_dir(), "the run never wrote its first checkpoint"
    killed_at = max(int(step) for step in os.listdir(tmp_path / "killed" / "checkpoints"))
    resumed = run(tmp_path, "train.py", *args)
    # It went on from its last checkpoint and trained only the steps left.
    assert f"resumed from step {killed_at} in killed" in resumed.stderr
    summary = json.load(open(tmp_path / "killed" / "summary.json"))
    assert summary["resumed_from"] == killed_at > 0 and summary["steps"] == 6
    got = printed_metrics(resumed.stdout)
    assert got["mae"] == pytest.approx(expected["mae"], rel=1e-4, abs=1e-4)
    assert got["rmse"] == pytest.approx(expected["rmse"], rel=1e-4, abs=1e-4)
    keys = [(r["kind"], r["step"]) for r in map(json.loads, open(tmp_path / "killed" /
                                                                 "metrics.jsonl"))]
    straight = [(r["kind"], r["step"]) for r in map(json.loads, open(tmp_path / "straight" /
                                                                     "metrics.jsonl"))]
    assert keys == straight  # the killed run's lines are not doubled


def test_eval_reproduces_the_run(trained):
    tmp_path, expected = trained
    evaluated = run(tmp_path, "eval.py", "--workdir", "straight")
    assert printed_metrics(evaluated.stdout)["mae"] == pytest.approx(expected["mae"], rel=1e-5)
    out = tmp_path / "straight" / "eval_test_best"
    results = json.load(open(out / "results.json"))
    assert results["config"]["dataset"] == "folder" and "jax" in results["versions"]
    with open(out / "predictions.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and float(table[1]["true_count"]) == 2.0


def test_refuses_other_config_unless_overwrite(trained, crowd_folder, monkeypatch, capsys):
    tmp_path, _ = trained
    shutil.copytree(tmp_path / "straight", tmp_path / "w")
    args = [*crowd_args(crowd_folder, "w", steps=2), "--rank_pooling", "mean"]
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "train.py", *args)
    assert code == 2
    # steps may change on resume, so it is not listed
    assert "different config (rank_pooling: 'sum' -> 'mean')" in err
    assert "--overwrite" in err
    run(tmp_path, "train.py", *args, "--overwrite")
    assert json.load(open(tmp_path / "w" / "config.json"))["rank_pooling"] == "mean"
    assert sorted(os.listdir(tmp_path / "w" / "checkpoints")) == ["2"]


# Orbax's reads of the damaged files end in coroutines that Python reports as ignored.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_damaged_or_foreign_checkpoints(trained, crowd_folder, monkeypatch, capsys):
    tmp_path, _ = trained
    shutil.copytree(tmp_path / "straight", tmp_path / "damaged")
    latest = tmp_path / "damaged" / "checkpoints" / "6"
    for path in latest.rglob("*"):
        if path.is_file() and path.parent.name == "d":  # the array data files
            path.write_bytes(path.read_bytes()[:10])
    evaluated = run(tmp_path, "eval.py", "--workdir", "damaged", "--which", "latest")
    assert "checkpoints/6 is unreadable" in evaluated.stderr
    assert "damaged/checkpoints/4" in evaluated.stdout  # the older intact one was used
    # Resuming falls back to step 4, sets step 6 aside (kept, not deleted) and trains
    # exactly as the uninterrupted run did.
    resumed = run(tmp_path, "train.py", *crowd_args(crowd_folder, "damaged", steps=6))
    assert "resumed from step 4" in resumed.stderr
    assert (tmp_path / "damaged" / "unreadable_checkpoints" / "latest_6").is_dir()
    validation = [l for l in open(tmp_path / "damaged" / "metrics.jsonl") if "validation" in l]
    assert validation == [l for l in open(tmp_path / "straight" / "metrics.jsonl")
                          if "validation" in l]
    # A run directory whose config builds another network than its checkpoints hold.
    shutil.copytree(tmp_path / "straight", tmp_path / "wider")
    config = json.load(open(tmp_path / "wider" / "config.json"))
    (tmp_path / "wider" / "config.json").write_text(json.dumps({**config, "width": 0.25}))
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                 "wider")
    assert code == 2 and "holds a different network" in err and "has shape" in err
    # A truncated meta file: one line, not a JSONDecodeError traceback.
    shutil.copytree(tmp_path / "straight", tmp_path / "meta")
    for which in ("checkpoints/4", "checkpoints/6"):
        (tmp_path / "meta" / which / "meta" / "metadata").write_text('{"ta')
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                 "meta", "--which", "latest")
    assert code == 2 and "no readable latest checkpoint" in err


def fails_in_process(tmp_path, monkeypatch, capsys, script, *args):
    """(exit code, stderr) of a command line's main() run in this process: for errors
    that come before any compilation (a subprocess costs seconds of start-up)."""
    import runpy
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script, *args])
    main = runpy.run_path(os.path.join(ROOT, script), run_name="not_main")["main"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_images_and_bad_inputs(trained, monkeypatch, capsys, caplog):
    tmp_path, _ = trained
    own = tmp_path / "mine"
    fixtures.write_image(str(own / "a.jpg"), 50, 70)
    fixtures.write_image(str(own / "b.png"), 33, 20)
    from test_big_images_and_video import write_video
    write_video(own / "v.mp4", [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(4)])
    out = run(tmp_path, "eval.py", "--workdir", "straight", "--images", str(own), "--output", "o",
              "--every_nth_frame", "2")
    assert len([l for l in out.stdout.splitlines() if "\t" in l]) == 3
    assert "v.mp4\t2 frames, count mean" in out.stdout
    assert sorted(os.listdir(tmp_path / "o")) == ["a_density.png", "b_density.png",
                                                   "predictions.csv", "v_overlay.mp4",
                                                   "v_per_frame.csv", "v_per_frame.png"]
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    for args, message in [(["--images", str(tmp_path / "empty")], "no images"),
                          (["--images", str(broken)], "cannot read image"),
                          (["--images", "missing.jpg"], "no such image")]:
        code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                     "straight", *args)
        assert code == 2 and message in err, err
    # One unreadable file among readable ones: named and skipped, the others written.
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                 "straight", "--images", str(own / "b.png"), str(broken),
                                 "--output", "partial")
    assert code == 2 and "1 of 2 files" in err
    assert "skipped: cannot read image" in caplog.text and "Unknown image file format" in caplog.text
    assert "b.png" in (tmp_path / "partial" / "predictions.csv").read_text()
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                 "nowhere")
    assert code == 2 and "run directory not found" in err
    # A crowd checkpoint offered to an IQA run is recognised before any array is read.
    iqa_dir = tmp_path / "iqa_run"
    iqa_dir.mkdir()
    config = json.load(open(tmp_path / "straight" / "config.json"))
    config.update(task="iqa", dataset="synthetic_iqa")
    (iqa_dir / "config.json").write_text(json.dumps(config))
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                 "iqa_run", "--checkpoint",
                                 str(tmp_path / "straight" / "checkpoints" / "6"))
    assert code == 2 and "is a 'crowd' model" in err


def test_to_label_ranks_unlabeled_images_least_certain_first(trained, monkeypatch, capsys):
    """eval.py --to_label: every image once, least certain first, certainties equal to the
    Python API's, whatever the file's name or place; a video or an unreadable file is
    refused by name."""
    import runpy

    from rankjax import api

    tmp_path, _ = trained
    pool = tmp_path / "pool"
    for i in range(5):
        fixtures.write_image(str(pool / f"u{i}.png"), 40 + 8 * i, 48, seed=10 + i)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["eval.py", "--workdir", "straight", "--to_label",
                                      str(pool), "--set", "certainty_pairs=6"])
    runpy.run_path(os.path.join(ROOT, "eval.py"), run_name="not_main")["main"]()
    assert "label first:" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "straight" / "to_label" / "to_label.csv")))
    assert sorted(r["image"] for r in rows) == sorted(str(p) for p in pool.iterdir())
    values = [float(r["certainty"]) for r in rows]
    assert values == sorted(values) and [r["priority"] for r in rows] == list("12345")
    predictor = api.load(str(tmp_path / "straight"), certainty_pairs=6)
    expected = predictor.certainty([r["image"] for r in rows])
    np.testing.assert_allclose(values, expected, atol=1e-4)
    # An image's certainty is its own: alone, or copied under another name, the same.
    shutil.copy(rows[-1]["image"], tmp_path / "renamed.png")
    alone = predictor.certainty([rows[0]["image"], str(tmp_path / "renamed.png")])
    np.testing.assert_allclose(alone, [values[0], values[-1]], atol=1e-4)
    from test_big_images_and_video import write_video
    write_video(pool / "v.mp4", [np.zeros((48, 64, 3), np.uint8)] * 2)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    for paths, message in (([str(pool)], "v.mp4: --to_label ranks images"),
                           ([str(tmp_path / "bad.png")], "bad.png")):
        code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                     "straight", "--to_label", *paths)
        assert code == 2 and message in err, err


def test_eval_with_the_tile_protocol(trained, monkeypatch, capsys):
    tmp_path, expected = trained
    tiled = run(tmp_path, "eval.py", "--workdir", "straight", "--set", "count_protocol=tiles")
    metrics = printed_metrics(tiled.stdout)
    assert metrics["images"] == 2 and np.isfinite(metrics["mae"])
    assert (tmp_path / "straight" / "eval_test_best_count_protocol-tiles" /
            "results.json").is_file()
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "eval.py", "--workdir",
                                 "straight", "--set", "margin=2")
    assert code == 2 and "a crowd run takes only count_protocol, certainty_pairs as evaluation" in err


def test_overwrite_deletes_a_run_that_differs_only_in_resumable_settings(tmp_path):
    """Without --overwrite a changed --steps resumes the run; with it the run starts afresh
    (the error for a run trained beyond the asked steps advises --overwrite)."""
    from rankjax import presets, rundir

    cfg = presets.get_preset("crowd_cpu_small")
    for overwrite, kept in ((False, True), (True, False)):
        workdir = str(tmp_path / f"run_{overwrite}")
        rundir.prepare(dataclasses.replace(cfg, steps=10), workdir, False)
        os.makedirs(os.path.join(workdir, "checkpoints", "10"))
        changed = rundir.prepare(dataclasses.replace(cfg, steps=2), workdir, overwrite)
        assert changed == ({"steps": (10, 2)} if kept else {})
        assert os.path.isdir(os.path.join(workdir, "checkpoints")) == kept
        assert rundir.read_config(workdir).steps == 2
