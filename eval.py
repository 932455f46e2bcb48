"""Evaluate a trained run, or run it on your own images.

    python eval.py --workdir runs/crowd_cpu_small                 # test split: metrics, CSV, PNGs
    python eval.py --workdir runs/crowd_cpu_small --which best    # the best-on-validation weights
    python eval.py --workdir runs/crowd_cpu_small --images photo.jpg my_folder/

Writes into <workdir>/eval_<split>_<which>/ (or --output): results.json (metrics, config,
package versions, device), predictions.csv, and pictures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import rankjax  # noqa: F401  (CPU flags before JAX starts)
from rankjax import cli


def load_run(workdir: str, checkpoint: str | None, which: str):
    """(config, model, params, checkpoint label) of a run directory."""
    import jax

    from rankjax import checkpoints, config as config_lib, sharding, training

    path = os.path.join(workdir, "config.json")
    if not os.path.isdir(workdir):
        cli.fail(f"run directory not found: {workdir!r}")
    if not os.path.isfile(path):
        cli.fail(f"{workdir!r} is not a rankjax run directory (no config.json)")
    with open(path) as f:
        cfg = config_lib.from_json(f.read())
    mesh = sharding.make_mesh()
    model = training.build_model(cfg)
    tx = training.make_optimizer(cfg)
    # Only the structure matters: the checkpoint's arrays replace these.
    target = training.create_train_state(cfg, model, tx, jax.random.key(0), mesh,
                                         params=training.init_params(
                                             cfg.replace(init="scratch", weights_file=""),
                                             model, jax.random.key(0)))
    try:
        if checkpoint:
            state, meta = checkpoints.restore_path(checkpoint, target, cfg.task)
            label = os.path.abspath(checkpoint)
        else:
            store = checkpoints.RunCheckpoints(workdir)
            state, meta = store.restore(target, which, cfg.task)
            label = os.path.join(workdir, "checkpoints" if which == "latest" else "best",
                                 str(meta["step"]))
            store.close()
    except checkpoints.CheckpointError as error:
        cli.fail(str(error))
    return cfg, model, state.params, label


def own_images(cfg, model, params, paths: list[str], out_dir: str) -> None:
    import numpy as np
    from PIL import Image

    from rankjax import datasets, evaluation, input_pipeline, pictures

    files = []
    for path in paths:
        if os.path.isdir(path):
            files += datasets.list_images(path)
        elif os.path.isfile(path):
            files.append(path)
        else:
            cli.fail(f"no such image or folder: {path!r}")
    os.makedirs(out_dir, exist_ok=True)
    predict = evaluation.make_predict_fn(model)
    rows = []
    for path in files:
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"), np.float32) / 255.0
        except Exception as error:  # PIL raises many types for broken files
            cli.fail(f"cannot read image {path!r}: {error}")
        stem = os.path.splitext(os.path.basename(path))[0]
        if cfg.task == "crowd":
            density = evaluation.masked_density(predict, params,
                                                input_pipeline.pad_for_eval(array))
            value = float(density.sum())
            height, width = array.shape[:2]
            pictures.overlay(os.path.join(out_dir, f"{stem}_density.png"), array,
                             density[: -(-height // 16), : -(-width // 16)],
                             f"{os.path.basename(path)}: {value:.1f} people")
        else:
            value = float(np.mean(predict(params, quality_crops(array, cfg))))
        rows.append((path, value))
        print(f"{path}\t{value:.2f}")
    kind = "count" if cfg.task == "crowd" else "quality_score"
    with open(os.path.join(out_dir, "predictions.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", f"predicted_{kind}"])
        writer.writerows((p, f"{v:.4f}") for p, v in rows)


def quality_crops(array, cfg):
    """test_crops random crops (fixed seed); smaller images are resized up to the input size."""
    import numpy as np
    from PIL import Image

    size = cfg.image_size
    height, width = array.shape[:2]
    if min(height, width) < size:
        scale = size / min(height, width)
        resized = Image.fromarray((array * 255).astype(np.uint8)).resize(
            (max(size, round(width * scale)), max(size, round(height * scale))), Image.BICUBIC)
        array = np.asarray(resized, np.float32) / 255.0
        height, width = array.shape[:2]
    rng = np.random.default_rng(cfg.seed)
    tops = rng.integers(0, height - size + 1, cfg.test_crops)
    lefts = rng.integers(0, width - size + 1, cfg.test_crops)
    return np.stack([array[t:t + size, l:l + size] for t, l in zip(tops, lefts)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="a run directory made by train.py")
    parser.add_argument("--checkpoint", help="a checkpoint folder (.../checkpoints/<step> or "
                        ".../best/<step>) instead of the run's own")
    parser.add_argument("--which", choices=("latest", "best"), default="latest",
                        help="the run's last checkpoint or its best on validation")
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--images", nargs="+", metavar="PATH",
                        help="your own images or folders (no labels): counts or quality scores")
    parser.add_argument("--output", help="output folder (default: inside the run directory)")
    args = parser.parse_args()
    cli.setup_logging()
    cfg, model, params, label = load_run(args.workdir, args.checkpoint, args.which)

    from rankjax import datasets, experiment, input_pipeline

    if args.images:
        out = args.output or os.path.join(args.workdir, "images")
        try:
            own_images(cfg, model, params, args.images, out)
        except datasets.DatasetError as error:
            cli.fail(str(error))
        print(f"outputs: {os.path.abspath(out)}")
        return
    try:
        sources = input_pipeline.build_sources(cfg)
    except (datasets.DatasetError, FileNotFoundError) as error:
        cli.fail(f"cannot read the run's dataset: {error}")
    records = sources.test if args.split == "test" else sources.validation
    out = args.output or os.path.join(args.workdir, f"eval_{args.split}_{args.which}")
    metrics = experiment.write_test_outputs(cfg, model, params, records, out, label, args.split)
    print(f"{args.split} metrics ({label}): {json.dumps(metrics)}")
    print(f"outputs: {os.path.abspath(out)}")


if __name__ == "__main__":
    main()
