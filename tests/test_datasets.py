import os
from rankjax.data import readers, splits
from rankjax.data.records import DatasetError

import numpy as np
import pytest
import scipy.io

import fixtures



def test_shanghaitech_layout(tmp_path):
    fixtures.make_shanghaitech(str(tmp_path), "B")
    for data_dir in (str(tmp_path), str(tmp_path / "part_B")):  # root or the part itself
        train = splits.read("shanghaitech_b", data_dir, "train")
        assert [r.count for r in train] == [3, 5]
        assert (train[0].height, train[0].width) == (48, 64)
    assert [r.count for r in splits.read("shanghaitech_b", str(tmp_path), "test")] == [2]


def test_ucf_cc_50_folds_are_the_authors(tmp_path):
    fixtures.make_ucf_cc_50(str(tmp_path))
    for fold in range(5):
        train = splits.read("ucf_cc_50", str(tmp_path), "train", fold)
        test = splits.read("ucf_cc_50", str(tmp_path), "test", fold)
        assert (len(train), len(test)) == (40, 10)
        assert not {r.name for r in train} & {r.name for r in test}
        # the fixture puts i heads into image i
        assert all(r.count == int(r.name.split(".")[0]) for r in test)
    with pytest.raises(DatasetError, match="fold must be 0..4"):
        splits.read("ucf_cc_50", str(tmp_path), "train", 5)


def test_qnrf_longest_side_resized_with_points(tmp_path):
    fixtures.make_qnrf(str(tmp_path))
    train = splits.read("ucf_qnrf", str(tmp_path), "train")
    big, small = train
    assert (big.height, big.width) == (50, 1024)  # 100 x 2048 halved
    original = scipy.io.loadmat(str(tmp_path / "Train" / "img_0001_ann.mat"))["annPoints"]
    np.testing.assert_allclose(big.points, original * 0.5, rtol=1e-5)
    assert (small.height, small.width) == (60, 80)  # small enough: kept


def test_point_folder_formats(tmp_path):
    fixtures.make_point_folder(str(tmp_path))
    train, test = splits.load("folder", str(tmp_path))  # no train/, test/: held out 80/20
    records = {r.name: r for r in train + test}
    assert len(test) == 1
    assert {n: r.count for n, r in records.items()} == {"a.png": 2, "b.jpg": 3, "c.bmp": 1,
                                                        "d.webp": 0}
    np.testing.assert_allclose(records["b.jpg"].points, [[5, 6], [7, 8], [9, 10]])


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="folder not found"):
        splits.read("folder", str(tmp_path / "missing"), "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        splits.read("folder", str(tmp_path / "empty"), "train")
    # truncated JPEG
    folder = tmp_path / "broken"
    (folder / "test").mkdir(parents=True)
    path = fixtures.write_image(str(folder / "train" / "x.jpg"), 64, 64)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    (folder / "train" / "x.txt").write_text("1 2\n")
    with pytest.raises(DatasetError, match="x.jpg"):
        splits.read("folder", str(folder), "train")
    # annotation missing / malformed / wrong key / far outside
    (tmp_path / "noann" / "test").mkdir(parents=True)
    folder = tmp_path / "noann" / "train"
    fixtures.write_image(str(folder / "y.png"))
    with pytest.raises(DatasetError, match="no head points for .*y.png"):
        splits.read("folder", str(folder.parent), "train")
    scipy.io.savemat(str(folder / "y.mat"), {"heads": np.zeros((2, 2))})
    with pytest.raises(DatasetError, match="y.mat.*expected key"):
        splits.read("folder", str(folder.parent), "train")
    os.remove(folder / "y.mat")
    (folder / "y.txt").write_text("1 2\nthree 4\n")
    with pytest.raises(DatasetError, match="y.txt:2"):
        splits.read("folder", str(folder.parent), "train")


def test_points_outside_are_kept_on_the_border_and_logged(tmp_path, caplog):
    (tmp_path / "test").mkdir()
    fixtures.write_image(str(tmp_path / "train" / "z.png"), 48, 64)
    (tmp_path / "train" / "z.txt").write_text("64.5 10\n-0.5 47\n10 10\n")
    (record,) = splits.read("folder", str(tmp_path), "train")
    assert record.count == 3  # the count is what the annotation says
    assert (record.points[:, 0] < 64).all() and (record.points >= 0).all()
    assert "z.png: 2 head points outside the 64x48 image (0 far outside" in caplog.text
    (tmp_path / "train" / "z.txt").write_text("1 2\n640 2\n3 4\n5 6\n")
    (record,) = splits.read("folder", str(tmp_path), "train")
    assert record.count == 4 and "(1 far outside, e.g. [640.0, 2.0])" in caplog.text


def test_split_labeled_is_seeded_and_disjoint():
    records = list(range(100))
    labeled, rest, validation = splits.split_labeled(records, 0.25, 0.1, seed=3)
    assert (len(validation), len(labeled), len(rest)) == (10, 22, 68)
    assert sorted(labeled + rest + validation) == records
    assert splits.split_labeled(records, 0.25, 0.1, seed=3)[0] == labeled
    assert splits.split_labeled(records, 0.25, 0.1, seed=4)[0] != labeled
    # The historical random split, kept exactly (committed results were made with it).
    order = np.random.default_rng(3).permutation(100)
    assert validation == list(order[:10]) and labeled == list(order[10:32])


def test_split_labeled_last_validates_on_the_final_stretch():
    """`last`: validation is the end of the training stretch (video frames next to the test
    frames), the rest is shuffled with the seed as before."""
    records = list(range(100))
    labeled, rest, validation = splits.split_labeled(records, 0.25, 0.1, 3, "last")
    assert validation == list(range(90, 100))
    assert (len(labeled), len(rest)) == (22, 68) and sorted(labeled + rest) == list(range(90))
    assert labeled != list(range(22))   # shuffled, not the first frames
    assert splits.split_labeled(records, 0.25, 0.1, 4, "last")[2] == validation
    with pytest.raises(ValueError, match="random or last, got 'first'"):
        splits.split_labeled(records, 0.25, 0.1, 3, "first")


def make_tid(root, mos_by_name):
    os.makedirs(root / "distorted_images")
    lines = []
    for i, (name, mos) in enumerate(mos_by_name.items()):
        fixtures.write_image(str(root / "distorted_images" / name.upper()), seed=i)
        lines.append(f"{mos} {name}")
    (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")


def test_tid2013_scores_and_split_by_reference(tmp_path):
    mos = {f"i{r:02d}_{t:02d}_{l}.bmp": 7.0 - l for r in (1, 2, 3, 4, 5) for t in (1, 8)
           for l in (1, 5)}
    make_tid(tmp_path, mos)
    records = splits.read("tid2013", str(tmp_path))
    assert len(records) == 20
    assert {r.name.lower(): r.score for r in records} == mos  # MOS kept: higher is better
    train, test = splits.split_by_reference(records, 0.2, seed=0)
    assert {r.reference for r in train}.isdisjoint({r.reference for r in test})
    assert (len(train), len(test)) == (16, 4)


def test_live_dmos_becomes_higher_is_better(tmp_path):
    total = sum(n for _, n in readers.LIVE_TYPES)
    rng = np.random.default_rng(0)
    dmos = rng.uniform(0, 90, total)
    orgs = np.zeros(total)
    orgs[[0, 300]] = 1  # two undistorted copies
    dmos[[0, 300]] = 0
    refs = np.empty((1, total), dtype=object)
    refs[0, :] = [f"ref{i % 29}.bmp" for i in range(total)]
    scipy.io.savemat(str(tmp_path / "dmos.mat"), {"dmos": dmos[None], "orgs": orgs[None]})
    scipy.io.savemat(str(tmp_path / "refnames_all.mat"), {"refnames_all": refs})
    for folder, count in readers.LIVE_TYPES:
        for i in range(count):
            fixtures.write_image(str(tmp_path / folder / f"img{i + 1}.bmp"), 8, 8, seed=i)
    records = splits.read("live", str(tmp_path))
    assert len(records) == total - 2
    jpeg_5 = next(r for r in records if r.path.endswith(os.path.join("jpeg", "img5.bmp")))
    assert jpeg_5.score == pytest.approx(100 - dmos[227 + 4])
    worse, better = np.argmax(dmos), np.argmin(np.where(orgs == 1, 1e9, dmos))
    scores = {r.path: r.score for r in records}
    assert max(scores.values()) == pytest.approx(100 - dmos[better])
    assert min(scores.values()) == pytest.approx(100 - dmos[worse])


@pytest.mark.parametrize("part,split,heads", [("A", "train", 162413), ("A", "test", 78862),
                                              ("B", "train", 49151), ("B", "test", 39121)])
def test_shanghaitech_head_counts_on_real_data(shared_data, part, split, heads):
    records = splits.read(f"shanghaitech_{part.lower()}",
                                  os.path.join(shared_data, "ShanghaiTech"), split)
    assert sum(r.count for r in records) == heads


def test_ucf_cc_50_head_count_on_real_data(shared_data):
    folder = os.path.join(shared_data, "UCF_CC_50")
    train = splits.read("ucf_cc_50", folder, "train", 0)
    test = splits.read("ucf_cc_50", folder, "test", 0)
    assert sum(r.count for r in train + test) == 63974


def test_tid2013_sample_on_real_data(shared_data):
    records = splits.read("tid2013", os.path.join(shared_data, "TID2013_sample"))
    assert len(records) == 6
    assert {r.reference for r in records} == {"i15", "i16", "i22"}


def test_mall_layout_and_standard_split(tmp_path, monkeypatch):
    # Mall's training stretch is frames 1-800; a shorter one (8 of 11 frames) here.
    assert readers.MALL_TRAIN_FRAMES == 800
    monkeypatch.setattr(readers, "MALL_TRAIN_FRAMES", 8)
    fixtures.make_mall(str(tmp_path), frames=11)
    train, test = splits.load("mall", str(tmp_path))
    assert len(train) == 8 and len(test) == 3  # frames 1-8 train, the rest test
    assert [r.count for r in test] == [8 % 5, 9 % 5, 10 % 5]
    assert test[0].name == "seq_000009.jpg"
    np.testing.assert_allclose(test[1].points, fixtures.random_points(9 % 5, 24, 32, 9),
                               rtol=1e-5)
    os.remove(tmp_path / "frames" / "seq_000010.jpg")
    with pytest.raises(DatasetError, match="seq_000010.jpg"):
        splits.load("mall", str(tmp_path))


def test_clive_leaves_out_the_training_images(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CLIVE_LEFT_OUT", 1)
    fixtures.make_clive(str(tmp_path))
    records = splits.read("clive", str(tmp_path))
    assert [(r.name, r.score, r.height) for r in records] == [("a.bmp", 11.0, 40),
                                                             ("B.JPG", 12.0, 40),
                                                             ("c.bmp", 13.0, 40)]
    os.remove(tmp_path / "Data" / "AllMOS_release.mat")
    with pytest.raises(DatasetError, match="AllMOS_release.mat"):
        splits.read("clive", str(tmp_path))


def test_mall_and_clive_on_real_data(public_data):
    mall = os.path.join(public_data, "mall_dataset-new")
    if not os.path.isdir(mall):
        pytest.skip(f"Mall not found at {mall}")
    train, test = splits.load("mall", mall)
    assert sum(r.count for r in train) == 23635 and sum(r.count for r in test) == 38680
    mean = np.mean([r.count for r in train])
    assert np.mean([abs(r.count - mean) for r in test]) == pytest.approx(4.937, abs=1e-3)
    clive = os.path.join(public_data, "ChallengeDB_release")
    if os.path.isdir(clive):
        records = splits.read("clive", clive)
        assert len(records) == 1162 and not any(r.name.startswith("t") for r in records)
        assert 3.4 < min(r.score for r in records) < max(r.score for r in records) < 92.5
