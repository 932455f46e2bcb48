"""Readers for the datasets a user downloads and unpacks, returning lists of records.

Annotations are parsed on the host once (scipy for .mat; json, csv, txt); images
are checked to be readable here, so a broken file is named before training
starts, and decoded later inside tf.data. Point a reader at the folder you
unpacked:

  shanghaitech_a / shanghaitech_b   ShanghaiTech/ (or part_A/ itself) with
                                    {train,test}_data/images/IMG_n.jpg and
                                    {train,test}_data/ground-truth/GT_IMG_n.mat
  ucf_cc_50                         n.jpg + n_ann.mat (annPoints); the authors' 5 folds
                                    (0..4) ship with rankjax
  ucf_qnrf                          {Train,Test}/img_xxxx.jpg + img_xxxx_ann.mat; images are
                                    resized so the longest side is at most 1024
  folder                            any folder: image + same-named .mat/.json/.csv/.txt
                                    points (x, y); split subfolders train/ test/ if present
  mall                              mall_dataset/ with frames/seq_000001.jpg ... and mall_gt.mat
                                    (frame{i}.loc head points); frames 1-800 train, 801-2000 test
  live                              LIVE IQA release 2 (dmos.mat, refnames_all.mat,
                                    jp2k/ jpeg/ wn/ gblur/ fastfading/)
  tid2013                           mos_with_names.txt + distorted_images/
  clive                             LIVE In the Wild (ChallengeDB_release/): Data/AllMOS_release.mat,
                                    Data/AllImages_release.mat, Images/; the 7 trainingImages left out

Every reader is one entry of rankjax.data.records.DATASETS (name -> Dataset(task,
read)); config validation checks names against it. Adding a dataset is one
`DATASETS.register` call. Reading annotations needs numpy, scipy and Pillow only, not
TensorFlow or JAX; the generated sets (synthetic_crowd, synthetic_iqa) are registered by
rankjax.data.synthetic_sets, the prepared TFDS sets by rankjax.data.tfds_builders.

Scores inside rankjax are always "higher is better": LIVE's DMOS (lower is better)
becomes 100 - DMOS; TID2013's MOS is used as is.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import glob
import json
import logging
import os
import re

import numpy as np
import scipy.io
from PIL import Image

from rankjax.data.records import DATASETS, CrowdRecord, Dataset, DatasetError, QualityRecord

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
POINT_EXTENSIONS = (".mat", ".json", ".csv", ".txt")
# The authors' UCF_CC_50 folds, shipped with rankjax (package data).
FOLDS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "splits", "ucf_cc_50")
QNRF_MAX_SIDE = 1024
# Points this far outside the image (fraction of its size) are reported as "far outside".
OUTSIDE_TOLERANCE = 0.05

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- helpers

def require_dir(path: str, what: str) -> str:
    if not path or not os.path.isdir(path):
        raise DatasetError(f"{what}: folder not found: {path!r}")
    return path


def list_images(folder: str, recursive: bool = True) -> list[str]:
    """Every image file (jpg, png, bmp, webp) below `folder`, sorted."""
    require_dir(folder, "image folder")
    pattern = os.path.join(folder, "**", "*") if recursive else os.path.join(folder, "*")
    files = sorted(p for p in glob.glob(pattern, recursive=recursive)
                   if p.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(p))
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {folder!r}")
    return files


def image_size(path: str) -> tuple[int, int]:
    """(height, width) of an image; decodes it fully so truncated files are caught here."""
    if not os.path.isfile(path):
        raise DatasetError(f"image not found: {path!r}")
    try:
        with Image.open(path) as image:
            image.load()
            return image.height, image.width
    except Exception as error:  # PIL raises many types for broken files
        raise DatasetError(f"cannot read image {path!r}: {error}") from error


def image_sizes(paths: list[str]) -> list[tuple[int, int]]:
    with concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(image_size, paths))


POINT_KEYS = ("annPoints", "points", "locations", "location")


def _mat_points(path: str, keys: tuple[str, ...] = ()) -> np.ndarray:
    """(N, 2) x, y head points of a MATLAB file (any version, v7.3 through h5py)."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DatasetError(f"annotation {path!r} is an empty (0-byte) file")
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        return as_points(_mat73_points(path, keys), path)
    except Exception as error:
        raise DatasetError(f"cannot read annotation {path!r}: {error}") from error
    if "image_info" in mat and (not keys or "image_info" in keys):
        try:  # ShanghaiTech: image_info[0, 0][0, 0][0] holds (N, 2) x, y
            return as_points(mat["image_info"][0, 0][0, 0][0], path)
        except (IndexError, TypeError, ValueError) as error:
            raise DatasetError(f"{path!r}: unexpected 'image_info' layout ({error})") from error
    for key in keys or POINT_KEYS:
        if key in mat:
            return as_points(mat[key], path)
    found = [k for k in mat if not k.startswith("__")]
    raise DatasetError(f"{path!r} has no head points: expected key "
                       f"{' or '.join(keys or POINT_KEYS + ('image_info',))}, found {found}")


def _mat73_points(path: str, keys: tuple[str, ...]) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for key in (keys or POINT_KEYS) + ("image_info",):
                if key in f and isinstance(f[key], h5py.Dataset) and f[key].dtype.kind in "fiu":
                    # HDF5 stores MATLAB's column-major arrays transposed.
                    return np.asarray(f[key], np.float64).T
            found = list(f.keys())
    except OSError as error:
        raise DatasetError(f"cannot read annotation {path!r} (MATLAB v7.3 / HDF5): "
                           f"{error}") from error
    raise DatasetError(f"{path!r} is a MATLAB v7.3 file without a numeric head-point array "
                       f"({' or '.join(keys or POINT_KEYS)}); found {found}. Save the "
                       f"points as an N x 2 matrix (or with -v7), or as .csv / .json")


def as_points(array, source: str) -> np.ndarray:
    """Checked (N, 2) float x, y points from an annotation array, naming `source` on error.

    Extra columns are dropped ((N, 3) with a third value is common). A (2, N) array with
    N > 3 is MATLAB's transposed layout: it is transposed, with a warning.
    """
    points = np.asarray(array)
    if points.dtype.kind not in "fiu":
        raise DatasetError(f"{source!r}: head points must be numbers, got {points.dtype}")
    points = points.astype(np.float64)
    if points.size == 0:
        return np.zeros((0, 2), np.float64)
    if points.ndim == 1 and points.size == 2:  # one point saved as a vector
        points = points.reshape(1, 2)
    if points.ndim == 2 and points.shape[0] == 2 and points.shape[1] > 3:
        log.warning("%s: head points stored as 2 x %d (x row, y row); read as %d points",
                    source, points.shape[1], points.shape[1])
        points = points.T
    if points.ndim != 2 or points.shape[1] < 2:
        raise DatasetError(f"{source!r}: head points must have shape (N, 2), got "
                           f"{points.shape}")
    points = points[:, :2]
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points)).any(axis=1).sum())
        raise DatasetError(f"{source!r}: {bad} of {len(points)} head points are NaN or inf")
    return points


def read_points(path: str) -> np.ndarray:
    """(N, 2) x, y head points from a .mat, .json, .csv or .txt file."""
    lower = path.lower()
    if lower.endswith(".mat"):
        points = _mat_points(path)
    elif lower.endswith(".json"):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(f"cannot read annotation {path!r}: {error}") from error
        if isinstance(data, dict):
            data = data.get("points", data.get("annPoints"))
        if data is None:
            raise DatasetError(f"{path!r}: expected a list of [x, y] or {{\"points\": [...]}}")
        try:
            points = np.asarray(data, np.float64)
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{path!r}: head points must be [x, y] pairs ({error})") from error
    else:
        rows = []
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise DatasetError(f"cannot read annotation {path!r}: {error}") from error
        for line_number, row in enumerate(csv.reader(lines, delimiter="," if lower.endswith(
                ".csv") else " ", skipinitialspace=True), 1):
            row = [cell for cell in row if cell.strip()]
            if not row or row[0].startswith("#"):
                continue
            try:
                rows.append([float(row[0]), float(row[1])])
            except (ValueError, IndexError):
                if line_number == 1:  # a header line such as "x,y"
                    continue
                raise DatasetError(f"{path}:{line_number}: expected 'x y' numbers, got {row}")
        points = np.asarray(rows, np.float64)
    return as_points(points, path)


def checked_points(points: np.ndarray, height: int, width: int, source: str) -> np.ndarray:
    """Points moved inside the image, each move logged with the file's name.

    Real annotations have a few: UCF_CC_50's 6.jpg has a head at x = -359. The
    count of an image is what its annotation says, so no point is dropped.
    """
    points = np.asarray(points, np.float32).reshape(-1, 2)
    limit = np.array([width, height], np.float32)
    outside = (points < 0).any(axis=1) | (points >= limit).any(axis=1)
    if outside.any():
        far = ((points < -OUTSIDE_TOLERANCE * limit) |
               (points > (1 + OUTSIDE_TOLERANCE) * limit)).any(axis=1)
        if far.sum() > max(2, len(points) // 2):
            raise DatasetError(
                f"{source}: {far.sum()} of {len(points)} head points lie far outside the "
                f"{width}x{height} image (e.g. {points[far][0].round(1).tolist()}): are they "
                f"(x, y) pixel coordinates of this image, not (y, x) or another scale?")
        log.warning("%s: %d head points outside the %dx%d image (%d far outside, e.g. %s) "
                    "moved to its border; they still count", source, outside.sum(), width,
                    height, far.sum(), points[outside][0].round(1).tolist())
        points = np.clip(points, 0, limit - 1e-3)
    return points


def _crowd_records(pairs: list[tuple[str, np.ndarray]], max_side: int | None = None
                   ) -> list[CrowdRecord]:
    if not pairs:
        raise DatasetError("the dataset is empty")
    sizes = image_sizes([path for path, _ in pairs])
    records = []
    for (path, points), (height, width) in zip(pairs, sizes):
        points = checked_points(points, height, width, path)
        if max_side and max(height, width) > max_side:  # decoding resizes to (height, width)
            scale = max_side / max(height, width)
            points = points * scale
            height, width = round(height * scale), round(width * scale)
        records.append(CrowdRecord(path, points.astype(np.float32), height, width))
    return records


# --------------------------------------------------------------------------- crowd readers

def _shanghaitech(data_dir: str, part: str, split: str) -> list[CrowdRecord]:
    root = data_dir
    for candidate in (os.path.join(data_dir, f"part_{part}"),
                      os.path.join(data_dir, "ShanghaiTech", f"part_{part}"),
                      os.path.join(data_dir, f"part_{part}_final")):
        if os.path.isdir(candidate):
            root = candidate
    folder = os.path.join(root, f"{split}_data")
    images = require_dir(os.path.join(folder, "images"), f"ShanghaiTech part {part} {split}")
    truth = require_dir(os.path.join(folder, "ground-truth"), f"ShanghaiTech part {part} {split}")
    pairs = []
    for path in list_images(images, recursive=False):
        stem = os.path.splitext(os.path.basename(path))[0]
        mat = os.path.join(truth, f"GT_{stem}.mat")
        if not os.path.isfile(mat):
            raise DatasetError(f"annotation missing for {path!r}: expected {mat!r}")
        pairs.append((path, _mat_points(mat, ("image_info",))))
    return _crowd_records(pairs)


def ucf_cc_50_fold(fold: int, split: str) -> list[str]:
    """The authors' file names for fold 0..4 (40 train / 10 test images each)."""
    if not 0 <= fold <= 4:
        raise DatasetError(f"UCF_CC_50 fold must be 0..4, got {fold}")
    path = os.path.join(FOLDS_DIR, f"{split}_set_{fold}.txt")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def _ucf_cc_50(data_dir: str, split: str, fold: int) -> list[CrowdRecord]:
    require_dir(data_dir, "UCF_CC_50")
    names = ucf_cc_50_fold(fold, "train" if split == "train" else "test")
    pairs = []
    for name in names:
        path = os.path.join(data_dir, name)
        mat = os.path.join(data_dir, os.path.splitext(name)[0] + "_ann.mat")
        if not os.path.isfile(mat):
            raise DatasetError(f"UCF_CC_50 annotation missing: {mat!r}")
        pairs.append((path, _mat_points(mat, ("annPoints",))))
    return _crowd_records(pairs)


def _ucf_qnrf(data_dir: str, split: str) -> list[CrowdRecord]:
    folder = require_dir(os.path.join(data_dir, "Train" if split == "train" else "Test"),
                         "UCF-QNRF")
    pairs = []
    for path in list_images(folder, recursive=False):
        mat = os.path.splitext(path)[0] + "_ann.mat"
        if not os.path.isfile(mat):
            raise DatasetError(f"UCF-QNRF annotation missing for {path!r}: expected {mat!r}")
        pairs.append((path, _mat_points(mat, ("annPoints",))))
    return _crowd_records(pairs, max_side=QNRF_MAX_SIDE)


# A `folder` dataset without train/ and test/ holds out this fraction of a fixed shuffle
# (seed 0, the same for every run) as its test split.
FOLDER_TEST_FRACTION = 0.2


def read_folder(data_dir: str, split: str) -> list[CrowdRecord]:
    """Images with point files beside them, in `train/` and `test/` subfolders; a folder
    without either is split 80/20 by a fixed shuffle (the same for every run and seed),
    so no test image is ever trained on."""
    require_dir(data_dir, "point-annotated folder")
    has = {name: os.path.isdir(os.path.join(data_dir, name)) for name in ("train", "test")}
    if has["train"] != has["test"]:
        missing = "test" if has["train"] else "train"
        raise DatasetError(f"{data_dir!r} has a {'train' if has['train'] else 'test'}/ folder "
                           f"but no {missing}/ folder: give both, or neither (then 20% of "
                           f"the images are held out as the test split)")
    if has[split]:
        files = list_images(os.path.join(data_dir, split))
    else:
        everything = list_images(data_dir)
        if len(everything) < 2:
            raise DatasetError(f"{data_dir!r} holds {len(everything)} image(s); a train and a "
                               f"test split need at least 2")
        order = np.random.default_rng(0).permutation(len(everything))
        n_test = max(1, int(round(FOLDER_TEST_FRACTION * len(everything))))
        chosen = sorted(order[:n_test] if split == "test" else order[n_test:])
        files = [everything[i] for i in chosen]
        if split == "test":
            log.info("%s has no train/ and test/ folders: %d of its %d images are the test "
                     "split (a fixed 20%% shuffle), the rest train", data_dir, n_test,
                     len(everything))
    names: dict[str, str] = {}
    for path in files:
        other = names.setdefault(os.path.basename(path), path)
        if other != path:
            raise DatasetError(f"two images named {os.path.basename(path)!r} ({other!r}, "
                               f"{path!r}): image names must be unique, they name the rows of "
                               f"predictions.csv and the pictures")
    pairs = []
    for path in files:
        stem = os.path.splitext(path)[0]
        annotation = next((stem + ext for ext in POINT_EXTENSIONS + ("_ann.mat",)
                           if os.path.isfile(stem + ext)), None)
        if annotation is None:
            raise DatasetError(f"no head points for {path!r}: expected {stem}.mat, .json, .csv "
                               f"or .txt beside it")
        pairs.append((path, read_points(annotation)))
    return _crowd_records(pairs)


MALL_TRAIN_FRAMES = 800  # the standard protocol: frames 1-800 train, 801-2000 test


def _mall(data_dir: str, split: str, fold: int) -> list[CrowdRecord]:
    require_dir(data_dir, "Mall")
    gt_path = os.path.join(data_dir, "mall_gt.mat")
    if not os.path.isfile(gt_path):
        raise DatasetError(f"Mall annotation missing: {gt_path!r}")
    try:
        mat = scipy.io.loadmat(gt_path)
        frames, counts = mat["frame"].ravel(), mat["count"].ravel()
        points = [as_points(frame["loc"][0, 0], f"{gt_path} frame {i + 1}")
                  for i, frame in enumerate(frames)]
    except (KeyError, IndexError, ValueError, TypeError) as error:
        raise DatasetError(f"{gt_path!r}: expected 'frame' (frame{{i}}.loc) and 'count' "
                           f"({error})") from error
    if len(points) != len(counts) or len(points) <= MALL_TRAIN_FRAMES:
        raise DatasetError(f"{gt_path!r}: {len(points)} frames and {len(counts)} counts; "
                           f"expected equal numbers, more than {MALL_TRAIN_FRAMES}")
    indices = range(MALL_TRAIN_FRAMES) if split == "train" else range(MALL_TRAIN_FRAMES,
                                                                      len(points))
    pairs = []
    for i in indices:
        if len(points[i]) != int(counts[i]):
            raise DatasetError(f"{gt_path!r}: frame {i + 1} has {len(points[i])} points but "
                               f"count {int(counts[i])}")
        pairs.append((os.path.join(data_dir, "frames", f"seq_{i + 1:06d}.jpg"), points[i]))
    return _crowd_records(pairs)


# --------------------------------------------------------------------------- IQA readers

LIVE_TYPES = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def _live(data_dir: str) -> list[QualityRecord]:
    require_dir(data_dir, "LIVE")
    dmos_path = os.path.join(data_dir, "dmos.mat")
    refs_path = os.path.join(data_dir, "refnames_all.mat")
    for path in (dmos_path, refs_path):
        if not os.path.isfile(path):
            raise DatasetError(f"LIVE file missing: {path!r}")
    dmos_mat = scipy.io.loadmat(dmos_path)
    if "dmos" not in dmos_mat or "orgs" not in dmos_mat:
        raise DatasetError(f"{dmos_path!r} lacks 'dmos' or 'orgs'")
    dmos, orgs = dmos_mat["dmos"].ravel(), dmos_mat["orgs"].ravel()
    refnames = [str(np.ravel(r)[0]) for r in scipy.io.loadmat(refs_path)["refnames_all"].ravel()]
    expected = sum(n for _, n in LIVE_TYPES)
    if not len(dmos) == len(orgs) == len(refnames) == expected:
        raise DatasetError(f"LIVE: expected {expected} entries in dmos.mat and refnames_all.mat, "
                           f"got {len(dmos)}, {len(orgs)}, {len(refnames)}")
    records, index = [], 0
    for folder, count in LIVE_TYPES:
        for i in range(count):
            if not orgs[index]:  # orgs = 1 marks the undistorted copies (DMOS 0)
                path = os.path.join(data_dir, folder, f"img{i + 1}.bmp")
                records.append(QualityRecord(path, float(100.0 - dmos[index]),
                                             refnames[index]))
            index += 1
    return records


def _tid2013(data_dir: str) -> list[QualityRecord]:
    require_dir(data_dir, "TID2013")
    listing = os.path.join(data_dir, "mos_with_names.txt")
    entries = []  # (relative path, mos)
    if os.path.isfile(listing):
        with open(listing) as f:
            for line_number, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DatasetError(f"{listing}:{line_number}: expected 'MOS name', got {line!r}")
                entries.append((os.path.join("distorted_images", parts[1]), float(parts[0])))
    else:  # RankIQA-style list: 'train:' / 'test:' sections of 'path mos std'
        listing = os.path.join(data_dir, "img_info.txt")
        if not os.path.isfile(listing):
            raise DatasetError(f"TID2013: neither mos_with_names.txt nor img_info.txt in "
                               f"{data_dir!r}")
        with open(listing) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and not parts[0].endswith(":"):
                    entries.append((parts[0], float(parts[1])))
    if not entries:
        raise DatasetError(f"{listing!r} lists no images")
    present = {name.lower(): name for name in os.listdir(os.path.join(data_dir,
                                                                      "distorted_images"))}
    records = []
    for relative, mos in entries:
        base = os.path.basename(relative)
        actual = present.get(base.lower())  # names differ in case (I22_01_1 / i22_01_1)
        if actual is None:
            raise DatasetError(f"TID2013 image listed in {listing!r} not found: {relative}")
        reference = re.match(r"[iI](\d+)", base)
        records.append(QualityRecord(os.path.join(data_dir, "distorted_images", actual), mos,
                                     f"i{reference.group(1)}" if reference else base))
    return records


CLIVE_LEFT_OUT = 7  # trainingImages/t1..t7.bmp, conventionally excluded


def _clive(data_dir: str) -> list[QualityRecord]:
    require_dir(data_dir, "LIVE In the Wild (CLIVE)")
    paths = {name: os.path.join(data_dir, "Data", f"{name}.mat")
             for name in ("AllImages_release", "AllMOS_release")}
    for path in paths.values():
        if not os.path.isfile(path):
            raise DatasetError(f"CLIVE file missing: {path!r}")
    try:
        names = [str(np.ravel(n)[0]) for n in
                 scipy.io.loadmat(paths["AllImages_release"])["AllImages_release"].ravel()]
        mos = scipy.io.loadmat(paths["AllMOS_release"])["AllMOS_release"].ravel()
    except (KeyError, IndexError, ValueError) as error:
        raise DatasetError(f"CLIVE: unexpected layout of {list(paths.values())} "
                           f"({error})") from error
    if len(names) != len(mos):
        raise DatasetError(f"CLIVE: {len(names)} image names but {len(mos)} MOS values")
    return [QualityRecord(os.path.join(data_dir, "Images", name), float(score), name)
            for name, score in zip(names[CLIVE_LEFT_OUT:], mos[CLIVE_LEFT_OUT:])]


def _with_sizes(records: list[QualityRecord]) -> list[QualityRecord]:
    if not records:
        raise DatasetError("the dataset is empty")
    sizes = image_sizes([r.path for r in records])
    return [dataclasses.replace(r, height=h, width=w) for r, (h, w) in zip(records, sizes)]


# --------------------------------------------------------------------------- the registry

DATASETS.register("shanghaitech_a", Dataset(
    "crowd", lambda data_dir, split, fold: _shanghaitech(data_dir, "A", split),
    layout="part_A/{train,test}_data/{images,ground-truth} (the unpacked ShanghaiTech archive)"))
DATASETS.register("shanghaitech_b", Dataset(
    "crowd", lambda data_dir, split, fold: _shanghaitech(data_dir, "B", split),
    layout="part_B/{train,test}_data/{images,ground-truth} (the unpacked ShanghaiTech archive)"))
DATASETS.register("ucf_cc_50", Dataset("crowd", _ucf_cc_50,
                                       layout="1.jpg ... 50.jpg and 1_ann.mat ... 50_ann.mat"))
DATASETS.register("ucf_qnrf", Dataset("crowd", lambda data_dir, split, fold:
                                      _ucf_qnrf(data_dir, split),
                                      layout="Train/ and Test/ with img_XXXX.jpg and "
                                             "img_XXXX_ann.mat"))
DATASETS.register("folder", Dataset("crowd", lambda data_dir, split, fold:
                                    read_folder(data_dir, split),
                                    layout="images with a .csv/.txt/.json/.mat of x, y head "
                                           "points beside each, in train/ and test/ (or not)"))
DATASETS.register("mall", Dataset("crowd", _mall,
                                  layout="mall_gt.mat and frames/seq_000001.jpg ..."))
DATASETS.register("live", Dataset("iqa", lambda data_dir: _with_sizes(_live(data_dir)),
                                  by_reference=True,
                                  layout="jp2k/ jpeg/ wn/ gblur/ fastfading/ refimgs/, "
                                         "dmos.mat and refnames_all.mat (LIVE release 2)"))
DATASETS.register("tid2013", Dataset("iqa", lambda data_dir: _with_sizes(_tid2013(data_dir)),
                                     by_reference=True,
                                     layout="distorted_images/ and mos_with_names.txt"))
DATASETS.register("clive", Dataset("iqa", lambda data_dir: _with_sizes(_clive(data_dir)),
                                   by_reference=True,
                                   layout="Images/ and Data/AllImages_release.mat, "
                                          "Data/AllMOS_release.mat (ChallengeDB_release)"))
