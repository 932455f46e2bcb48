"""The `rank_only_clive` table (its note: experiments/notes/rank_only_clive.md)."""

from experiments.declare import Cell, Table

RANK_ONLY = {"paradigm": "rank_only"}

TABLE = (
    Table("rank_only_clive", "CLIVE without labels: which distortion orders a rank-only "
          "network learns, and whether longer training teaches JPEG", tuple(
              Cell(name, "iqa_clive_cpu_small", {**RANK_ONLY, **changes},
                   "ChallengeDB_release")
              for name, changes in (
                  ("paper4_600_steps", {}),
                  ("paper4_2400_steps", {"steps": 2400, "lr_decay_every": 1600,
                                         "eval_every": 800, "checkpoint_every": 800}),
                  ("jpeg_only_600_steps", {"distortions": ("jpeg",)}))), "srocc",
        seeds=(0, 1), x_field="", line_field="", papers_claims=False, declared="2026-12-05")
)
