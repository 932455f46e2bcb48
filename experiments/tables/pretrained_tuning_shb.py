"""The `pretrained_tuning_shb` table (its note: experiments/notes/pretrained_tuning_shb.md)."""

from experiments.declare import Cell, Table

# Declared 2026-12-07 before any of its runs: the pretrained crowd presets' learning rate
# and how much of the trunk stays at its ImageNet weights, chosen on ShanghaiTech B's
# validation MAE alone (the best checkpoint's; every label, baseline, seed 0). The choice
# (the lowest validation MAE) goes into every crowd *_cpu preset before pretrained_presets
# runs.
TABLE = (
    Table("pretrained_tuning_shb", "ShanghaiTech B on ImageNet features (EfficientNet-Lite0): "
          "learning rate x frozen blocks, chosen on validation", tuple(
              Cell(f"lr{lr:g}_frozen{frozen}", "crowd_shb_cpu",
                   {"paradigm": "baseline", "learning_rate": lr, "frozen_blocks": frozen},
                   "ShanghaiTech")
              for lr in (3e-4, 1e-3) for frozen in (3, 5)), "mae", seeds=(0,),
        x_field="learning_rate", line_field="frozen_blocks", papers_claims=False,
        split="validation", declared="2026-12-07")
)
