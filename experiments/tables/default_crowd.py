"""The `default_crowd` table (its note: experiments/notes/default_crowd.md)."""

from experiments.declare import Cell, Claim, DEFAULT_MARGIN, SIX_SEEDS, Table

TABLE = (
    Table("default_crowd", "The default run (synthetic crowds): ranking against the "
          "baseline, over seeds", (
              Cell("baseline", "crowd_cpu_small", {"paradigm": "baseline"}),
              Cell("multitask", "crowd_cpu_small", {"paradigm": "multitask",
                                                    "margin": DEFAULT_MARGIN})), "mae",
        (Claim("ranking helps the default run", "multitask", "baseline"),),
        seeds=SIX_SEEDS, x_field="", line_field="paradigm", papers_claims=False,
        declared="2026-12-04")
)
