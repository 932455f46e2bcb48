"""The `mall_paper_protocol` table (its note: experiments/notes/mall_paper_protocol.md)."""

from experiments.declare import CLAIM_MARGIN, Cell, Claim, SIX_SEEDS, Table

# Issue #29's claim tables, declared 2026-12-04 before any of their runs: claims,
# primary metric (test MAE of the checkpoint best on validation), seeds 0-5, and
# paired verdicts (experiments/statistics.py). The multitask cells use the margin
# margin_shb chooses on validation (CLAIM_MARGIN).
TABLE = (
    Table("mall_paper_protocol", "Mall, the paper's UCSD protocol: 40 labeled frames, "
          "ranked sets from one half of the test stretch, scored on the other half", tuple(
              Cell(f"{paradigm}_{scored}", "crowd_mall_cpu_small",
                   {"paradigm": paradigm, "labeled_images": 40, "test_part": scored,
                    "unlabeled": ranked, **({"margin": CLAIM_MARGIN}
                                            if paradigm == "multitask" else {})},
                   "mall_dataset-new")
              for scored, ranked in (("second_half", "test_first_half"),
                                     ("first_half", "test_second_half"))
              for paradigm in ("baseline", "multitask")), "mae", tuple(
            Claim(f"ranking frames of the test stretch's {ranked} half helps on its "
                  f"{scored} half", f"multitask_{scored}_half", f"baseline_{scored}_half",
                  paper_gain=1 - 1.17 / 1.60, papers=True)
            for scored, ranked in (("second", "first"), ("first", "second"))),
        seeds=SIX_SEEDS, x_field="", line_field="paradigm", declared="2026-12-04")
)
