"""Evaluate a trained run, or run it on your own images.

    python eval.py --workdir runs/crowd_cpu_small                 # test split: metrics, CSV, PNGs
    python eval.py --workdir runs/crowd_cpu_small --which latest  # the last weights
    python eval.py --workdir runs/crowd_cpu_small --images photo.jpg my_folder/

Writes into <workdir>/eval_<split>_<which>/ (or --output): results.json (metrics, config,
package versions, device), predictions.csv, and pictures. From Python: rankjax.load.
"""

from __future__ import annotations

import argparse
import json
import os

import rankjax  # noqa: F401  (CPU flags before JAX starts)
from rankjax import cli

# Config fields that change how a trained network is evaluated, not the network.
EVALUATION_FIELDS = ("count_protocol", "test_crops")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="a run directory made by train.py")
    parser.add_argument("--checkpoint", help="a checkpoint folder (.../checkpoints/<step> or "
                        ".../best/<step>) instead of the run's own")
    parser.add_argument("--which", choices=("best", "latest"), default="best",
                        help="the run's best checkpoint on validation (as train.py reports; "
                             "the latest when the run has none) or its last one")
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--images", nargs="+", metavar="PATH",
                        help="your own images or folders (no labels): counts or quality scores")
    parser.add_argument("--output", help="output folder (default: inside the run directory)")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="change how the run is evaluated: " + ", ".join(EVALUATION_FIELDS))
    args = parser.parse_args()
    cli.setup_logging()

    from rankjax import (api, checkpoints, config as config_lib, datasets, experiment, image_io,
                         input_pipeline, rundir, sharding)

    try:
        cfg = rundir.read_config(args.workdir)
        changes = dict(config_lib.split_override(item) for item in args.set)
        if set(changes) - set(EVALUATION_FIELDS):
            cli.fail(f"--set takes only {', '.join(EVALUATION_FIELDS)}")
        cfg = config_lib.apply_overrides(cfg, changes)
        sharding.maybe_initialize_distributed(cfg.distributed)
        params, label = api.restore_params(cfg, args.workdir, args.which, args.checkpoint)
    except (rundir.RunDirError, checkpoints.CheckpointError, ValueError) as error:
        cli.fail(str(error))
    predictor = api.Predictor(cfg, params, label)

    if args.images:
        out = args.output or os.path.join(args.workdir, "images")
        value, rows = predictor.task.value_name, []
        try:
            for path in api.image_files(args.images):
                image = image_io.as_float_image(path)
                result = predictor.predict(image)[0]
                predictor.task.save_prediction_picture(cfg, out, path, image, result)
                rows.append((path, result[value]))
                print(f"{path}\t{result[value]:.2f}")
        except (datasets.DatasetError, ValueError) as error:
            cli.fail(str(error))
        rundir.write_image_predictions_csv(os.path.join(out, "predictions.csv"), rows, value)
        print(f"outputs: {os.path.abspath(out)}")
        return
    try:
        sources = input_pipeline.build_sources(cfg)
    except (datasets.DatasetError, FileNotFoundError) as error:
        cli.fail(f"cannot read the run's dataset: {error}")
    records = sources.test if args.split == "test" else sources.validation
    suffix = "".join(f"_{item.replace('=', '-')}" for item in args.set)
    out = args.output or os.path.join(args.workdir, f"eval_{args.split}_{args.which}{suffix}")
    metrics = experiment.evaluate_split(cfg, predictor.model, params, records, out, label,
                                        args.split)
    print(f"{args.split} metrics ({label}): {json.dumps(metrics)}")
    print(f"outputs: {os.path.abspath(out)}")


if __name__ == "__main__":
    main()
