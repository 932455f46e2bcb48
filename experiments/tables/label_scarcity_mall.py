"""The `label_scarcity_mall` table (its note: experiments/notes/label_scarcity_mall.md)."""

from experiments.declare import scarcity

TABLE = (
    scarcity("label_scarcity_mall", "Mall: labeled fraction x paradigm",
             "crowd_mall_cpu_small", "mall_dataset-new", (0.1, 0.25, 1.0), "mae")
)
