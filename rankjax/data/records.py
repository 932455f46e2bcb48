"""The records a dataset is made of, the dataset registry and its error.

A record is one image file with its size and its label: head points (CrowdRecord) or a
score and the pristine image it was made from (QualityRecord). Each record type declares
its schema (FIELDS: what it holds beyond the image file, name, height and width), which
the TFDS builders (rankjax.data.tfds_builders) store. `DATASETS` maps a dataset's name to
its `Dataset` (task, reader, layout); rankjax.data.readers and rankjax.data.tfds_builders
fill it, and rankjax.data.splits, which imports both, is where the whole registry is read.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from rankjax.errors import DatasetError
from rankjax.registry import Registry


@dataclasses.dataclass(frozen=True)
class CrowdRecord:
    path: str
    points: np.ndarray          # (N, 2) float32 x, y in pixels of the image as read
    height: int
    width: int

    # field -> (shape, dtype): a NumPy dtype name, or "text".
    FIELDS = {"points": ((None, 2), "float32")}  # x, y in pixels of the image as read

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def count(self) -> int:
        return len(self.points)

    @classmethod
    def from_values(cls, path: str, height: int, width: int, values: dict) -> "CrowdRecord":
        """The record of an image file from its FIELDS' values (the inverse of
        `field_values`; lists, NumPy values and bytes are accepted)."""
        points = np.asarray(values["points"], np.float32).reshape(-1, 2)
        return cls(path, points, height=int(height), width=int(width))


@dataclasses.dataclass(frozen=True)
class QualityRecord:
    path: str
    score: float                # higher is better
    reference: str              # id of the pristine source image (for splits by reference)
    height: int = 0
    width: int = 0

    FIELDS = {"score": ((), "float32"), "reference": ((), "text")}

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @classmethod
    def from_values(cls, path: str, height: int, width: int, values: dict
                    ) -> "QualityRecord":
        reference = values["reference"]
        reference = reference.decode() if isinstance(reference, bytes) else str(reference)
        return cls(path, float(values["score"]), reference, height=int(height),
                   width=int(width))


def field_values(record) -> dict:
    """`record`'s FIELDS: NumPy arrays of the declared shape and dtype, or str."""
    return {name: (str(getattr(record, name)) if dtype == "text" else
                   np.asarray(getattr(record, name), dtype).reshape(
                       [-1 if n is None else n for n in shape]))
            for name, (shape, dtype) in type(record).FIELDS.items()}


# The record type of each task's datasets.
RECORD_TYPES = {"crowd": CrowdRecord, "iqa": QualityRecord}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A reader: `read(data_dir, split, fold)` for datasets with an official train/test
    split, or `read(data_dir)` returning every record when `by_reference` (IQA sets, split
    80/20 by reference image with the run's seed). `layout` tells a user what --data_dir
    must hold; a dataset without one is generated in code (data_dir is only its cache).
    (What the CPU presets set for one dataset alone is rankjax.presets.DATASET_CPU_SETTINGS.)"""
    task: str
    read: Callable
    by_reference: bool = False
    layout: str = ""

    @property
    def record(self) -> type:
        """The type of this dataset's records."""
        return RECORD_TYPES[self.task]

    def check_data_dir(self, data_dir: str) -> None:
        if not self.layout:
            return
        if not data_dir:
            raise DatasetError(f"this dataset needs --data_dir: the folder holding {self.layout}")
        if not os.path.isdir(data_dir):
            raise DatasetError(f"--data_dir {data_dir!r} is not a folder; it should hold "
                               f"{self.layout}")


DATASETS = Registry("dataset")
