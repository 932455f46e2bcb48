"""What a run reads: a dataset's (train, test) records, the labeled / unlabeled /
validation split of its training records, the unlabeled pool, and `Sources`, the four
together. Importing this module registers every dataset (rankjax.data.readers, the
folder layouts; rankjax.data.synthetic_sets, the generated sets; rankjax.data.tfds_builders,
the prepared TFDS sets): `DATASETS` here is the whole registry.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from rankjax.config import Config
# Each registers its datasets.
from rankjax.data import readers, synthetic_sets, tfds_builders  # noqa: F401
from rankjax.data.records import DATASETS, DatasetError, QualityRecord


def for_task(task: str) -> tuple[str, ...]:
    """Names of the registered datasets whose records suit `task`."""
    return tuple(name for name, dataset in DATASETS.items() if dataset.task == task)


def load(name: str, data_dir: str, fold: int = 0, seed: int = 0) -> tuple[list, list]:
    """(train, test) records of the dataset registered as `name` (IQA sets: 80/20 by
    reference image with `seed`)."""
    dataset = DATASETS.get(name)
    dataset.check_data_dir(data_dir)
    if dataset.by_reference:
        return split_by_reference(dataset.read(data_dir), 0.2, seed)
    return dataset.read(data_dir, "train", fold), dataset.read(data_dir, "test", fold)


def read(name: str, data_dir: str, split: str | None = None, fold: int = 0) -> list:
    """Records of one split ("train" or "test"), or all records of a `by_reference` set."""
    dataset = DATASETS.get(name)
    if dataset.by_reference:
        return dataset.read(data_dir)
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, got {split!r}")
    return dataset.read(data_dir, split, fold)


# --------------------------------------------------------------------------- splits

def split_labeled(records: list, labeled_fraction: float, validation_fraction: float,
                  seed: int, validation: str = "random", labeled_images: int = 0
                  ) -> tuple[list, list, list]:
    """Training records -> (labeled, unlabeled, validation), chosen with `seed`.

    Validation is carved from training data first (never from the test set): records
    drawn at random (`validation="random"`), or the last ones in the given order
    (`"last"`: for video frames, the stretch next to the test frames, so that validation
    sees the scene as the test starts, not frames between training frames). Of the rest,
    `labeled_images` (if not 0, else `labeled_fraction` of them) keep labels, the first
    ones of a seeded order (so a seed's 10 labeled images include its 5), and the
    remainder is the unlabeled pool.
    """
    if not records:
        raise DatasetError("cannot split an empty training set")
    if validation not in ("random", "last"):
        raise ValueError(f"validation must be random or last, got {validation!r}")
    n_val = int(round(validation_fraction * len(records)))
    if validation_fraction > 0:
        n_val = max(1, min(n_val, len(records) - 1))
    rng = np.random.default_rng(seed)
    if validation == "random":
        order = rng.permutation(len(records))
    else:
        n_train = len(records) - n_val
        order = np.concatenate([np.arange(n_train, len(records)), rng.permutation(n_train)])
    held_out = [records[i] for i in order[:n_val]]
    rest = [records[i] for i in order[n_val:]]
    n_labeled = max(1, int(round(labeled_fraction * len(rest))))
    if labeled_images:
        if labeled_images > len(rest):
            raise DatasetError(f"labeled_images {labeled_images} is more than the "
                               f"{len(rest)} training images left after validation")
        n_labeled = labeled_images
    return rest[:n_labeled], rest[n_labeled:], held_out


def split_by_reference(records: list[QualityRecord], test_fraction: float = 0.2,
                       seed: int = 0) -> tuple[list[QualityRecord], list[QualityRecord]]:
    """(train, test) with every reference image's distortions on one side only."""
    references = sorted({r.reference for r in records})
    if len(references) < 2:
        raise DatasetError(f"need at least 2 reference images to split, got {references}")
    order = np.random.default_rng(seed).permutation(len(references))
    n_test = min(len(references) - 1, max(1, int(round(test_fraction * len(references)))))
    test_refs = {references[i] for i in order[:n_test]}
    return ([r for r in records if r.reference not in test_refs],
            [r for r in records if r.reference in test_refs])


# --------------------------------------------------------------------------- a run's sources

@dataclasses.dataclass(frozen=True)
class Sources:
    """What one run reads: labeled training records, the unlabeled pool, validation and test."""
    labeled: list
    unlabeled: list[str]        # image paths for ranked sets
    validation: list
    test: list


def build_sources(cfg: Config) -> Sources:
    """Reads the configured dataset and carves labeled / unlabeled / validation / test."""
    if not cfg.dataset:
        raise DatasetError(
            "this config names no dataset: pass the data to train_and_evaluate(sources=...) "
            "or set --dataset")
    train, test = load(cfg.dataset, cfg.data_dir, cfg.fold, cfg.seed)
    if cfg.test_dataset:  # transfer: scored on another dataset's test split
        _, test = load(cfg.test_dataset, cfg.test_data_dir, cfg.fold, cfg.seed)
    labeled, rest, validation = split_labeled(train, cfg.labeled_fraction,
                                              cfg.validation_fraction, cfg.seed,
                                              cfg.validation_split, cfg.labeled_images)
    halves = {"first_half": test[:len(test) // 2], "second_half": test[len(test) // 2:]}
    unlabeled = unlabeled_paths(cfg.unlabeled, labeled, rest, halves)
    return Sources(labeled, unlabeled, validation, halves.get(cfg.test_part, test))


def unlabeled_paths(spec: str, labeled: list, rest: list,
                    test_halves: dict | None = None) -> list[str]:
    """The ranked pool's image paths from a comma-separated list of sources: `rest` (the
    training images whose labels are withheld; with every label in use, the labeled
    images themselves, whose crops' order is still free), `test_first_half` and
    `test_second_half` (images of the test split, unlabeled: for video frames, the
    stretch the other half is scored on is not in the pool), and image folders, in the
    order given, duplicates dropped. `tfds:NAME` stands alone (its images are read by
    TFDS)."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if any(part.startswith("tfds:") for part in parts):
        if len(parts) > 1:
            raise DatasetError(f"--unlabeled {spec!r}: a tfds: pool cannot be "
                                        f"combined with other sources")
        return []
    paths = []
    for part in parts:
        if part == "rest":
            paths += [r.path for r in (rest or labeled)]
        elif part in ("test_first_half", "test_second_half"):
            paths += [r.path for r in (test_halves or {}).get(part[len("test_"):], [])]
        else:
            paths += readers.list_images(os.path.expanduser(part))
    return list(dict.fromkeys(paths))
