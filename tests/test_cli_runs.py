"""End to end through the real command lines, continued: the runs that need a training of
their own (divergence, IQA, a moved weights file), in a file of their own so that the test
workers share the command-line tests evenly."""

import json
import os

import numpy as np
import pytest

import fixtures
from test_cli import TINY, crowd_args, fails_in_process, printed_metrics, run


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_divergence_saves_no_broken_state_and_resumes_with_a_lower_rate(tmp_path,
                                                                        crowd_folder):
    args = [*crowd_args(crowd_folder, "nan", steps=4), "--checkpoint_every", "1"]
    # Step 1 at a sane rate, then the rate jumps: the first update at 1e30 leaves
    # finite weights whose loss is not finite; they must never reach a checkpoint.
    run(tmp_path, "train.py", *[a if a != "4" else "1" for a in args])
    out = run(tmp_path, "train.py", *args, "--learning_rate", "1e30", check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "stopped" in out.stderr and "last good checkpoint (step 1)" in out.stderr
    assert sorted(os.listdir(tmp_path / "nan" / "checkpoints")) == ["1"]
    resumed = run(tmp_path, "train.py", *args, "--learning_rate", "1e-3")
    assert "resumed from step 1" in resumed.stderr
    assert "learning_rate 1e+30 -> 0.001" in resumed.stderr
    assert np.isfinite(printed_metrics(resumed.stdout)["mae"])
    rows = [json.loads(l) for l in open(tmp_path / "nan" / "metrics.jsonl")]
    assert {"kind": "config_change", "step": 1,
            "changes": {"learning_rate": [1e30, 1e-3]}} in rows


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_iqa_train_and_score_own_images(tmp_path):
    out = run(tmp_path, "train.py", "--task", "iqa", "--workdir", "q", "--steps", "2", *TINY,
              "--image_size", "32", "--test_crops", "2", "--distortions", "jpeg,gaussian_noise")
    metrics = printed_metrics(out.stdout)
    assert set(metrics) == {"lcc", "srocc", "images"} and metrics["images"] > 0
    fixtures.write_image(str(tmp_path / "p.png"), 20, 24)  # smaller than the input: resized
    scored = run(tmp_path, "eval.py", "--workdir", "q", "--images", str(tmp_path / "p.png"))
    assert "p.png\t" in scored.stdout
    # Per distortion type: the two it was trained on and the paper's other two.
    measured = run(tmp_path, os.path.join("benchmarks", "distortion_accuracy.py"),
                   "--workdir", "q", "--images", "3")
    saved = json.load(open(tmp_path / "q" / "distortion_accuracy.json"))
    assert list(saved["types"]) == ["jpeg", "gaussian_noise", "gaussian_blur", "jpeg2000"]
    assert all(0 <= t["pair_accuracy"] <= 1 for t in saved["types"].values())
    assert "gaussian_blur" in measured.stdout and "(not trained on)" in measured.stdout


def keras_layout_h5(path, params):
    """A VGG16 weight file in Keras's 2016 layout holding `params`' trunk (any width)."""
    import h5py

    from rankjax import pretrained

    trunk = params["params"]["trunk"]
    with h5py.File(path, "w") as f:
        names = [k for k, v in pretrained.KERAS_TO_RANKJAX.items() if v in trunk]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for keras_name in names:
            layer = trunk[pretrained.KERAS_TO_RANKJAX[keras_name]]
            group = f.create_group(keras_name)
            group.create_dataset(f"{keras_name}_W_1:0", data=np.asarray(layer["kernel"]))
            group.create_dataset(f"{keras_name}_b_1:0", data=np.asarray(layer["bias"]))
            group.attrs["weight_names"] = np.array([f"{keras_name}_W_1:0".encode(),
                                                    f"{keras_name}_b_1:0".encode()])


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_resume_and_eval_do_not_need_the_moved_weights_file(tmp_path, crowd_folder, monkeypatch,
                                                            capsys):
    import jax
    import jax.numpy as jnp

    from rankjax import models

    model = models.CountingNet(width=0.125)
    keras_layout_h5(str(tmp_path / "vgg.h5"), model.init(jax.random.key(7),
                                                         jnp.zeros((1, 32, 32, 3))))
    args = [*crowd_args(crowd_folder, "pre"), "--init", "imagenet", "--weights_file",
            str(tmp_path / "vgg.h5")]
    run(tmp_path, "train.py", *[a if a != "6" else "2" for a in args])  # 2 steps, imports
    os.rename(tmp_path / "vgg.h5", tmp_path / "moved.h5")
    resumed = run(tmp_path, "train.py", *args)  # to step 6, without the file
    assert "resumed from step 2" in resumed.stderr
    assert printed_metrics(resumed.stdout)["images"] == 2
    run(tmp_path, "eval.py", "--workdir", "pre", "--which", "best")
    code, err = fails_in_process(tmp_path, monkeypatch, capsys, "train.py", *args[:-1],
                                 str(tmp_path / "gone.h5"), "--workdir", "fresh")
    assert code != 0 and "gone.h5" in err  # a fresh start needs it
