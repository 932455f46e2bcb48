"""Prepare a dataset for TFDS from the files you unpacked (rankjax/data/tfds_builders.py).

    python scripts/prepare_tfds.py shanghaitech/part_b --manual_dir ~/data/ShanghaiTech --data_dir gs://BUCKET/tfds
    python train.py --preset crowd_shb --dataset tfds:shanghaitech/part_b --data_dir gs://BUCKET/tfds
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from rankjax import cli  # noqa: E402
from rankjax.data import tfds_builders  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description="Prepare a dataset for TFDS from the files "
                                     "you unpacked (see rankjax/data/tfds_builders.py).",
                                     prog="scripts/prepare_tfds.py")
    parser.add_argument("name", choices=tfds_builders.NAMES)
    parser.add_argument("--manual_dir", required=True, help="the folder you unpacked")
    parser.add_argument("--data_dir", default="", help="TFDS data directory (default "
                        "~/tensorflow_datasets; gs://... for a pod)")
    args = parser.parse_args()
    cli.setup_logging()
    with cli.user_errors(False):
        print(f"prepared: {tfds_builders.prepare(args.name, args.manual_dir, args.data_dir)}")


if __name__ == "__main__":
    main()
