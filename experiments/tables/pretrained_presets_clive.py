"""The `pretrained_presets_clive` table (its note: experiments/notes/pretrained_presets_clive.md)."""

from experiments.declare import Cell, Table

# Declared 2026-12-07 before any of its runs, beside pretrained_presets: iqa_clive_cpu
# (EfficientNet-Lite0 on ImageNet features) with every label, baseline paradigm; test SROCC
# of the best checkpoint on validation, seeds 0-2. Target (issue 38): SROCC >= 0.75 (must
# >= 0.65), each run <= 15 minutes on 2 cores.
TABLE = (
    Table("pretrained_presets_clive", "CLIVE on ImageNet features (EfficientNet-Lite0, "
          "iqa_clive_cpu), baseline", (
              Cell("clive", "iqa_clive_cpu", {"paradigm": "baseline"}, "ChallengeDB_release"),),
        "srocc", seeds=(0, 1, 2), x_field="", line_field="paradigm", papers_claims=False,
        declared="2026-12-07")
)
