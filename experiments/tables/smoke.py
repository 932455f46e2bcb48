"""The `smoke` table."""

from experiments.declare import Cell, Claim, Table

# A few seconds per cell: the runner's own test, and a first try on any machine.
TABLE = (
    Table("smoke", "Synthetic crowds, tiny network (a check of the runner)", tuple(
        Cell(f"{paradigm}_{round(f * 100)}%", "crowd_cpu_small",
             {"paradigm": paradigm, "labeled_fraction": f, "width": 0.125,
              "image_size": 32, "labeled_batch": 2, "ranked_groups": 1,
              "ranked_per_group": 3, "patch_min": 16, "patch_max": 32, "steps": 2,
              "log_every": 1, "eval_every": 2, "checkpoint_every": 2})
        for f in (0.5,) for paradigm in ("baseline", "multitask")), "mae",
        (Claim("ranking helps with 50% of the labels", "multitask_50%", "baseline_50%"),),
        seeds=(0,))
)
