"""Command-line plumbing shared by train.py and eval.py: one option per config field."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from rankjax import config as config_lib


def add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "config fields (override the preset; see rankjax/config.py)")
    for field in dataclasses.fields(config_lib.Config):
        if field.name == "task":  # --task picks the preset instead
            continue
        default = field.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        group.add_argument(f"--{field.name}", default=None, metavar=type(default).__name__.upper()
                           if not isinstance(default, tuple) else "A,B",
                           help=f"{field.metadata.get('help', '')} (class default: {shown})")


def config_from_args(args: argparse.Namespace) -> config_lib.Config:
    from rankjax import tasks

    preset = args.preset or tasks.get(args.task).default_preset
    cfg = config_lib.get_preset(preset)
    if args.task not in (None, cfg.task):
        raise SystemExit(f"preset {preset!r} is a {cfg.task!r} preset, not {args.task!r}")
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_lib.Config)
                 if f.name != "task" and getattr(args, f.name, None) is not None}
    return config_lib.apply_overrides(cfg, overrides)


def setup_logging() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    for noisy in ("absl", "jax._src.xla_bridge", "orbax", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
