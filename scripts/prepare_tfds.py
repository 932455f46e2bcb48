"""Prepare a dataset for TFDS from the files you unpacked (rankjax/tfds_datasets.py).

    python scripts/prepare_tfds.py shanghaitech/part_b --manual_dir ~/data/ShanghaiTech --data_dir gs://BUCKET/tfds
    python train.py --preset crowd_shb --dataset tfds:shanghaitech/part_b --data_dir gs://BUCKET/tfds
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from rankjax import tfds_datasets  # noqa: E402

if __name__ == "__main__":
    tfds_datasets.main()
