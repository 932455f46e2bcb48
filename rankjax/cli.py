"""What train.py and eval.py parse, and how they end a user's error: one option per config
field, the presets' values in --help, one line per bad input. Imports no JAX or
TensorFlow (rankjax.config, rankjax.presets and rankjax.errors only), so `--help` answers at
once; what the commands then do is rankjax.commands.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys

from rankjax import config as config_lib, presets, stopping
from rankjax.errors import USER_ERRORS


def script_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose description is the first paragraph of a script's docstring `doc` and
    whose epilog is the rest."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   epilog=doc.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def train_parser(doc: str, argv: list[str] | None = None) -> argparse.ArgumentParser:
    """train.py's options; --help shows the values of the preset `argv` chooses."""
    out = script_parser(doc)
    out.add_argument("--task", choices=tuple(presets.DEFAULT_PRESETS), default="crowd",
                     help="crowd counting or image quality (picks the default preset)")
    out.add_argument("--preset", help="a preset name (default: crowd_cpu_small or "
                     "iqa_cpu_small, the embedded synthetic data at CPU scale)")
    out.add_argument("--workdir", help="run directory (default: runs/<preset name>)")
    out.add_argument("--overwrite", action="store_true",
                     help="delete a run in --workdir whose config differs in anything (else "
                     "a different one is refused, and one that differs only in --steps "
                     "or another resumable setting is resumed)")
    out.add_argument("--list_presets", action="store_true", help="print the presets and exit")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    add_debug_option(out)
    add_config_options(out, chosen_preset(argv))
    return out


def print_presets() -> None:
    for name, preset in sorted(presets.PRESETS.items()):
        print(f"{name:28s} task={preset.task} dataset={preset.dataset} "
              f"paradigm={preset.paradigm} steps={preset.steps}")


def eval_parser(doc: str) -> argparse.ArgumentParser:
    """eval.py's options."""
    out = script_parser(doc)
    out.add_argument("--workdir", required=True, help="a run directory made by train.py")
    out.add_argument("--checkpoint", help="a checkpoint folder (.../checkpoints/<step> or "
                     ".../best/<step>) instead of the run's own")
    out.add_argument("--which", choices=("best", "latest"), default="best",
                     help="the run's best checkpoint on validation (as train.py reports; "
                          "the latest when the run has none) or its last one")
    out.add_argument("--split", choices=("test", "validation"), default="test")
    out.add_argument("--images", nargs="+", metavar="PATH",
                     help="your own images, videos or folders (no labels): counts or quality "
                          "scores; a video gets a per-frame CSV, a plot and an overlay video")
    out.add_argument("--to_label", nargs="+", metavar="PATH",
                     help="unlabeled images or folders: rank them for annotation, least "
                          "certain first (the paper's active-learning criterion): "
                          "to_label.csv")
    out.add_argument("--every_nth_frame", type=int, default=1, metavar="N",
                     help="videos: predict every N-th frame")
    out.add_argument("--output", help="output folder (default: inside the run directory)")
    out.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                     help="change how the run is evaluated: count_protocol=whole|tiles, "
                          "test_crops=N, certainty_pairs=K (--to_label)")
    add_debug_option(out)
    return out


def chosen_preset(argv: list[str] | None = None) -> str:
    """The preset a command line will run (--preset, else --task's default), read before
    the full parse so that --help can show that preset's values."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--task", default="crowd")
    early.add_argument("--preset")
    known, _ = early.parse_known_args(argv)
    if known.preset in presets.PRESETS:
        return known.preset
    return presets.DEFAULT_PRESETS.get(known.task, "")


def add_config_options(parser: argparse.ArgumentParser, preset: str = "") -> None:
    """One --FIELD option per config field; the help shows the value `preset` gives it,
    the common fields first, then the section of the preset's task (e.g. density maps and
    nested crops for crowd counting); other tasks' sections are accepted but not shown."""
    shown_cfg = presets.PRESETS.get(preset)
    values = f"{'preset ' + preset + chr(39) + 's' if shown_cfg else 'the class defaults'}"
    own = config_lib.TASK_SECTIONS.get(shown_cfg.task) if shown_cfg else None
    groups = {"": parser.add_argument_group(
        f"config fields (override the preset; the values shown are {values})")}
    for field in dataclasses.fields(config_lib.Config):
        if field.name == "task":  # --task picks the preset instead
            continue
        section = config_lib.section(field.name)
        if section not in groups:
            groups[section] = parser.add_argument_group(f"{section} task fields")
        value = getattr(shown_cfg, field.name) if shown_cfg else field.default
        shown = ",".join(value) if isinstance(value, tuple) else value
        hidden = own is not None and section not in ("", own)
        groups[section].add_argument(
            f"--{field.name}", default=None,
            metavar=type(field.default).__name__.upper()
            if not isinstance(field.default, tuple) else "A,B",
            help=argparse.SUPPRESS if hidden else f"{field.metadata.get('help', '')} "
            f"({shown!r})")


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")


def config_from_args(args: argparse.Namespace) -> config_lib.Config:
    """The config a parsed command line asks for: its preset (--preset, else --task's
    default) with every --FIELD given. Its names are checked by rankjax.checks.check."""
    preset = args.preset or presets.DEFAULT_PRESETS[args.task]
    cfg = presets.get_preset(preset)
    if args.task not in (None, cfg.task):
        raise ValueError(f"preset {preset!r} is a {cfg.task!r} preset, not {args.task!r}")
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_lib.Config)
                 if f.name != "task" and getattr(args, f.name, None) is not None}
    overrides = {**dataset_settings_left_behind(preset, cfg, overrides.get("dataset")),
                 **overrides}
    return config_lib.apply_overrides(cfg, overrides)


def dataset_settings_left_behind(preset: str, cfg: config_lib.Config, dataset: str | None
                                 ) -> dict:
    """The changes a `*_cpu_small` preset needs on another --dataset than its own: its own
    dataset's settings (rankjax.presets.DATASET_CPU_SETTINGS, e.g. ShanghaiTech B's
    half-size images) undone, the new dataset's applied; each change is logged."""
    if not dataset or dataset == cfg.dataset or not preset.endswith("_cpu_small"):
        return {}
    old = presets.DATASET_CPU_SETTINGS.get(cfg.dataset, {})
    new = presets.DATASET_CPU_SETTINGS.get(dataset, {})
    defaults = {f.name: f.default for f in dataclasses.fields(config_lib.Config)}
    target = {**defaults, **presets.cpu_small_values(cfg.task, dataset)}
    changes = {}
    for name in dict.fromkeys(list(old) + list(new)):
        if getattr(cfg, name) != target[name]:
            changes[name] = target[name]
            whose = (f"preset {preset} sets it for its dataset {cfg.dataset}" if name in old
                     and name not in new else f"the CPU setting of dataset {dataset}")
            logging.info("%s %r -> %r (%s)", name, getattr(cfg, name), target[name], whose)
    return changes


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record is emitted, not when the handler was made:
    a notebook, a test harness or a second `main()` in one process may replace it (a handler
    holding the old, closed stream would print "Logging error" for every record)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns one; the property ignores it
        pass


def setup_logging() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = logging.getLogger()
    for handler in list(root.handlers):
        # A library imported before (orbax, through absl) may have logged through the root
        # logger, which gives it a plain stderr handler at WARNING: replace that one.
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr,
                                                                          sys.__stderr__):
            root.removeHandler(handler)
    if not any(getattr(handler, "rankjax", False) for handler in root.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               datefmt="%H:%M:%S"))
        handler.rankjax = True
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("absl", "jax._src.xla_bridge", "orbax", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM ends the program as Ctrl-C does, exit status 143 (rankjax.stopping)."""
    stopping.install()


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def user_errors(debug: bool = False, also: tuple = ()):
    """Ends the errors a user can cause (bad data, run directories, a full disk, weights
    files, checkpoints, a diverged run, and the exception types in `also`, e.g. a config's
    ValueError) with one line naming the problem and exit code 2; anything else is a bug
    and keeps its traceback.
    `debug` shows the traceback of every error."""
    try:
        yield
    except USER_ERRORS + also as error:
        if debug:
            raise
        fail(str(error).strip('"') if isinstance(error, KeyError) else str(error))
    except Exception as error:
        jax = sys.modules.get("jax")  # a JAX error is only possible where JAX was imported
        if (debug or jax is None or jax.process_count() == 1
                or not isinstance(error, jax.errors.JaxRuntimeError)):
            raise
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        fail(f"process {jax.process_index()} of {jax.process_count()}: a collective failed "
             f"({first}); another process of this run has most likely stopped (see its log). "
             f"Rerun the same command on every process to resume from the last checkpoint.")
