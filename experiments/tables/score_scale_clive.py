"""The `score_scale_clive` table (its note: experiments/notes/score_scale_clive.md)."""

from experiments.declare import Cell, Table

# MOS of CLIVE is on a 0-100 scale: offset 50 and scale 25 keep the network's targets near
# -2..2; the margin stays in MOS units (1 = the preset's; 25 = one scale unit).
SCALED = {"score_offset": 50.0, "score_scale": 25.0}

TABLE = (
    Table("score_scale_clive", "CLIVE at 10 % labels: MOS targets scaled or raw, and the "
          "margin, chosen on validation", tuple(
              Cell(name, "iqa_clive_cpu_small",
                   {"paradigm": "multitask", "labeled_fraction": 0.1, **changes},
                   "ChallengeDB_release")
              for name, changes in (
                  ("raw_margin_1", {}),
                  ("scaled_margin_1", {**SCALED, "margin": 1.0}),
                  ("scaled_margin_5", {**SCALED, "margin": 5.0}),
                  ("scaled_margin_25", {**SCALED, "margin": 25.0}))), "srocc", seeds=(0, 1),
        x_field="margin", line_field="score_scale", papers_claims=False, split="validation",
        declared="2026-12-05")
)
