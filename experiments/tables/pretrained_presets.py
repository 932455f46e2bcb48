"""The `pretrained_presets` table (its note: experiments/notes/pretrained_presets.md)."""

from experiments.declare import Cell, Table

# Declared 2026-12-07 before any of its runs: what the crowd presets on ImageNet features
# (EfficientNet-Lite0, `*_cpu`) count with every label (baseline paradigm), and ShanghaiTech
# B with 10 labeled images; test MAE of the best checkpoint on validation, seeds 0-2. The
# targets (issue 38; no claim between cells): ShanghaiTech B <= 15 (must <= 25), ShanghaiTech
# A <= 100, Mall <= 2.0 (must <= 2.5), each run <= 15 minutes on 2 cores. CLIVE is the
# table pretrained_presets_clive (its metric is SROCC).
TABLE = (
    Table("pretrained_presets", "The crowd presets on ImageNet features (EfficientNet-Lite0, "
          "*_cpu), baseline", (
              Cell("shb", "crowd_shb_cpu", {"paradigm": "baseline"}, "ShanghaiTech"),
              Cell("shb_10_labels", "crowd_shb_cpu",
                   {"paradigm": "baseline", "labeled_images": 10}, "ShanghaiTech"),
              Cell("sha", "crowd_sha_cpu", {"paradigm": "baseline"}, "ShanghaiTech"),
              Cell("mall", "crowd_mall_cpu", {"paradigm": "baseline"}, "mall_dataset-new")),
        "mae", seeds=(0, 1, 2), x_field="", line_field="paradigm", papers_claims=False,
        declared="2026-12-07")
)
