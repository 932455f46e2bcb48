"""The `label_scarcity_shb` table (its note: experiments/notes/label_scarcity_shb.md)."""

from experiments.declare import scarcity

TABLE = (
    scarcity("label_scarcity_shb", "ShanghaiTech B: labeled fraction x paradigm",
             "crowd_shb_cpu_small", "ShanghaiTech", (0.1, 0.25, 1.0), "mae",
             paper={"baseline_100%": 14.7, "multitask_100%": 13.7},
             paper_gain=1 - 13.7 / 14.7, papers_claims=True)
)
