"""Point annotations from dot images: a folder rankjax's `folder` dataset reads.

Many counting sets (e.g. microscopy cells) mark each object with one coloured pixel in a
second image beside the photograph (`001cell.png` + `001dots.png`). This writes each
photograph with a `.txt` of its dots' x, y pixel coordinates into `train/` and `test/`:

    python scripts/dots_to_points.py SOURCE OUT --image_suffix cell.png --dots_suffix dots.png \
        --train 64 --test 100

The first --train pairs (sorted by name) become train/, the next --test pairs test/. A
dot is a pixel whose red channel is above --threshold and whose green and blue are not.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil

import numpy as np
from PIL import Image


def dots(path: str, threshold: int = 127) -> np.ndarray:
    """(N, 2) x, y of the red pixels of a dot image."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(np.int32)
    red = (pixels[..., 0] > threshold) & (pixels[..., 1] <= threshold) & \
        (pixels[..., 2] <= threshold)
    y, x = np.nonzero(red)
    return np.stack([x, y], axis=1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--image_suffix", default="cell.png")
    parser.add_argument("--dots_suffix", default="dots.png")
    parser.add_argument("--train", type=int, required=True)
    parser.add_argument("--test", type=int, required=True)
    parser.add_argument("--threshold", type=int, default=127)
    args = parser.parse_args()
    images = sorted(glob.glob(os.path.join(args.source, f"*{args.image_suffix}")))
    if len(images) < args.train + args.test:
        parser.error(f"{len(images)} images *{args.image_suffix} in {args.source}, fewer than "
                     f"--train + --test = {args.train + args.test}")
    for split, chosen in (("train", images[:args.train]),
                          ("test", images[args.train:args.train + args.test])):
        folder = os.path.join(args.out, split)
        os.makedirs(folder, exist_ok=True)
        for image in chosen:
            stem = os.path.basename(image)[:-len(args.image_suffix)].rstrip("_-") or "image"
            marks = image[:-len(args.image_suffix)] + args.dots_suffix
            if not os.path.isfile(marks):
                parser.error(f"{image}: no dot image {marks}")
            extension = os.path.splitext(image)[1]
            shutil.copyfile(image, os.path.join(folder, stem + extension))
            np.savetxt(os.path.join(folder, stem + ".txt"), dots(marks, args.threshold),
                       fmt="%.1f")
        print(f"{split}: {len(chosen)} images in {folder}")


if __name__ == "__main__":
    main()
