"""What train.py and eval.py do once their command line is parsed (rankjax.cli parses it).

    train(args)      a preset with the --FIELD overrides: checked, trained, evaluated,
                     or the cycles of active learning; prints the test metrics
    evaluate(args)   a trained run on its test or validation split, on --images (images,
                     videos, folders) or --to_label (an annotation order)

Each ends a user's error with one line (rankjax.cli.user_errors).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os

from rankjax import (active, api, certainty, checks, cli, config as config_lib, experiment,
                     image_io, presets, restore, rundir, sharding, stopping, storage, video)
from rankjax.data import splits


def train(args: argparse.Namespace) -> None:
    """train.py: one run (or Algorithm 1's cycles) of the config the arguments give."""
    if args.preset and args.preset in presets.PRESETS:
        args.task = presets.PRESETS[args.preset].task
    cli.setup_logging()
    with cli.user_errors(args.debug, also=(KeyError, ValueError)):
        cfg = checks.check(cli.config_from_args(args))
    workdir = args.workdir or os.path.join("runs", cfg.name)
    sharding.maybe_initialize_distributed(cfg.distributed)
    with cli.user_errors(args.debug, also=(ValueError,)):
        sharding.check_batch_split(cfg.labeled_batch, cfg.ranked_groups)
    if cfg.active_learning:
        _active_learning(args, cfg, workdir)
        return
    with cli.user_errors(args.debug):
        metrics = experiment.train_and_evaluate(cfg, workdir, args.overwrite,
                                                progress=not args.quiet)
    print(f"test metrics: {json.dumps(metrics)}")
    last = storage.join(workdir, "test_last", "results.json")
    if storage.exists(last):
        print(f"test metrics of the last checkpoint: "
              f"{json.dumps(json.loads(storage.read_text(last))['metrics'])}")
    summary = storage.join(workdir, "summary.json")
    if storage.exists(summary):
        print(f"training-mean predictor (the labeled images' mean for every test image): "
              f"{json.dumps(json.loads(storage.read_text(summary))['training_mean'])}")
    print(f"run directory: {storage.absolute(workdir)}")


def _active_learning(args: argparse.Namespace, cfg: config_lib.Config, workdir: str) -> None:
    with cli.user_errors(args.debug):
        rows = active.run(cfg, workdir, args.overwrite, progress=not args.quiet)
    for row in rows:
        metrics = {k: v for k, v in row.items()
                   if k not in ("cycle", "labeled", "labeled_fraction")}
        print(f"cycle {row['cycle']}: {row['labeled']} labeled "
              f"({100 * row['labeled_fraction']:.0f}%), test metrics: {json.dumps(metrics)}")
    print(f"selections: {storage.absolute(storage.join(workdir, 'selected.csv'))}")
    print(f"curve: {storage.absolute(storage.join(workdir, 'active_learning.png'))}")


def evaluate(args: argparse.Namespace) -> None:
    """eval.py: a trained run on its test or validation split, --images or --to_label."""
    cli.setup_logging()
    with cli.user_errors(args.debug, also=(ValueError,)):
        _evaluate(args)


def _evaluate(args: argparse.Namespace) -> None:
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
    paths = api.image_files(args.to_label)
    for path in paths:  # one clear error naming the file before any work
        if video.is_video(path):
            raise ValueError(f"{path}: --to_label ranks images; extract the video's frames "
                             f"first (or count it with --images)")
        image_io.as_float_image(path)
    values = predictor.certainty(paths, progress=not args.debug)
    order = certainty.labeling_order(values, cfg.seed)
    out = args.output or storage.join(args.workdir, "to_label")
    rows = [(rank + 1, paths[i], f"{values[i]:.4f}") for rank, i in enumerate(order)]

    def write(f):
        writer = csv.writer(f)
        writer.writerow(["priority", "image", "certainty"])
        writer.writerows(rows)

    rundir.write_atomic(storage.join(out, "to_label.csv"), write)
    perfect = int((values == 1).sum())
    print(f"{len(paths)} images, certainty from {cfg.certainty_pairs} ranked pairs each "
          f"(mean {values.mean():.3f}; {perfect} ordered perfectly); label first:")
    for priority, path, value in rows[:10]:
        print(f"{priority}\t{path}\t{value}")
    print(f"outputs: {storage.absolute(storage.join(out, 'to_label.csv'))}")
