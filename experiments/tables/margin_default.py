"""The `margin_default` table (its note: experiments/notes/margin_default.md)."""

from experiments.declare import Cell, Table

TABLE = (
    Table("margin_default", "The default run (synthetic crowds): the rank hinge's "
          "margin, chosen on validation", tuple(
              Cell(f"margin_{m:g}", "crowd_cpu_small", {"paradigm": "multitask",
                                                        "margin": m})
              for m in (0.0, 0.25, 1.0, 4.0)), "mae", seeds=(0, 1), x_field="margin",
        line_field="paradigm", papers_claims=False, split="validation",
        declared="2026-12-04")
)
