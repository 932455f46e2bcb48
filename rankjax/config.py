"""Every experiment setting, declared once, with presets named after the paper's experiments.

A `Config` is a frozen dataclass; `get_preset(name)` returns one, and
`cfg.replace(field=value)` or `apply_overrides(cfg, ["field=value", ...])` derive
new ones. Values marked "unverified" in ../shared/paper/NOTES.md are starting
points; every one of them is a field here so users can change it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

PARADIGMS = ("baseline", "rank_only", "rank_then_finetune", "multitask")


def _f(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class Config:
    # What to learn.
    name: str = _f("crowd_cpu_small", "experiment name (the preset's, by default)")
    task: str = _f("crowd", "crowd (counting) | iqa (image quality) | a task you registered "
                   "with rankjax.tasks.register")
    paradigm: str = _f("multitask", "baseline (regression only) | rank_only | "
                       "rank_then_finetune | multitask (regression + lambda * rank)")

    # Data.
    dataset: str = _f("synthetic_crowd", "a reader of rankjax.datasets.DATASETS: "
                      "synthetic_crowd | shanghaitech_a | shanghaitech_b | ucf_cc_50 | ucf_qnrf | "
                      "folder (crowd); synthetic_iqa | live | tid2013 (iqa); empty: the data "
                      "is passed to train_and_evaluate in code")
    data_dir: str = _f("", "folder you unpacked the dataset into (synthetic: cache folder)")
    fold: int = _f(0, "UCF_CC_50 cross-validation fold, 0..4 (the authors' split files)")
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
    width: float = _f(1.0, "channel multiplier of VGG16 (e.g. 0.25 for CPU runs)")
    image_size: int = _f(224, "network input side in pixels (multiple of 16)")
    bf16: bool = _f(False, "bfloat16 compute with float32 parameters (GPU/TPU)")
    init: str = _f("scratch", "scratch | imagenet (needs weights_file)")
    weights_file: str = _f("", "Keras VGG16 .h5 or torchvision vgg16 .pth for init=imagenet")
    input_style: str = _f("auto", "input preprocessing: caffe | torch | auto (caffe for Keras "
                          ".h5 weights, torch for .pth weights and from scratch)")

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
    rank_pooling: str = _f("sum", "crowd ranking score of a crop: sum | mean of its density map")
    object_name: str = _f("people", "what is counted, in pictures and printed counts (e.g. "
                          "cells)")

    # Crowd ranked sets (Algorithm 2) and labeled sampling.
    crop_scale: float = _f(0.75, "s: each ranked crop is s times the previous one")
    crop_scale_of: str = _f("side", "whether s scales the crop's side or area (unverified)")
    anchor_region: int = _f(8, "r: anchors drawn from a centred region 1/r of the image's sides")
    patch_min: int = _f(56, "labeled patches: smallest square side in pixels")
    patch_max: int = _f(448, "labeled patches: largest square side in pixels")
    density_sigma: float = _f(15.0, "Gaussian std per head in pixels (paper: 15)")
    adaptive_sigma: bool = _f(False, "geometry-adaptive sigma (0.3 x mean 3-NN distance)")
    rescale_images: float = _f(1.0, "resize whole images by this factor first (UCF_CC_50)")
    density_scale: float = _f(1.0, "crowd targets are density x this during training, "
                              "predictions are divided by it (larger gradients for sparse maps)")
    count_protocol: str = _f("whole", "how a count is predicted (validation, test, own images): "
                             "whole (the whole image in one pass) | tiles (tiles of "
                             "image_size px at native resolution, as the training patches)")

    # IQA.
    distortions: tuple[str, ...] = _f(
        ("gaussian_blur", "gaussian_noise", "jpeg", "jpeg2000"),
        "comma-separated distortion types for ranked sets (rankjax.distortions.DISTORTIONS)")
    test_crops: int = _f(30, "random crops averaged per test image (paper: 30)")

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
                              "rankjax.active.SELECTION_STRATEGIES")
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


def validate(cfg: Config) -> None:
    """Raises ValueError naming every problem; names are checked against the registries."""
    from rankjax import datasets, losses, tasks  # the registries (their modules import this one)

    problems = []

    def need(ok: bool, message: str):
        if not ok:
            problems.append(message)

    try:
        task = tasks.get(cfg.task)
    except KeyError as error:
        raise ValueError(f"config {cfg.name!r}: {error}") from None
    need(cfg.paradigm in PARADIGMS, f"paradigm must be one of {PARADIGMS}, got {cfg.paradigm!r}")
    need(cfg.pair_strategy in losses.PAIR_STRATEGIES,
         f"pair_strategy must be one of {', '.join(losses.PAIR_STRATEGIES.names())}, got "
         f"{cfg.pair_strategy!r}")
    need(cfg.pair_strategy not in losses.SUBSET_STRATEGIES or cfg.num_pairs > 0,
         f"pair_strategy={cfg.pair_strategy} needs num_pairs > 0")
    if cfg.dataset and cfg.dataset not in datasets.for_task(cfg.task):
        problems.append(f"dataset {cfg.dataset!r} is not a {cfg.task!r} dataset; known: "
                        + (", ".join(datasets.for_task(cfg.task)) or "none (pass the data to "
                           "train_and_evaluate, and leave dataset empty)"))
    need(cfg.image_size > 0 and cfg.image_size % 16 == 0,
         f"image_size must be a positive multiple of 16 (output stride), got {cfg.image_size}")
    need(cfg.width > 0, f"width must be positive, got {cfg.width}")
    need(cfg.optimizer in ("sgd", "adam"), f"optimizer must be sgd or adam, got {cfg.optimizer!r}")
    need(cfg.init in ("scratch", "imagenet"), f"init must be scratch or imagenet, got {cfg.init!r}")
    need(cfg.init != "imagenet" or bool(cfg.weights_file),
         "init=imagenet needs weights_file (a Keras VGG16 .h5 or torchvision vgg16 .pth)")
    need(cfg.input_style in ("auto", "caffe", "torch", "none"),
         f"input_style must be auto, caffe, torch or none, got {cfg.input_style!r}")
    need(cfg.labeled_batch >= 0 and cfg.ranked_groups >= 0 and cfg.ranked_per_group >= 1,
         "batch sizes must be non-negative and ranked_per_group >= 1")
    need(0 < cfg.labeled_fraction <= 1, "labeled_fraction must be in (0, 1]")
    need(cfg.labeled_images >= 0, f"labeled_images must be >= 0, got {cfg.labeled_images}")
    need(cfg.test_part in ("all", "first_half", "second_half"),
         f"test_part must be all, first_half or second_half, got {cfg.test_part!r}")
    if cfg.test_dataset and cfg.test_dataset not in datasets.for_task(cfg.task):
        problems.append(f"test_dataset {cfg.test_dataset!r} is not a {cfg.task!r} dataset")
    need(0 <= cfg.validation_fraction < 1, "validation_fraction must be in [0, 1)")
    need(cfg.validation_split in ("random", "last"),
         f"validation_split must be random or last, got {cfg.validation_split!r}")
    need(cfg.paradigm != "rank_then_finetune" or cfg.finetune_steps > 0,
         "paradigm rank_then_finetune needs finetune_steps > 0")
    need(cfg.distributed in ("auto", "on", "off"), "distributed must be auto, on or off")
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
        from rankjax import active
        need(cfg.active_learning in active.SELECTION_STRATEGIES,
             f"active_learning must be one of {', '.join(active.SELECTION_STRATEGIES.names())}"
             f" or empty, got {cfg.active_learning!r}")
        need(cfg.cycles >= 1, f"cycles must be at least 1, got {cfg.cycles}")
        need(0 < cfg.per_cycle < 1, f"per_cycle must be in (0, 1), got {cfg.per_cycle}")
        need(cfg.cycle_init in ("scratch", "previous"),
             f"cycle_init must be scratch or previous, got {cfg.cycle_init!r}")
        need(cfg.certainty_pairs >= 1, f"certainty_pairs must be >= 1, got "
             f"{cfg.certainty_pairs}")
    problems += task.validate(cfg)
    if problems:
        raise ValueError(f"config {cfg.name!r}: " + "; ".join(problems))


# --------------------------------------------------------------------------- presets

def _crowd_paper(**changes) -> Config:
    # Paper settings (NOTES.md): batch 25 labeled + 25 ranked, lambda 100, wd 5e-4,
    # lr / 10 every 5,000 of 10,000 iterations, ImageNet VGG16 init, k=5, s=0.75, r=8.
    base = Config(task="crowd", init="imagenet", weights_file="vgg16_weights_tf_dim_ordering_"
                  "tf_kernels_notop.h5", labeled_batch=25, ranked_groups=5, ranked_per_group=5,
                  rank_weight=100.0, steps=10000, lr_decay_every=5000, image_size=224)
    return base.replace(**changes)


# The 17 TID2013 types the authors generated (rankjax.distortions; #9 is a stand-in).
TID2013_DISTORTIONS = ("gaussian_noise", "gaussian_noise_color", "high_frequency_noise",
                       "impulse_noise", "quantization_noise", "gaussian_blur",
                       "image_denoising", "jpeg", "jpeg2000", "non_eccentricity_noise",
                       "block_wise", "mean_shift", "contrast_change", "color_saturation",
                       "multiplicative_noise", "color_quantization_dither",
                       "chromatic_aberration")


def _iqa_paper(**changes) -> Config:
    # Authors' solvers: SGD momentum 0.9, wd 5e-4, lambda 1, margin 1 on raw scores.
    base = Config(task="iqa", dataset="synthetic_iqa", init="imagenet",
                  weights_file="vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                  labeled_batch=25, ranked_groups=5, ranked_per_group=5, rank_weight=1.0,
                  margin=1.0, learning_rate=1e-5, steps=20000, lr_decay_every=10000,
                  image_size=224, patch_min=224, patch_max=224)
    return base.replace(**changes)


# Tuned on the synthetic set to finish in about two minutes on a 2-core CPU.
_CPU_SMALL = dict(width=0.25, image_size=64, init="scratch", weights_file="", optimizer="adam",
                  learning_rate=1e-3, head_lr_multiplier=1.0, labeled_batch=8, ranked_groups=2,
                  ranked_per_group=4, steps=600, lr_decay_every=400, log_every=10,
                  eval_every=200, checkpoint_every=200, patch_min=48, patch_max=96,
                  density_sigma=4.0, test_crops=5, weight_decay=0.0)


def _cpu_small(cfg: Config, **changes) -> Config:
    """Same experiment, scaled to run in minutes on a laptop CPU from scratch."""
    from rankjax import tasks

    small = dict(_CPU_SMALL)
    small.update(tasks.get(cfg.task).cpu_small_changes(cfg))
    small.update(changes)
    return cfg.replace(name=cfg.name + "_cpu_small", **small)


def cpu_small_values(task: str, dataset: str) -> dict:
    """The fields a `*_cpu_small` preset of `task` sets for `dataset` (the dataset's own
    settings included)."""
    from rankjax import tasks

    return {**_CPU_SMALL, **tasks.get(task).cpu_small_changes(Config(task=task, dataset=""
                                                                      ).replace(dataset=dataset))}


def _build_presets() -> dict[str, Config]:
    paper = {
        "crowd_sha": _crowd_paper(name="crowd_sha", dataset="shanghaitech_a"),
        "crowd_shb": _crowd_paper(name="crowd_shb", dataset="shanghaitech_b"),
        # UCF_CC_50: five folds (fold=0..4), 40 training images each.
        "crowd_ucf": _crowd_paper(name="crowd_ucf", dataset="ucf_cc_50", fold=0),
        "crowd_qnrf": _crowd_paper(name="crowd_qnrf", dataset="ucf_qnrf"),
        # Mall: 2,000 frames of one camera, the CPU-sized analogue of the paper's UCSD.
        "crowd_mall": _crowd_paper(name="crowd_mall", dataset="mall"),
        # Your own point-annotated images (README, "Train on your own labeled images").
        "crowd_folder": _crowd_paper(name="crowd_folder", dataset="folder"),
        "iqa_live": _iqa_paper(name="iqa_live", dataset="live"),
        # LIVE In the Wild: authentic distortions; ranked sets from synthetic ones.
        "iqa_clive": _iqa_paper(name="iqa_clive", dataset="clive"),
        # TID2013: ranked sets of the 17 of its types the authors generated.
        "iqa_tid2013": _iqa_paper(name="iqa_tid2013", dataset="tid2013",
                                  distortions=TID2013_DISTORTIONS),
        # The embedded synthetic sets, at paper scale.
        "crowd_synthetic": _crowd_paper(name="crowd_synthetic", dataset="synthetic_crowd",
                                        init="scratch", weights_file=""),
        "iqa_synthetic": _iqa_paper(name="iqa_synthetic", dataset="synthetic_iqa",
                                    init="scratch", weights_file=""),
    }
    presets = dict(paper)
    for name, cfg in paper.items():
        small = _cpu_small(cfg)
        presets[small.name] = small
    # `python train.py --task crowd|iqa` with nothing else runs these.
    presets["crowd_cpu_small"] = presets["crowd_synthetic_cpu_small"].replace(
        name="crowd_cpu_small")
    presets["iqa_cpu_small"] = presets["iqa_synthetic_cpu_small"].replace(name="iqa_cpu_small")
    return presets


PRESETS: dict[str, Config] = _build_presets()


def get_preset(name: str) -> Config:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


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
