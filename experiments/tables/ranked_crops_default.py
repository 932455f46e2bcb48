"""The `ranked_crops_default` table (its note: experiments/notes/ranked_crops_default.md)."""

from experiments.declare import DEFAULT_MARGIN, Cell, Table

# Declared 2026-12-05 before any of its runs. The default's nested crops shrink the side by
# 0.75; the paper leaves open whether s scales the side or the area (NOTES.md), and crops
# that differ less hold fewer extra people, so the hinge may stay active on more steps.
TABLE = (
    Table("ranked_crops_default", "The default run (synthetic crowds): how the nested crops "
          "shrink, chosen on validation with the hinge's activity beside it", tuple(
              Cell(f"{of}_{scale:g}", "crowd_cpu_small",
                   {"paradigm": "multitask", "margin": DEFAULT_MARGIN, "crop_scale": scale,
                    "crop_scale_of": of})
              for of, scale in (("side", 0.75), ("area", 0.75), ("side", 0.9))), "mae",
        seeds=(0, 1), x_field="crop_scale", line_field="crop_scale_of", papers_claims=False,
        split="validation", declared="2026-12-05")
)
