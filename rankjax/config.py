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

TASKS = ("crowd", "iqa")
PARADIGMS = ("baseline", "rank_only", "rank_then_finetune", "multitask")


@dataclasses.dataclass(frozen=True)
class Config:
    # What to learn.
    name: str = "crowd_cpu_small"
    task: str = "crowd"                    # crowd | iqa
    paradigm: str = "multitask"            # baseline | rank_only | rank_then_finetune | multitask

    # Data.
    dataset: str = "synthetic"             # see rankjax.datasets
    data_dir: str = ""                     # folder the user unpacked the dataset into
    fold: int = 1                          # UCF_CC_50 cross-validation fold (1..5)
    unlabeled: str = "rest"                # rest (withheld labels) | folder path | tfds:NAME
    labeled_fraction: float = 1.0          # of the training set; the rest feeds ranking
    validation_fraction: float = 0.1       # carved from training data, never the test set

    # Network.
    width: float = 1.0                     # channel multiplier of VGG16 (0.25 for CPU runs)
    image_size: int = 224                  # network input side (multiple of 16)
    bf16: bool = False                     # bfloat16 compute, float32 parameters
    init: str = "scratch"                  # scratch | imagenet
    weights_file: str = ""                 # Keras .h5 or torchvision .pth for init=imagenet
    input_style: str = "auto"              # preprocessing the weights expect: caffe | torch |
                                           # auto (torch for .pth weights, else caffe)

    # Batch: labeled images + ranked groups of k images each.
    labeled_batch: int = 25
    ranked_groups: int = 5
    ranked_per_group: int = 5              # k: crops (crowd) or distortion levels (IQA)

    # Ranking loss.
    rank_weight: float = 100.0             # lambda in L = L_reg + lambda * L_rank
    margin: float = 0.0                    # epsilon of the hinge (crowd: unverified)
    pair_strategy: str = "all"             # all | random | hard
    num_pairs: int = 0                     # pairs kept by the random / hard strategies
    rank_pooling: str = "sum"              # crowd score of a crop: sum | mean of its density map

    # Crowd ranked sets (Algorithm 2) and labeled sampling.
    crop_scale: float = 0.75               # s: each crop is s times the previous one
    crop_scale_of: str = "side"            # side | area (unverified which the authors meant)
    anchor_region: int = 8                 # r: anchor drawn from a centred 1/r region
    patch_min: int = 56                    # labeled patches: random square side in pixels
    patch_max: int = 448
    density_sigma: float = 15.0            # Gaussian per head, pixels (paper)
    adaptive_sigma: bool = False           # geometry-adaptive sigma instead of fixed
    rescale_images: float = 1.0            # resize whole images before sampling (UCF_CC_50)

    # IQA.
    distortions: tuple[str, ...] = ("gaussian_blur", "gaussian_noise", "jpeg", "jpeg2000")
    test_crops: int = 30

    # Optimisation.
    optimizer: str = "sgd"                 # sgd | adam
    learning_rate: float = 1e-6
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_decay_every: int = 5000             # steps; 0 = constant
    lr_decay_factor: float = 0.1
    head_lr_multiplier: float = 10.0       # the authors trained the new layer 10x faster
    steps: int = 10000
    finetune_steps: int = 0                # rank_then_finetune: steps of the second phase

    # Bookkeeping.
    seed: int = 0
    deterministic: bool = False            # bit-identical input pipeline for a seed
    log_every: int = 50
    eval_every: int = 1000
    checkpoint_every: int = 1000
    distributed: str = "auto"              # auto | on | off: jax.distributed.initialize()

    def __post_init__(self):
        validate(self)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    @property
    def output_size(self) -> int:
        return self.image_size // 16

    @property
    def resolved_input_style(self) -> str:
        if self.input_style != "auto":
            return self.input_style
        torch_file = self.init == "imagenet" and self.weights_file.endswith((".pth", ".pt"))
        return "torch" if torch_file else "caffe"

    @property
    def ranked_batch(self) -> int:
        return self.ranked_groups * self.ranked_per_group

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def validate(cfg: Config) -> None:
    def need(ok: bool, message: str):
        if not ok:
            raise ValueError(f"config {cfg.name!r}: {message}")

    need(cfg.task in TASKS, f"task must be one of {TASKS}, got {cfg.task!r}")
    need(cfg.paradigm in PARADIGMS, f"paradigm must be one of {PARADIGMS}, got {cfg.paradigm!r}")
    need(cfg.pair_strategy in ("all", "random", "hard"),
         f"pair_strategy must be all, random or hard, got {cfg.pair_strategy!r}")
    need(cfg.pair_strategy == "all" or cfg.num_pairs > 0,
         f"pair_strategy={cfg.pair_strategy} needs num_pairs > 0")
    need(cfg.image_size > 0 and cfg.image_size % 16 == 0,
         f"image_size must be a positive multiple of 16 (output stride), got {cfg.image_size}")
    need(cfg.task != "iqa" or cfg.image_size >= 32, "IQA image_size must be at least 32")
    need(cfg.width > 0, f"width must be positive, got {cfg.width}")
    need(cfg.optimizer in ("sgd", "adam"), f"optimizer must be sgd or adam, got {cfg.optimizer!r}")
    need(cfg.init in ("scratch", "imagenet"), f"init must be scratch or imagenet, got {cfg.init!r}")
    need(cfg.init != "imagenet" or bool(cfg.weights_file),
         "init=imagenet needs weights_file (a Keras VGG16 .h5 or torchvision vgg16 .pth)")
    need(cfg.input_style in ("auto", "caffe", "torch", "none"),
         f"input_style must be auto, caffe, torch or none, got {cfg.input_style!r}")
    need(cfg.rank_pooling in ("sum", "mean"), f"rank_pooling must be sum or mean")
    need(cfg.crop_scale_of in ("side", "area"), "crop_scale_of must be side or area")
    need(0 < cfg.crop_scale < 1, f"crop_scale must be in (0, 1), got {cfg.crop_scale}")
    need(cfg.labeled_batch >= 0 and cfg.ranked_groups >= 0 and cfg.ranked_per_group >= 1,
         "batch sizes must be non-negative and ranked_per_group >= 1")
    need(0 < cfg.labeled_fraction <= 1, "labeled_fraction must be in (0, 1]")
    need(cfg.paradigm != "rank_then_finetune" or cfg.finetune_steps > 0,
         "paradigm rank_then_finetune needs finetune_steps > 0")
    need(cfg.distributed in ("auto", "on", "off"), "distributed must be auto, on or off")


# --------------------------------------------------------------------------- presets

def _crowd_paper(**changes) -> Config:
    # Paper settings (NOTES.md): batch 25 labeled + 25 ranked, lambda 100, wd 5e-4,
    # lr / 10 every 5,000 of 10,000 iterations, ImageNet VGG16 init, k=5, s=0.75, r=8.
    base = Config(task="crowd", init="imagenet", weights_file="vgg16_weights_tf_dim_ordering_"
                  "tf_kernels_notop.h5", labeled_batch=25, ranked_groups=5, ranked_per_group=5,
                  rank_weight=100.0, steps=10000, lr_decay_every=5000, image_size=224)
    return base.replace(**changes)


def _iqa_paper(**changes) -> Config:
    # Authors' solvers: SGD momentum 0.9, wd 5e-4, lambda 1, margin 1 on raw scores.
    base = Config(task="iqa", init="imagenet",
                  weights_file="vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                  labeled_batch=25, ranked_groups=5, ranked_per_group=5, rank_weight=1.0,
                  margin=1.0, learning_rate=1e-5, steps=20000, lr_decay_every=10000,
                  image_size=224, patch_min=224, patch_max=224)
    return base.replace(**changes)


def _cpu_small(cfg: Config, **changes) -> Config:
    """Same experiment, scaled to run in minutes on a laptop CPU from scratch."""
    small = dict(width=0.25, image_size=64 if cfg.task == "crowd" else 64, init="scratch",
                 weights_file="", optimizer="adam", learning_rate=1e-4 if cfg.task == "crowd"
                 else 3e-4, head_lr_multiplier=1.0, labeled_batch=8, ranked_groups=2,
                 ranked_per_group=4, steps=300, lr_decay_every=200, log_every=10,
                 eval_every=100, checkpoint_every=100, patch_min=32, patch_max=128,
                 density_sigma=4.0, test_crops=5, weight_decay=0.0)
    if cfg.task == "iqa":
        small.update(patch_min=64, patch_max=64)
    small.update(changes)
    return cfg.replace(name=cfg.name + "_cpu_small", **small)


def _build_presets() -> dict[str, Config]:
    paper = {
        "crowd_sha": _crowd_paper(name="crowd_sha", dataset="shanghaitech_a"),
        "crowd_shb": _crowd_paper(name="crowd_shb", dataset="shanghaitech_b"),
        # UCF_CC_50: whole images are rescaled before sampling (paper); pick the fold
        # with fold=k.
        "crowd_ucf": _crowd_paper(name="crowd_ucf", dataset="ucf_cc_50", fold=1),
        "crowd_qnrf": _crowd_paper(name="crowd_qnrf", dataset="ucf_qnrf"),
        "iqa_live": _iqa_paper(name="iqa_live", dataset="live"),
        "iqa_tid2013": _iqa_paper(name="iqa_tid2013", dataset="tid2013"),
        # The embedded synthetic sets, at paper scale.
        "crowd_synthetic": _crowd_paper(name="crowd_synthetic", dataset="synthetic",
                                        init="scratch", weights_file=""),
        "iqa_synthetic": _iqa_paper(name="iqa_synthetic", dataset="synthetic",
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
DEFAULT_PRESET = {"crowd": "crowd_cpu_small", "iqa": "iqa_cpu_small"}


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
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """Applies "field=value" strings (or a dict) to a config, with type conversion."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    changes: dict[str, Any] = {}
    items = overrides.items() if isinstance(overrides, dict) else (
        _split_override(o) for o in overrides)
    for key, value in items:
        if key not in fields:
            raise KeyError(f"unknown config field {key!r}; known: {', '.join(sorted(fields))}")
        changes[key] = _parse_value(fields[key], value) if isinstance(value, str) else value
    return cfg.replace(**changes)


def _split_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like field=value")
    key, value = text.split("=", 1)
    return key.strip(), value


def from_json(text: str) -> Config:
    data = json.loads(text)
    data["distortions"] = tuple(data.get("distortions", Config.distortions))
    return Config(**data)
