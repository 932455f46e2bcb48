"""Synthetic datasets generated in code, so that `python train.py` runs with no download.

SYNTHETIC crowd: textured ground and sky, people (body + head) drawn back to front
at a perspective-dependent scale (small near the horizon, large near the camera),
so nearer people occlude farther ones, plus uncounted clutter (trees, poles,
boxes). The head centres are the annotation. Written once, in the generic folder
layout (image.png + image.json points), to a cache folder.

SYNTHETIC IQA: pristine images (matplotlib's bundled grace_hopper.jpg plus
procedurally generated scenes) distorted with rankjax.distortions at the paper's
five levels. Label (documented, synthetic): quality = 5 - level, so pristine = 5 and
the strongest distortion = 0, higher is better, for every distortion type alike.

Neither set says anything about real-world accuracy; they exercise the full method.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from rankjax import cache, distortions

CROWD_VERSION = "synthetic_crowd_v1"
QUALITY_VERSION = "synthetic_iqa_v2"  # v2: JPEG 2000 levels distinct on small images
CROWD_SPLITS = {"train": 120, "test": 30}
CROWD_SIZES = ((192, 256), (208, 288), (176, 240))  # (height, width); varied for evaluation
QUALITY_PRISTINE = 12
QUALITY_SIZE = 256


# --------------------------------------------------------------------------- crowd

def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    grid = rng.random((cells, cells)).astype(np.float32)
    image = Image.fromarray((grid * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    return np.asarray(image, np.float32) / 255.0


def _draw_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, horizon: int,
                  height: int, width: int, person_height) -> None:
    """Clutter behind the people: trees, poles, boxes (never counted)."""
    for _ in range(rng.integers(2, 8)):
        y = rng.uniform(horizon, height)
        size = person_height(y) * rng.uniform(0.8, 2.0)
        x = rng.uniform(0, width)
        kind = rng.integers(3)
        colour = tuple(int(c) for c in rng.integers(20, 120, 3))
        if kind == 0:  # tree: trunk and crown
            draw.rectangle([x - size * 0.08, y - size, x + size * 0.08, y], fill=(70, 50, 30))
            draw.ellipse([x - size * 0.5, y - size * 1.8, x + size * 0.5, y - size * 0.8],
                         fill=(30, int(rng.integers(90, 160)), 40))
        elif kind == 1:  # pole
            draw.rectangle([x - 1, y - 2.5 * size, x + 1, y], fill=colour)
        else:  # box / stall
            draw.rectangle([x - size, y - size * 0.7, x + size, y], fill=colour)


def render_crowd(rng: np.random.Generator, height: int, width: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic crowd scene: (uint8 image (H, W, 3), float32 head points (N, 2) x, y)."""
    horizon = int(height * rng.uniform(0.12, 0.35))
    sky = np.array(rng.uniform([120, 150, 190], [190, 210, 250]), np.float32)
    ground = np.array(rng.uniform([70, 60, 40], [160, 150, 120]), np.float32)
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    base = np.where(rows < horizon, sky, ground * (0.8 + 0.4 * rows / height))
    texture = 0.7 + 0.6 * _smooth_noise(rng, height, width, 8)[..., None]
    grain = rng.normal(0, 8, (height, width, 1))
    canvas = Image.fromarray(np.clip(base * texture + grain, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)

    def person_height(y):  # perspective: people grow towards the camera
        return 6.0 + 0.28 * (y - horizon) * (height / 192.0) ** 0.5

    _draw_clutter(draw, rng, horizon, height, width, person_height)

    # People: a mix of dense clusters and scattered walkers.
    n_clusters = rng.integers(0, 4)
    n_people = int(rng.choice([rng.integers(0, 15), rng.integers(15, 80), rng.integers(80, 220)]))
    feet = []
    for _ in range(n_people):
        if n_clusters and rng.random() < 0.7:
            cx = rng.uniform(0.1, 0.9) * width + rng.normal(0, width * 0.08)
            cy = rng.uniform(horizon, height) + rng.normal(0, height * 0.05)
        else:
            cx, cy = rng.uniform(0, width), rng.uniform(horizon, height * 1.1)
        feet.append((cx, cy))
    feet.sort(key=lambda p: p[1])  # far (small y) first, near people drawn over them
    heads = []
    for x, y in feet:
        h = person_height(max(y, horizon + 1))
        head_r = 0.11 * h
        head = (x + rng.normal(0, 0.03 * h), y - h + head_r)
        clothes = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse([x - 0.2 * h, y - h + 2 * head_r, x + 0.2 * h, y], fill=clothes)
        skin = tuple(int(c) for c in np.array([224, 172, 105]) * rng.uniform(0.35, 1.05))
        draw.ellipse([head[0] - head_r, head[1] - head_r, head[0] + head_r, head[1] + head_r],
                     fill=skin)
        hair = tuple(int(c) for c in rng.integers(0, 70, 3))
        draw.chord([head[0] - head_r, head[1] - head_r, head[0] + head_r, head[1] + head_r],
                   180, 360, fill=hair)
        if 0 <= head[0] < width and 0 <= head[1] < height:
            heads.append(head)
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.6))
    return np.asarray(canvas), np.asarray(heads, np.float32).reshape(-1, 2)


def crowd_folder(data_dir: str = "", seed: int = 0) -> str:
    """The synthetic crowd set's folder (train/, test/), generated on first use."""
    def write(folder):
        rng = np.random.default_rng(seed)
        for split, count in CROWD_SPLITS.items():
            os.makedirs(os.path.join(folder, split))
            for i in range(count):
                height, width = CROWD_SIZES[i % len(CROWD_SIZES)]
                image, heads = render_crowd(rng, height, width)
                stem = os.path.join(folder, split, f"{split}_{i:04d}")
                Image.fromarray(image).save(stem + ".png")
                with open(stem + ".json", "w") as f:
                    json.dump({"points": heads.round(2).tolist()}, f)

    return cache.materialise(os.path.join(cache.root(data_dir), f"{CROWD_VERSION}_seed{seed}"),
                             write)


# --------------------------------------------------------------------------- IQA

def pristine_images(count: int, size: int = QUALITY_SIZE, seed: int = 0) -> list[np.ndarray]:
    """grace_hopper.jpg (shipped with matplotlib) plus procedural scenes, uint8 (size, size, 3)."""
    import matplotlib

    rng = np.random.default_rng(seed)
    images = []
    sample = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    if os.path.isfile(sample):
        with Image.open(sample) as photo:
            images.append(np.asarray(photo.convert("RGB").resize((size, size), Image.LANCZOS)))
    while len(images) < count:
        low = _smooth_noise(rng, size, size, 4)[..., None]
        colours = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        base = colours[0] * low + colours[1] * (1 - low)
        canvas = Image.fromarray(base.astype(np.uint8))
        draw = ImageDraw.Draw(canvas)
        for _ in range(rng.integers(8, 30)):  # edges and textures for distortions to destroy
            box = sorted(rng.uniform(0, size, 2)), sorted(rng.uniform(0, size, 2))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = [box[0][0], box[1][0], box[0][1], box[1][1]]
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(shape, fill=fill)
        stripes = (np.sin(np.arange(size) * rng.uniform(0.2, 1.5)) > 0)[None, :, None]
        array = np.asarray(canvas, np.float32)
        array = np.where(stripes & (_smooth_noise(rng, size, size, 3)[..., None] > 0.7),
                         255 - array, array)
        images.append(array.astype(np.uint8))
    return images


def quality_folder(data_dir: str = "", seed: int = 0) -> tuple[str, dict[str, float]]:
    """Synthetic IQA images ref{r}_{type}_{level}.png and their qualities (5 - level).

    The cache folder's name holds a digest of the distortion types and levels, so a
    change to either writes a new set instead of reusing a stale one.
    """
    kinds = distortions.PAPER_DISTORTIONS
    digest = hashlib.sha1(repr([(k, distortions.DISTORTIONS.get(k).levels)
                                for k in kinds]).encode()).hexdigest()[:8]

    def write(folder):
        labels = {}
        for r, image in enumerate(pristine_images(QUALITY_PRISTINE, seed=seed)):
            name = f"ref{r:02d}_pristine_0.png"
            Image.fromarray(image).save(os.path.join(folder, name))
            labels[name] = 5.0
            for kind in kinds:
                for level in range(1, 6):
                    distorted = distortions.distort(image, kind, level, seed=(seed * 1000 + r, level))
                    name = f"ref{r:02d}_{kind}_{level}.png"
                    Image.fromarray(np.asarray(distorted)).save(os.path.join(folder, name))
                    labels[name] = 5.0 - level
        with open(os.path.join(folder, "labels.json"), "w") as f:
            json.dump(labels, f, indent=0, sort_keys=True)

    folder = cache.materialise(os.path.join(cache.root(data_dir),
                                            f"{QUALITY_VERSION}_{digest}_seed{seed}"), write)
    with open(os.path.join(folder, "labels.json")) as f:
        return folder, json.load(f)
