"""The two generated datasets, registered beside the readers of downloaded ones.

    synthetic_crowd   cartoon crowds with their head points (rankjax.synthetic)
    synthetic_iqa     pristine images at five levels of four distortions, quality 5 - level

No download: the images are generated once into a cache folder (data_dir, or
rankjax.cache.root()) and read from it by the folder reader. Generating the
quality set distorts with rankjax.distortions, hence TensorFlow; the readers of downloaded
datasets (rankjax.data.readers) do not need it.
"""

from __future__ import annotations

import os

from rankjax import synthetic
from rankjax.data.readers import read_folder
from rankjax.data.records import DATASETS, CrowdRecord, Dataset, QualityRecord


def _quality(data_dir: str) -> list[QualityRecord]:
    folder, labels = synthetic.quality_folder(data_dir)
    return [QualityRecord(os.path.join(folder, name), score, name.split("_")[0],
                          synthetic.QUALITY_SIZE, synthetic.QUALITY_SIZE)
            for name, score in sorted(labels.items())]


def _crowd(data_dir: str, split: str, fold: int) -> list[CrowdRecord]:
    return read_folder(synthetic.crowd_folder(data_dir), split)


DATASETS.register("synthetic_crowd", Dataset("crowd", _crowd))
DATASETS.register("synthetic_iqa", Dataset("iqa", _quality, by_reference=True))
