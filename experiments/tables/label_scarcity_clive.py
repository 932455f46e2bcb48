"""The `label_scarcity_clive` table (its note: experiments/notes/label_scarcity_clive.md)."""

from experiments.declare import scarcity

TABLE = (
    scarcity("label_scarcity_clive", "CLIVE: labeled fraction x paradigm",
             "iqa_clive_cpu_small", "ChallengeDB_release", (0.1, 0.25, 1.0), "srocc")
)
