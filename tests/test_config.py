import dataclasses
import os
import subprocess
import sys

import pytest

from rankjax import checks, config as config_lib, platform, presets, tasks
from rankjax.data import splits


def test_every_preset_survives_its_run_directory_and_the_command_line():
    """A preset is written to config.json and read back when a run resumes or is
    evaluated, and every field can be given on the command line as text: both must give
    the same config back, field for field."""
    for name, cfg in presets.PRESETS.items():
        assert cfg.name == name
        assert config_lib.from_json(cfg.to_json()) == cfg, name
        as_text = {f.name: (",".join(v) if isinstance(v, tuple) else str(v))
                   for f in dataclasses.fields(cfg) for v in [getattr(cfg, f.name)]}
        assert config_lib.apply_overrides(config_lib.Config(task=cfg.task, dataset=""),
                                          as_text) == cfg, name
    for paper in ("crowd_sha", "crowd_shb", "crowd_ucf", "crowd_qnrf", "iqa_live", "iqa_tid2013"):
        assert f"{paper}_cpu_small" in presets.PRESETS


def test_every_preset_names_registered_things_and_keeps_its_task_s_rules():
    """rankjax.presets imports only rankjax.config (for a fast --help), so nothing checks
    the presets' names against the registries when it is imported: this test does, and
    fails on a preset naming an unknown dataset."""
    for cfg in presets.PRESETS.values():
        assert checks.check(cfg) is cfg
    with pytest.raises(ValueError, match="dataset 'shanghaitech_c' is not a 'crowd' dataset"):
        checks.check(presets.get_preset("crowd_shb").replace(dataset="shanghaitech_c"))


def test_what_help_shows_without_the_registries_matches_them():
    """--help lists the datasets, tasks and sections from rankjax.config and
    rankjax.presets, not from the registries (which load JAX and TensorFlow): the two
    must agree."""
    text = config_lib.CONFIG_FIELDS["dataset"].metadata["help"]
    listed = {name.strip() for part in text.split(":", 1)[1].split(";")[:2]
              for name in part.split("(")[0].split("|")}
    registered = {name for task in tasks.TASKS.names() for name in splits.for_task(task)
                  if not name.startswith("tfds:")}
    assert listed == registered
    assert any(name.startswith("tfds:") for name in splits.DATASETS.names())
    assert "tfds:NAME" in text
    assert set(presets.DEFAULT_PRESETS) == set(config_lib.TASK_SECTIONS) == set(
        tasks.TASKS.names())
    for task, preset in presets.DEFAULT_PRESETS.items():
        assert presets.get_preset(preset).task == task
    # Each task's section is one that fields declare (a misspelt one would hide nothing).
    assert config_lib.section("density_sigma") == config_lib.TASK_SECTIONS["crowd"]
    assert config_lib.section("test_crops") == config_lib.TASK_SECTIONS["iqa"]


def test_paper_settings_from_notes():
    sha = presets.get_preset("crowd_sha")
    assert (sha.labeled_batch, sha.ranked_batch, sha.rank_weight, sha.weight_decay) == (
        25, 25, 100.0, 5e-4)
    assert (sha.steps, sha.lr_decay_every, sha.lr_decay_factor) == (10000, 5000, 0.1)
    assert (sha.ranked_per_group, sha.crop_scale, sha.anchor_region) == (5, 0.75, 8)
    assert (sha.patch_min, sha.patch_max, sha.density_sigma) == (56, 448, 15.0)
    live = presets.get_preset("iqa_live")
    assert (live.rank_weight, live.momentum, live.image_size, live.test_crops) == (
        1.0, 0.9, 224, 30)


def test_overrides_convert_types_and_reject_unknown_fields():
    cfg = config_lib.apply_overrides(presets.get_preset("crowd_cpu_small"),
                                     ["rank_weight=0.5", "steps=7", "bf16=true",
                                      "distortions=jpeg,gaussian_blur", "dataset=folder"])
    assert (cfg.rank_weight, cfg.steps, cfg.bf16, cfg.distortions, cfg.dataset) == (
        0.5, 7, True, ("jpeg", "gaussian_blur"), "folder")
    with pytest.raises(KeyError, match="unknown config field 'lamda'"):
        config_lib.apply_overrides(cfg, ["lamda=1"])
    with pytest.raises(ValueError, match="image_size must be a positive multiple of 16"):
        config_lib.apply_overrides(cfg, ["image_size=100"])
    with pytest.raises(KeyError, match="unknown preset"):
        presets.get_preset("crowd_shc")


def test_json_round_trip():
    cfg = presets.get_preset("iqa_tid2013_cpu_small")
    assert config_lib.from_json(cfg.to_json()) == cfg


def test_input_style_follows_weights_file():
    cfg = presets.get_preset("crowd_sha")
    assert cfg.resolved_input_style == "caffe"  # Keras .h5 weights
    assert cfg.replace(init="scratch", weights_file="").resolved_input_style == "torch"
    assert cfg.replace(weights_file="vgg16-397923af.pth").resolved_input_style == "torch"
    assert dataclasses.replace(cfg, input_style="torch").resolved_input_style == "torch"


def _xla_flags_in_child(**env):
    code = "import os, rankjax; print(os.environ.get('XLA_FLAGS', ''))"
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("XLA_FLAGS", "JAX_PLATFORMS", "RANKJAX_CPU_XLA_FLAGS")}
    child_env.update(env)
    return subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_cpu_flag_applied_only_on_cpu_and_overridable():
    assert platform.CPU_XLA_FLAGS in _xla_flags_in_child(JAX_PLATFORMS="cpu")
    assert _xla_flags_in_child(JAX_PLATFORMS="cuda") == ""
    assert _xla_flags_in_child(JAX_PLATFORMS="tpu") == ""
    assert _xla_flags_in_child(JAX_PLATFORMS="cpu", RANKJAX_CPU_XLA_FLAGS="0") == ""
    mine = "--xla_cpu_experimental_ynn_fusion_type=individual_convolution"
    assert _xla_flags_in_child(JAX_PLATFORMS="cpu", XLA_FLAGS=mine) == mine


def test_help_shows_the_task_s_own_fields_and_accepts_the_others():
    """A quality user's --help has no density fields, a crowd user's no distortions; a
    field of another task's section is still accepted (and checked) on the command line."""
    import argparse

    from rankjax import cli

    def parser_for(preset):
        parser = argparse.ArgumentParser()
        parser.add_argument("--task")
        parser.add_argument("--preset")
        cli.add_config_options(parser, preset)
        return parser

    crowd, iqa = parser_for("crowd_cpu_small"), parser_for("iqa_cpu_small")
    crowd_help, iqa_help = crowd.format_help(), iqa.format_help()
    assert "--density_sigma" in crowd_help and "--distortions" not in crowd_help
    assert "--distortions" in iqa_help and "--density_sigma" not in iqa_help
    assert "--learning_rate" in crowd_help and "--learning_rate" in iqa_help
    args = crowd.parse_args(["--task", "crowd", "--test_crops", "3"])
    assert cli.config_from_args(args).test_crops == 3
    assert {config_lib.section(f) for f in ("density_sigma", "count_protocol", "fold")} == {
        "crowd"}
    assert config_lib.section("distortions") == "score" and config_lib.section("steps") == ""
