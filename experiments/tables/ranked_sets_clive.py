"""The `ranked_sets_clive` table (its note: experiments/notes/ranked_sets_clive.md)."""

from experiments.declare import Cell, Claim, NO_NOISE, Table

TABLE = (
    Table("ranked_sets_clive", "CLIVE: which distortion types to rank", tuple(
        Cell(name, "iqa_clive_cpu_small", overrides, "ChallengeDB_release")
        for name, overrides in (
            ("rank_only_paper4", {"paradigm": "rank_only"}),
            ("rank_only_no_noise", {"paradigm": "rank_only", "distortions": NO_NOISE}),
            ("baseline_10%", {"paradigm": "baseline", "labeled_fraction": 0.1}),
            ("multitask_paper4_10%", {"paradigm": "multitask", "labeled_fraction": 0.1}),
            ("multitask_no_noise_10%", {"paradigm": "multitask", "labeled_fraction": 0.1,
                                        "distortions": NO_NOISE}),
            ("baseline_100%", {"paradigm": "baseline", "labeled_fraction": 1.0}),
            ("multitask_paper4_100%", {"paradigm": "multitask", "labeled_fraction": 1.0}),
            ("multitask_no_noise_100%", {"paradigm": "multitask", "labeled_fraction": 1.0,
                                         "distortions": NO_NOISE}))), "srocc",
        (Claim("without labels, ranking blur, JPEG and JPEG 2000 orders authentic quality "
               "better than ranking the paper's four types", "rank_only_no_noise",
               "rank_only_paper4"),
         Claim("at 10 % labels, ranking without noise beats ranking the paper's four",
               "multitask_no_noise_10%", "multitask_paper4_10%"),
         Claim("at 10 % labels, ranking without noise beats the baseline",
               "multitask_no_noise_10%", "baseline_10%"),
         Claim("with every label, ranking without noise beats the baseline",
               "multitask_no_noise_100%", "baseline_100%")),
        x_field="", line_field="", papers_claims=False)
)
