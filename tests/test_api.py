"""The Python API and the new-task recipe, as the README shows them, executed for real."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--width", "0.125", "--image_size", "32", "--labeled_batch", "2", "--ranked_groups", "1",
        "--ranked_per_group", "3", "--patch_min", "16", "--patch_max", "32", "--log_every", "2",
        "--checkpoint_every", "2", "--eval_every", "2", "--deterministic", "true", "--quiet"]


def readme_block(heading, document="README.md"):
    """The first ```python block after `heading` in README.md (or another document)."""
    text = open(os.path.join(ROOT, document)).read()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def crowd_run(tmp_path_factory):
    """runs/crowd_cpu_small, as the README's Python example expects, trained 4 tiny steps."""
    tmp_path = tmp_path_factory.mktemp("api")
    data = tmp_path / "data"
    for split, n in (("train", 6), ("test", 2)):
        for i in range(n):
            fixtures.write_image(str(data / split / f"{split}{i}.png"), 40, 48, seed=i)
            np.savetxt(data / split / f"{split}{i}.txt", fixtures.random_points(i + 1, 40, 48, i))
    subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--dataset", "folder",
                    "--data_dir", str(data), "--steps", "4", *TINY], cwd=tmp_path, check=True,
                   env=fixtures.child_env(), capture_output=True)
    return tmp_path


def test_readme_python_api_runs(crowd_run, monkeypatch, capsys):
    monkeypatch.chdir(crowd_run)
    exec(readme_block("**5. From Python:**"), {})
    assert re.search(r"people, density map \(15, 20\)", capsys.readouterr().out)


def test_predict_takes_paths_pil_and_arrays_alike(crowd_run):
    import rankjax

    predictor = rankjax.load(str(crowd_run / "runs" / "crowd_cpu_small"), which="best")
    path = str(crowd_run / "data" / "test" / "test1.png")
    array = np.asarray(Image.open(path).convert("RGB"))
    by_path, by_pil, by_uint8, by_float = predictor.predict(
        [path, Image.open(path), array, array / 255.0])
    for other in (by_pil, by_uint8, by_float):
        assert other["count"] == pytest.approx(by_path["count"], rel=1e-5)
    # The same count as the test split's evaluation of that image.
    with open(crowd_run / "runs" / "crowd_cpu_small" / "test" / "predictions.csv") as f:
        rows = {line.split(",")[0]: line.split(",") for line in f}
    assert predictor.predict(path)[0]["count"] == pytest.approx(float(rows["test1.png"][2]),
                                                                abs=1e-3)  # test/ is best
    # A checkpoint folder works as well as the run directory.
    latest = rankjax.load(str(crowd_run / "runs" / "crowd_cpu_small"), which="latest")
    folder = rankjax.load(str(crowd_run / "runs" / "crowd_cpu_small" / "checkpoints" / "4"))
    assert folder.predict(path)[0]["count"] == latest.predict(path)[0]["count"]
    whole = rankjax.load(str(crowd_run / "runs" / "crowd_cpu_small"), count_protocol="whole")
    assert whole.cfg.count_protocol == "whole" and predictor.cfg.count_protocol == "tiles"
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        predictor.predict(array.astype(np.float32))  # 0..255 floats are refused


def test_readme_new_task_recipe_runs(tmp_path):
    """The recipe runs from a folder outside the repository (rankjax is installed by
    requirements.txt), and leaves nothing in the folder it runs from."""
    (tmp_path / "recipe.py").write_text(readme_block("# A new task", "docs/extending.md"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = subprocess.run([sys.executable, "recipe.py"], cwd=tmp_path, capture_output=True,
                         text=True, env=fixtures.child_env(TMPDIR=str(scratch)), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "'images': 4" in out.stdout and "'srocc'" in out.stdout
    assert sorted(os.listdir(tmp_path)) == ["recipe.py", "scratch"]
    (made,) = os.listdir(scratch)
    assert (scratch / made / "run" / "test" / "predictions.csv").is_file()


def test_rankjax_imports_from_any_folder(tmp_path):
    """requirements.txt installs the package (pyproject.toml): the README's Python API works
    outside the repository, with nothing added to PYTHONPATH."""
    env = {k: v for k, v in fixtures.child_env().items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", "import rankjax; print(rankjax.__file__)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(os.path.join("rankjax", "__init__.py"))


def test_zoom_example_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "zoom_level.py"),
                          "--workdir", str(tmp_path / "zoom"), "--steps", "4", "--labeled", "4",
                          "--unlabeled", "8", "--test", "4"], cwd=tmp_path,
                         env=fixtures.child_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for paradigm in ("baseline", "multitask"):
        assert (tmp_path / "zoom" / paradigm / "test" / "results.json").is_file()
    assert '"training_mean"' in out.stdout
    metrics = (tmp_path / "zoom" / "multitask" / "metrics.jsonl").read_text()
    assert '"pairs": 24.0' in metrics  # 4 ranked sets of 4 images: 4 x 6 ordered pairs
