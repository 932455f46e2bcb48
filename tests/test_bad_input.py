"""Bad input gives a correct result or one clear line naming the file and the problem.

The cases of docs/bad_inputs.md: annotation layouts and values, image formats, dataset
layouts and command-line options (the options through the real train.py).
"""

import os
import runpy
import sys

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

import fixtures
from rankjax import image_io
from rankjax.data import readers, splits
from rankjax.data.records import DatasetError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------- annotations

def test_transposed_mat_points_are_read_as_columns(tmp_path, caplog):
    points = fixtures.random_points(29, 48, 64, 0)
    path = str(tmp_path / "a.mat")
    scipy.io.savemat(path, {"annPoints": points.T})  # 2 x 29, MATLAB's other habit
    read = readers.read_points(path)
    assert read.shape == (29, 2)
    np.testing.assert_allclose(read, points)
    assert "stored as 2 x 29" in caplog.text and "a.mat" in caplog.text


def test_shanghaitech_checks_points_like_every_reader(tmp_path):
    root = fixtures.make_shanghaitech(str(tmp_path / "sh"), counts={"train": (4,), "test": (2,)})
    gt = os.path.join(root, "part_B", "train_data", "ground-truth", "GT_IMG_1.mat")
    transposed = fixtures.random_points(7, 48, 64, 1)
    fixtures.shanghaitech_mat(gt, transposed.T)
    records = splits.read("shanghaitech_b", root, "train")
    np.testing.assert_allclose(records[0].points, transposed, rtol=1e-6)
    with_nan = transposed.copy()
    with_nan[3, 1] = np.nan
    fixtures.shanghaitech_mat(gt, with_nan)
    with pytest.raises(DatasetError, match=r"GT_IMG_1\.mat.*1 of 7 head points are "
                                                    r"NaN or inf"):
        splits.read("shanghaitech_b", root, "train")


def test_points_far_outside_the_image_are_refused(tmp_path):
    folder = tmp_path / "f" / "train"
    fixtures.write_image(str(folder / "a.png"), 48, 64)
    np.savetxt(folder / "a.txt", fixtures.random_points(10, 48, 64, 0) * 10)  # wrong scale
    fixtures.write_image(str(tmp_path / "f" / "test" / "b.png"), 48, 64)
    np.savetxt(tmp_path / "f" / "test" / "b.txt", [[1, 2]])
    with pytest.raises(DatasetError, match=r"a\.png: \d+ of 10 head points lie far "
                                                    r"outside the 64x48 image"):
        splits.load("folder", str(tmp_path / "f"))


def test_matlab_v73_files_are_read(tmp_path):
    """A MATLAB v7.3 file (HDF5 with MATLAB's 512-byte header), which scipy cannot read."""
    points = fixtures.random_points(5, 48, 64, 2)
    path = str(tmp_path / "v73.mat")
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("annPoints", data=points.T)  # HDF5 holds MATLAB arrays transposed
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Sun Nov 22 2026 HDF5 schema"
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02" + b"IM")
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(path)
    np.testing.assert_allclose(readers.read_points(path), points)


@pytest.mark.parametrize("name, content, message", [
    ("empty.mat", b"", "empty (0-byte) file"),
    ("garbage.mat", b"not a mat file at all", "cannot read annotation"),
    ("ragged.json", b'{"points": [[1, 2], [3]]}', "must be [x, y] pairs"),
    ("words.csv", b"x,y\n1,2\nthree,4\n", "words.csv:3: expected 'x y' numbers"),
    ("binary.txt", b"\xff\xfe\x00\x81", "cannot read annotation"),
    ("nan.csv", b"1,2\nnan,4\n", "1 of 2 head points are NaN or inf"),
])
def test_broken_annotation_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as error:
        readers.read_points(str(path))
    assert message in str(error.value) and name in str(error.value)


# ----------------------------------------------------------------- images

def test_sixteen_bit_png_gives_the_pixels_of_its_eight_bit_copy(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (20, 30)).astype(np.uint16)
    Image.fromarray(gray * 257).save(tmp_path / "deep.png")  # 16-bit: v * 257 == v / 255
    Image.fromarray(gray.astype(np.uint8)).save(tmp_path / "flat.png")
    flat = image_io.as_float_image(str(tmp_path / "flat.png"))
    np.testing.assert_allclose(image_io.as_float_image(str(tmp_path / "deep.png")), flat,
                               atol=1e-6)
    with Image.open(tmp_path / "deep.png") as pil:  # the PIL route of the Python API
        np.testing.assert_allclose(image_io.as_float_image(pil), flat, atol=1e-6)


def test_palette_gray_alpha_and_non_ascii_images_decode(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (16, 24, 3)).astype(np.uint8)
    base = Image.fromarray(rgb)
    base.convert("P").save(tmp_path / "palette.png")
    base.convert("LA").save(tmp_path / "gray_alpha.png")
    base.save(tmp_path / "straße_人群.jpg")
    expected = np.asarray(base.convert("P").convert("RGB")) / 255
    np.testing.assert_allclose(image_io.as_float_image(str(tmp_path / "palette.png")),
                               expected, atol=1e-6)
    gray = np.asarray(base.convert("L")) / 255
    decoded = image_io.as_float_image(str(tmp_path / "gray_alpha.png"))
    np.testing.assert_allclose(decoded, np.stack([gray] * 3, -1), atol=1e-6)
    assert image_io.as_float_image(str(tmp_path / "straße_人群.jpg")).shape == (16, 24, 3)
    assert readers.image_size(str(tmp_path / "straße_人群.jpg")) == (16, 24)


def test_zero_byte_and_truncated_images_name_the_file(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    whole = fixtures.write_image(str(tmp_path / "whole.jpg"), 64, 64)
    with open(whole, "rb") as f:
        (tmp_path / "cut.jpg").write_bytes(f.read()[:300])
    for name in ("zero.jpg", "cut.jpg"):
        with pytest.raises(DatasetError, match=f"cannot read image .*{name}"):
            readers.image_size(str(tmp_path / name))
        with pytest.raises(ValueError, match=f"cannot read image .*{name}"):
            image_io.as_float_image(str(tmp_path / name))


# ----------------------------------------------------------------- dataset layouts

def test_folder_without_splits_holds_out_a_disjoint_test_set(tmp_path):
    for i in range(10):
        fixtures.write_image(str(tmp_path / f"img{i}.png"), 20, 20, seed=i)
        np.savetxt(tmp_path / f"img{i}.txt", [[1, 2]] * (i + 1))
    train, test = splits.load("folder", str(tmp_path))
    assert len(train) == 8 and len(test) == 2
    assert not {r.path for r in train} & {r.path for r in test}
    same = splits.load("folder", str(tmp_path), seed=5)[1]  # the same for every run seed
    assert [r.path for r in same] == [r.path for r in test]


def test_folder_with_only_a_train_split_is_refused(tmp_path):
    fixtures.write_image(str(tmp_path / "train" / "a.png"), 20, 20)
    np.savetxt(tmp_path / "train" / "a.txt", [[1, 2]])
    with pytest.raises(DatasetError, match="has a train/ folder but no test/"):
        splits.load("folder", str(tmp_path))


# ----------------------------------------------------------------- command line

@pytest.mark.parametrize("args, message", [
    (["--width", "abc"], "--width expects a number, got 'abc'"),
    (["--steps", "-1"], "steps must be at least 1, got -1"),
    (["--validation_fraction", "1.5"], "validation_fraction must be in [0, 1)"),
    (["--validation_split", "first"], "validation_split must be random or last, got 'first'"),
    (["--preset", "crowd_shb_cpu_small"], "this dataset needs --data_dir: the folder holding "
                                          "part_B/"),
    (["--dataset", "folder", "--data_dir", "no/such/folder"], "--data_dir 'no/such/folder' "
                                                               "is not a folder"),
    (["--paradigm", "nonsense"], "paradigm"),
    (["--task", "iqa", "--score_scale", "0"], "score_scale must be positive, got 0"),
])
def test_option_errors_are_one_line_and_write_nothing(tmp_path, monkeypatch, capsys, args,
                                                      message):
    """train.py's main() in this process (the errors come before any compilation)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RANKJAX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["train.py", *args, "--workdir", "run", "--quiet"])
    train = runpy.run_path(os.path.join(ROOT, "train.py"), run_name="not_main")
    with pytest.raises(SystemExit) as exit_:
        train["main"]()
    assert exit_.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], errors
    assert not (tmp_path / "run").exists()


def test_help_shows_the_values_of_the_preset_that_will_run(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train.py", "--preset", "crowd_shb_cpu_small", "--help"])
    train = runpy.run_path(os.path.join(ROOT, "train.py"), run_name="not_main")
    with pytest.raises(SystemExit):
        train["main"]()
    out = capsys.readouterr().out
    assert "preset crowd_shb_cpu_small's" in out
    text = " ".join(out.split())
    assert "--learning_rate FLOAT" in text and "(0.0001)" in text and "('adam')" in text


def test_duplicate_image_names_in_a_folder_dataset_are_refused(tmp_path):
    for sub in ("a", "b"):
        fixtures.write_image(str(tmp_path / "train" / sub / "x.png"), 20, 20)
        np.savetxt(tmp_path / "train" / sub / "x.txt", [[1, 2]])
    (tmp_path / "test").mkdir()
    with pytest.raises(DatasetError, match="two images named 'x.png'"):
        splits.read("folder", str(tmp_path), "train")


def test_correlations_of_one_image_are_undefined_not_zero():
    from rankjax import evaluation
    one = [evaluation.Prediction("a", 3.0, 2.0)]
    assert np.isnan(evaluation.quality_metrics(one)["srocc"])
    assert np.isnan(evaluation.crowd_metrics(one)["count_correlation"])
    two = [evaluation.Prediction("a", 3.0, 2.0), evaluation.Prediction("b", 1.0, 2.0)]
    assert evaluation.quality_metrics(two)["lcc"] == 0.0  # constant predictions: no order
