"""The `starved_clive` table (its note: experiments/notes/starved_clive.md)."""

from experiments.declare import Cell, Claim, SIX_SEEDS, Table

# Declared 2026-12-05 before any of its runs, with the settings the earlier tables chose by
# their declared rules: MOS scaled (score_scale_clive, on validation), 2,400 steps and the
# ranked types blur and JPEG 2000 (rank_only_clive: the types a rank-only network orders at
# least nine pairs in ten on held-out photographs). Both paradigms of a seed share every
# setting but the paradigm (the same labeled photographs).
SETTINGS = {"score_offset": 50.0, "score_scale": 25.0, "margin": 1.0,
            "distortions": ("gaussian_blur", "jpeg2000"), "steps": 2400,
            "lr_decay_every": 1600, "eval_every": 800, "checkpoint_every": 800}

TABLE = (
    Table("starved_clive", "CLIVE with 50 or 100 labeled photographs: ranking the others "
          "(blur and JPEG 2000 levels)", tuple(
              Cell(f"{paradigm}_{n}", "iqa_clive_cpu_small",
                   {"paradigm": paradigm, "labeled_images": n, **SETTINGS},
                   "ChallengeDB_release")
              for n in (50, 100) for paradigm in ("baseline", "multitask")), "srocc",
        tuple(Claim(f"ranking helps with {n} labeled photographs", f"multitask_{n}",
                    f"baseline_{n}") for n in (50, 100)),
        seeds=SIX_SEEDS, x_field="labeled_images", line_field="paradigm",
        papers_claims=False, declared="2026-12-05")
)
