"""TFDS builders: prepared from the official layouts and read back by name, they give the
folder readers' records (counts, sizes, scores, pixels)."""

import os

import numpy as np
import pytest

import fixtures
from rankjax import image_io
from rankjax.data import readers, splits, tfds_builders
from rankjax.data.records import CrowdRecord, DatasetError
from rankjax import presets
from test_datasets import make_tid


def prepare(name, manual_dir, data_dir):
    import tensorflow_datasets as tfds

    tfds_builders.prepare(name, str(manual_dir), str(data_dir))
    return tfds.builder(name, data_dir=str(data_dir))


def same_records(ours, theirs):
    assert ours, "no records read back: comparing two empty lists proves nothing"
    assert [r.name for r in ours] == [r.name for r in theirs]
    assert [(r.height, r.width) for r in ours] == [(r.height, r.width) for r in theirs]
    for a, b in zip(ours, theirs):
        if isinstance(a, CrowdRecord):
            np.testing.assert_array_equal(a.points, b.points)
        else:
            assert (a.score, a.reference) == (b.score, b.reference)
        np.testing.assert_array_equal(image_io.read_image(a.path), image_io.read_image(b.path))


def test_crowd_sets_prepared_and_read_back(tmp_path):
    data_dir = tmp_path / "tfds"
    fixtures.make_shanghaitech(str(tmp_path / "shb"), "B")
    builder = prepare("shanghaitech/part_b", tmp_path / "shb", data_dir)
    assert "part_B/" in builder.MANUAL_DOWNLOAD_INSTRUCTIONS
    for split, counts in (("train", [3, 5]), ("test", [2])):  # the fixture's points
        ours = splits.read("tfds:shanghaitech/part_b", str(data_dir), split)
        assert [len(r.points) for r in ours] == counts
        assert [(r.height, r.width) for r in ours] == [(48, 64)] * len(counts)
        same_records(ours, splits.read("shanghaitech_b", str(tmp_path / "shb"), split))
    # UCF-QNRF is read at most 1024 px a side: the size and scaled points are kept.
    fixtures.make_qnrf(str(tmp_path / "qnrf"))
    prepare("ucf_qnrf", tmp_path / "qnrf", data_dir)
    ours = splits.read("tfds:ucf_qnrf", str(data_dir), "train")
    same_records(ours, splits.read("ucf_qnrf", str(tmp_path / "qnrf"), "train"))
    assert [(r.height, r.width) for r in ours] == [(50, 1024), (60, 80)]
    assert [len(r.points) for r in ours] == [4, 4]
    # A training config takes the prepared name; its validation knows the task.
    cfg = presets.get_preset("crowd_shb").replace(dataset="tfds:shanghaitech/part_b",
                                                 data_dir=str(data_dir))
    train, test = splits.load(cfg.dataset, cfg.data_dir)
    assert (len(train), len(test)) == (2, 1)


def test_quality_set_prepared_and_read_back(tmp_path):
    mos = {f"i{r:02d}_{t:02d}_{l}.bmp": 7.0 - l for r in (1, 2) for t in (1, 8) for l in (1, 5)}
    make_tid(tmp_path / "tid", mos)
    prepare("tid2013", tmp_path / "tid", tmp_path / "tfds")
    ours = splits.read("tfds:tid2013", str(tmp_path / "tfds"))
    assert {r.name.lower(): r.score for r in ours} == mos  # every image, its MOS kept
    same_records(ours, splits.read("tid2013", str(tmp_path / "tid")))


def test_unprepared_or_unknown_names_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="python scripts/prepare_tfds.py "
                                                    "shanghaitech/part_a --manual_dir"):
        splits.read("tfds:shanghaitech/part_a", str(tmp_path), "train")
    with pytest.raises(DatasetError, match="unknown TFDS dataset"):
        tfds_builders.read("shanghaitech/part_c", str(tmp_path), "train")


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_shanghaitech_a_prepared_from_real_data(shared_data, tmp_path):
    prepare("shanghaitech/part_a", os.path.join(shared_data, "ShanghaiTech"), tmp_path)
    train = splits.read("tfds:shanghaitech/part_a", str(tmp_path), "train")
    assert len(train) == 300 and sum(r.count for r in train) == 162413


@pytest.mark.parametrize("name, reader, make", [
    ("ucf_cc50/fold2", "ucf_cc_50", fixtures.make_ucf_cc_50),
    ("mall", "mall", lambda root: fixtures.make_mall(root, frames=11)),
    ("clive", "clive", fixtures.make_clive)])
def test_other_layouts_prepared_and_read_back(tmp_path, monkeypatch, name, reader, make):
    monkeypatch.setattr(readers, "CLIVE_LEFT_OUT", 1)  # the fixture leaves out one, not 7
    monkeypatch.setattr(readers, "MALL_TRAIN_FRAMES", 8)  # the fixture has 11 frames
    make(str(tmp_path / "raw"))
    prepare(name, tmp_path / "raw", tmp_path / "tfds")
    fold = 2 if reader == "ucf_cc_50" else 0
    for split in (None,) if reader == "clive" else ("train", "test"):
        same_records(splits.read(f"tfds:{name}", str(tmp_path / "tfds"), split),
                     splits.read(reader, str(tmp_path / "raw"), split, fold))
