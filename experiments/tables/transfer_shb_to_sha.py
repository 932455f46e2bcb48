"""The `transfer_shb_to_sha` table (its note: experiments/notes/transfer_shb_to_sha.md)."""

from experiments.declare import CLAIM_MARGIN, Cell, Claim, DATA_DIR, SIX_SEEDS, Table

# Issue #29's claim tables, declared 2026-12-04 before any of their runs (see
# mall_paper_protocol.py); the multitask cells use CLAIM_MARGIN, margin_shb's choice.
TABLE = (
    Table("transfer_shb_to_sha", "Transfer: ShanghaiTech B labels, ranked sets from "
          "ShanghaiTech A training images, scored on ShanghaiTech A", tuple(
              Cell(paradigm, "crowd_shb_cpu_small",
                   {"paradigm": paradigm,
                    "unlabeled": f"{DATA_DIR}/ShanghaiTech/part_A/train_data/images",
                    "test_dataset": "shanghaitech_a",
                    "test_data_dir": f"{DATA_DIR}/ShanghaiTech",
                    **({"margin": CLAIM_MARGIN} if paradigm == "multitask" else {})},
                   "ShanghaiTech") for paradigm in ("baseline", "multitask")), "mae",
        (Claim("ranking unlabeled images of the target domain helps transfer",
               "multitask", "baseline", paper_gain=1 - 337.6 / 349.5, papers=True),),
        seeds=SIX_SEEDS, x_field="", line_field="paradigm", declared="2026-12-04")
)
