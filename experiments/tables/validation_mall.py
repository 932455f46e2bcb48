"""The `validation_mall` table (its note: experiments/notes/validation_mall.md)."""

from experiments.declare import Cell, Claim, Table

TABLE = (
    Table("validation_mall", "Mall: which training frames validate (multitask)", tuple(
        Cell(f"multitask_{round(f * 100)}%_{split}_val", "crowd_mall_cpu_small",
             {"paradigm": "multitask", "labeled_fraction": f, "validation_split": split},
             "mall_dataset-new")
        for f in (0.1, 0.25, 1.0) for split in ("random", "last")), "mae",
        tuple(Claim(f"validating on the last 80 training frames beats 80 random ones "
                    f"with {label} of the labels", f"multitask_{label}_last_val",
                    f"multitask_{label}_random_val") for label in ("10%", "25%", "100%")),
        line_field="validation_split", papers_claims=False)
)
