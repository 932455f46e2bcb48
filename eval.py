"""Evaluate a trained run, or run it on your own images.

    python eval.py --workdir runs/crowd_cpu_small                 # test split: metrics, CSV, PNGs
    python eval.py --workdir runs/crowd_cpu_small --which latest  # the last weights
    python eval.py --workdir runs/crowd_cpu_small --images photo.jpg my_folder/
    python eval.py --workdir runs/crowd_cpu_small --images street.mp4 --every_nth_frame 5
    python eval.py --workdir runs/crowd_cpu_small --to_label unlabeled_folder/  # label these first

Writes into <workdir>/eval_<split>_<which>/ (or --output): results.json (metrics, config,
package versions, device), predictions.csv, and pictures. From Python: rankjax.load.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's C++ start-up notices

import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)
from rankjax import cli  # noqa: E402


def main(argv: list[str] | None = None) -> None:
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
                        help="your own images, videos or folders (no labels): counts or quality "
                             "scores; a video gets a per-frame CSV, a plot and an overlay video")
    parser.add_argument("--to_label", nargs="+", metavar="PATH",
                        help="unlabeled images or folders: rank them for annotation, least "
                             "certain first (the paper's active-learning criterion): "
                             "to_label.csv")
    parser.add_argument("--every_nth_frame", type=int, default=1, metavar="N",
                        help="videos: predict every N-th frame")
    parser.add_argument("--output", help="output folder (default: inside the run directory)")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="change how the run is evaluated: count_protocol=whole|tiles, "
                             "test_crops=N, certainty_pairs=K (--to_label)")
    cli.add_debug_option(parser)
    args = parser.parse_args(argv)
    cli.setup_logging()
    with cli.user_errors(args.debug, also=(ValueError,)):
        evaluate(args)


def evaluate(args: argparse.Namespace) -> None:
    from rankjax import api, config as config_lib, experiment, restore, rundir
    from rankjax.data import splits
    from rankjax import sharding, storage

    cfg = rundir.read_config(args.workdir)
    changes = dict(config_lib.split_override(item) for item in args.set)
    api.check_evaluation_fields(cfg, changes)
    cfg = config_lib.apply_overrides(cfg, changes)
    sharding.maybe_initialize_distributed(cfg.distributed)
    params, label = restore.restore_params(cfg, args.workdir, args.which, args.checkpoint)
    predictor = api.Predictor(cfg, params, label)

    if args.images and args.to_label:
        raise ValueError("give --images or --to_label, not both")
    if args.images:
        predict_own(args, cfg, predictor)
        return
    if args.to_label:
        rank_for_labeling(args, cfg, predictor)
        return
    sources = splits.build_sources(cfg)
    records = sources.test if args.split == "test" else sources.validation
    suffix = "".join(f"_{item.replace('=', '-')}" for item in args.set)
    out = args.output or storage.join(args.workdir, f"eval_{args.split}_{args.which}{suffix}")
    metrics = experiment.evaluate_split(cfg, predictor.model, params, records, out, label,
                                        args.split)
    print(f"{args.split} metrics ({label}): {json.dumps(metrics)}")
    print(f"outputs: {storage.absolute(out)}")


def predict_own(args: argparse.Namespace, cfg, predictor) -> None:
    """--images: one line per image or video; predictions.csv written as it goes, and a
    rerun into the same output folder continues after the last finished image. A file
    that is missing, cannot be read or is too small is named and skipped: the others'
    results are still written, and the exit status is 2."""
    import logging

    from rankjax import api, image_io, rundir, stopping, storage, video

    if args.every_nth_frame < 1:
        raise ValueError(f"--every_nth_frame must be at least 1, got {args.every_nth_frame}")
    out = args.output or storage.join(args.workdir, "images")
    task, value = predictor.task, predictor.task.value_name
    files, missing = api.image_files(args.images, missing_ok=True)
    failed = [f"no such image or folder: {path!r}" for path in missing]  # one message each
    for message in failed:
        logging.error("skipped: %s", message)
    columns = ["path", f"predicted_{value}"] + (["raw_count"] if value == "count" else [])
    table = rundir.ImagePredictionsCsv(storage.join(out, "predictions.csv"), columns)
    if table.done:
        print(f"continuing: {len(table.done)} images of {storage.absolute(out)} are done")
    for path in files:
        stopping.raise_if_requested()
        if path in table.done:
            continue
        try:
            if video.is_video(path):
                summary = predictor.predict_video(path, out, every=args.every_nth_frame)
                print(f"{path}\t{summary['frames']} frames, {value} mean {summary['mean']:.2f} "
                      f"(min {summary['min']:.2f}, max {summary['max']:.2f}), "
                      f"{summary['frames_per_second']:.1f} frames/s")
                continue
            image = image_io.as_float_image(path)
            refusal, warnings = task.image_problems(cfg, image)
            if refusal:
                raise ValueError(f"{path}: {refusal}")
        except ValueError as error:  # unreadable, too small (DatasetError too)
            logging.error("skipped: %s", error)
            failed.append(str(error))
            continue
        for warning in warnings:
            logging.warning("%s: %s", path, warning)
        result = predictor.predict(image)[0]
        task.save_prediction_picture(cfg, out, path, image, result)
        table.add([path, result[value]] + ([result["raw_count"]] if value == "count" else []))
        print(f"{path}\t{result[value]:.2f}")
    total = len(files) + len(missing)
    if failed and len(failed) == total:
        raise ValueError(failed[0] if total == 1 else
                         f"none of the {total} files could be predicted (named above)")
    print(f"outputs: {storage.absolute(out)}")
    if failed:
        raise ValueError(f"{len(failed)} of {total} files could not be predicted (named "
                         f"above); the others' predictions are in {storage.absolute(out)}")


def rank_for_labeling(args: argparse.Namespace, cfg, predictor) -> None:
    """--to_label: every image's certainty C(z) from its own ranked sets (no labels needed),
    least certain first, in to_label.csv; the first lines printed."""
    import csv

    from rankjax import api, image_io, rundir, storage, video
    from rankjax.certainty import labeling_order

    paths = api.image_files(args.to_label)
    for path in paths:  # one clear error naming the file before any work
        if video.is_video(path):
            raise ValueError(f"{path}: --to_label ranks images; extract the video's frames "
                             f"first (or count it with --images)")
        image_io.as_float_image(path)
    certainty = predictor.certainty(paths, progress=not args.debug)
    order = labeling_order(certainty, cfg.seed)
    out = args.output or storage.join(args.workdir, "to_label")
    rows = [(rank + 1, paths[i], f"{certainty[i]:.4f}") for rank, i in enumerate(order)]

    def write(f):
        writer = csv.writer(f)
        writer.writerow(["priority", "image", "certainty"])
        writer.writerows(rows)

    rundir.write_atomic(storage.join(out, "to_label.csv"), write)
    perfect = int((certainty == 1).sum())
    print(f"{len(paths)} images, certainty from {cfg.certainty_pairs} ranked pairs each "
          f"(mean {certainty.mean():.3f}; {perfect} ordered perfectly); label first:")
    for priority, path, value in rows[:10]:
        print(f"{priority}\t{path}\t{value}")
    print(f"outputs: {storage.absolute(storage.join(out, 'to_label.csv'))}")


if __name__ == "__main__":
    cli.stop_cleanly_on_sigterm()
    main()
