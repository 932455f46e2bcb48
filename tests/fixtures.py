"""Tiny datasets in each official on-disk layout, written into a temporary folder."""

import json
import os

import numpy as np
import scipy.io
from PIL import Image


# The suite compiles many tiny programs and runs each only a few times: XLA's backend at
# -O0 compiles them faster, with the same semantics; float results may differ from -O2 in
# the last bits, which no test depends on. conftest.py sets it for the test processes too.
FAST_COMPILE = "--xla_backend_optimization_level=0"


def child_env(devices=None, **extra):
    """The environment of a child process (train.py, eval.py, a script): one CPU device
    unless `devices` says, the fast-compile flag, quiet TensorFlow, unbuffered output, and
    conftest's caches of synthetic data and compiled programs."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", **extra)
    env["XLA_FLAGS"] = FAST_COMPILE + (f" --xla_force_host_platform_device_count={devices}"
                                       if devices else "")
    return env


def write_flat_image(path, height, width, grey):
    """One grey level everywhere (no texture: any spread in it is what was added)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((height, width, 3), grey, np.uint8)).save(path)
    return path


def write_image(path, height=48, width=64, seed=0, mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(array)
    image = image.convert("L") if mode == "L" else image
    fmt = {".jpg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}[
        os.path.splitext(path)[1].lower()]
    image.save(path, fmt)
    return path


def random_points(n, height, width, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, width, n), rng.uniform(0, height, n)], axis=1)


def shanghaitech_mat(path, points):
    """GT_IMG_n.mat as the ShanghaiTech authors wrote it: image_info{1}.location / .number."""
    inner = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    inner[0, 0] = (np.asarray(points, np.float64), np.array([[len(points)]], np.uint16))
    info = np.empty((1, 1), dtype=object)
    info[0, 0] = inner
    scipy.io.savemat(path, {"image_info": info})


def make_shanghaitech(root, part="B", counts={"train": (3, 5), "test": (2,)}):
    for split, per_image in counts.items():
        base = os.path.join(root, f"part_{part}", f"{split}_data")
        os.makedirs(os.path.join(base, "ground-truth"), exist_ok=True)
        for i, n in enumerate(per_image, 1):
            write_image(os.path.join(base, "images", f"IMG_{i}.jpg"), seed=i)
            shanghaitech_mat(os.path.join(base, "ground-truth", f"GT_IMG_{i}.mat"),
                             random_points(n, 48, 64, i))
    return root


def make_ucf_cc_50(root):
    os.makedirs(root, exist_ok=True)
    for i in range(1, 51):
        write_image(os.path.join(root, f"{i}.jpg"), 40, 40, seed=i, mode="L")
        scipy.io.savemat(os.path.join(root, f"{i}_ann.mat"),
                         {"annPoints": random_points(i, 40, 40, i)})
    return root


def make_qnrf(root):
    for split, sizes in (("Train", [(100, 2048), (60, 80)]), ("Test", [(50, 50)])):
        for i, (h, w) in enumerate(sizes, 1):
            path = write_image(os.path.join(root, split, f"img_{i:04d}.jpg"), h, w, seed=i)
            scipy.io.savemat(path[:-4] + "_ann.mat",
                             {"annPoints": random_points(4, h, w, i)})
    return root


def make_point_folder(root):
    """One image per annotation format."""
    os.makedirs(root, exist_ok=True)
    write_image(os.path.join(root, "a.png"))
    with open(os.path.join(root, "a.json"), "w") as f:
        json.dump({"points": [[1, 2], [30, 40]]}, f)
    write_image(os.path.join(root, "sub", "b.jpg"))
    with open(os.path.join(root, "sub", "b.csv"), "w") as f:
        f.write("x,y\n5,6\n7,8\n9,10\n")
    write_image(os.path.join(root, "c.bmp"))
    with open(os.path.join(root, "c.txt"), "w") as f:
        f.write("# x y\n3.5 4.5\n")
    write_image(os.path.join(root, "d.webp"))
    scipy.io.savemat(os.path.join(root, "d.mat"), {"annPoints": np.zeros((0, 2))})
    return root


def make_labeled_folder(root, splits, height, width, points=lambda i: i + 1, suffix=".txt",
                        delimiter=" "):
    """A `folder` dataset: {split: number of images} PNGs of height x width, image i with
    points(i) random points in a point file of `suffix` beside it."""
    for split, n in splits.items():
        for i in range(n):
            write_image(os.path.join(root, split, f"{split}{i}.png"), height, width, seed=i)
            np.savetxt(os.path.join(root, split, f"{split}{i}{suffix}"),
                       random_points(points(i), height, width, i), delimiter=delimiter)
    return str(root)


def make_mall(root, frames=11, height=24, width=32):
    """Mall's layout: frames/seq_%06d.jpg and mall_gt.mat with frame{i}.loc and count."""
    os.makedirs(os.path.join(root, "frames"), exist_ok=True)
    frame = np.empty((1, frames), dtype=object)  # a MATLAB cell array of structs
    counts = np.zeros((frames, 1), np.float64)
    for i in range(frames):
        write_image(os.path.join(root, "frames", f"seq_{i + 1:06d}.jpg"), height, width, seed=i)
        points = random_points(i % 5, height, width, i)
        struct = np.empty((1, 1), dtype=[("loc", "O")])
        struct[0, 0]["loc"] = points
        frame[0, i] = struct
        counts[i] = len(points)
    scipy.io.savemat(os.path.join(root, "mall_gt.mat"), {"frame": frame, "count": counts})
    return root


def make_clive(root, names=("t1.bmp", "a.bmp", "B.JPG", "c.bmp"), skip=1):
    """CLIVE's layout (with `skip` left-out training images in front, as t1..t7 are)."""
    os.makedirs(os.path.join(root, "Data"), exist_ok=True)
    for i, name in enumerate(names):
        folder = "Images/trainingImages" if i < skip else "Images"
        write_image(os.path.join(root, folder, name), 40, 40, seed=i)
    listing = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        listing[i, 0] = np.array([name])
    scipy.io.savemat(os.path.join(root, "Data", "AllImages_release.mat"),
                     {"AllImages_release": listing})
    scipy.io.savemat(os.path.join(root, "Data", "AllMOS_release.mat"),
                     {"AllMOS_release": np.arange(10.0, 10.0 + len(names))[None]})
    return root
