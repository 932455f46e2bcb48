"""The `paradigms_shb` table (its note: experiments/notes/paradigms_shb.md)."""

from experiments.declare import Cell, Claim, Table

TABLE = (
    Table("paradigms_shb", "ShanghaiTech B at 10 % labels: the paper's ablation", (
        Cell("baseline", "crowd_shb_cpu_small",
             {"paradigm": "baseline", "labeled_fraction": 0.1}, "ShanghaiTech"),
        Cell("rank_then_finetune", "crowd_shb_cpu_small",
             {"paradigm": "rank_then_finetune", "labeled_fraction": 0.1,
              "finetune_steps": 0}, "ShanghaiTech"),
        Cell("multitask_random", "crowd_shb_cpu_small",
             {"labeled_fraction": 0.1, "pair_strategy": "random", "num_pairs": 6},
             "ShanghaiTech"),
        Cell("multitask_hard", "crowd_shb_cpu_small",
             {"labeled_fraction": 0.1, "pair_strategy": "hard", "num_pairs": 6},
             "ShanghaiTech"),
        Cell("multitask_all", "crowd_shb_cpu_small", {"labeled_fraction": 0.1},
             "ShanghaiTech")), "mae",
        (Claim("all pairs beat random pairs", "multitask_all", "multitask_random"),
         Claim("all pairs beat hard-negative pairs", "multitask_all", "multitask_hard"),
         Claim("multitask beats rank then fine-tune", "multitask_all", "rank_then_finetune"),
         Claim("multitask beats the baseline", "multitask_all", "baseline")),
        x_field="", line_field="")
)
