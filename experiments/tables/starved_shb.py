"""The `starved_shb` table (its note: experiments/notes/starved_shb.md)."""

from experiments.declare import CLAIM_MARGIN, Cell, Claim, DATA_DIR, SIX_SEEDS, Table

# Declared 2026-12-05 before any of its runs. Label counts from labels_curve_shb's declared
# rule (the two counts whose validation MAE lies highest above every label's); the unlabeled
# pool: the withheld ShanghaiTech B training images, ShanghaiTech A's training images and
# UCF_CC_50 (the paper's crawled collections are not public); margin: margin_shb's choice.
POOL = (f"rest,{DATA_DIR}/ShanghaiTech/part_A/train_data/images,"
        f"{DATA_DIR}/UCF_CC_50")

TABLE = (
    Table("starved_shb", "ShanghaiTech B with 5 or 10 labeled images: ranking the rest, "
          "ShanghaiTech A and UCF_CC_50 unlabeled", tuple(
              Cell(f"{paradigm}_{n}", "crowd_shb_cpu_small",
                   {"paradigm": paradigm, "labeled_images": n,
                    **({"unlabeled": POOL, "margin": CLAIM_MARGIN}
                       if paradigm == "multitask" else {})}, "ShanghaiTech")
              for n in (5, 10) for paradigm in ("baseline", "multitask")), "mae",
        tuple(Claim(f"ranking unlabeled photographs helps with {n} labeled images",
                    f"multitask_{n}", f"baseline_{n}", paper_gain=1 - 13.7 / 14.7,
                    papers=False) for n in (5, 10)),
        seeds=SIX_SEEDS, x_field="labeled_images", line_field="paradigm",
        papers_claims=False, declared="2026-12-05")
)
