"""The `labels_curve_shb` table (its note: experiments/notes/labels_curve_shb.md)."""

from experiments.declare import Cell, Table

# Issue #29's tables: where labels limit the model, and a margin that keeps the
# ranking term alive, each chosen before the claim tables run.
TABLE = (
    Table("labels_curve_shb", "ShanghaiTech B: how many labels the baseline needs", tuple(
        Cell(f"baseline_{n}", "crowd_shb_cpu_small",
             {"paradigm": "baseline", "labeled_images": n}, "ShanghaiTech")
        for n in (5, 10, 20, 40)) + (
        Cell("baseline_all", "crowd_shb_cpu_small", {"paradigm": "baseline"},
             "ShanghaiTech"),), "mae", seeds=(0, 1), x_field="", line_field="",
        papers_claims=False, declared="2026-12-04")
)
