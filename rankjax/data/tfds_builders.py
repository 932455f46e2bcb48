"""TFDS builders for the real datasets: prepare once, train anywhere by name.

On a pod every host must read the same prepared data; the convention is a TFDS directory
on shared storage rather than an unpacked folder copied to every host. Each builder
reads the files you unpacked (`--manual_dir`) with rankjax's own reader, so a prepared
dataset holds exactly the records, splits and counts that the folder reader gives:

    python scripts/prepare_tfds.py shanghaitech/part_b --manual_dir ~/data/ShanghaiTech \
        --data_dir gs://BUCKET/tfds
    python train.py --preset crowd_shb --dataset tfds:shanghaitech/part_b --data_dir gs://BUCKET/tfds

(The script calls the builder's download_and_prepare. TFDS's own command works too,
`tfds build shanghaitech --imports rankjax.data.tfds_builders --config part_b --manual_dir ...
--data_dir ...`, once the packages that the `tfds` command of tensorflow-datasets 4.9.10
imports on start are installed: `pip install apache-beam mlcroissant` (checked in a
separate virtual environment: the prepared directory reads back with the same records).)

Builders (config names after the slash): shanghaitech/part_a, shanghaitech/part_b,
ucf_cc50/fold0..fold4 (the authors' folds), ucf_qnrf, mall, live, tid2013, clive. Crowd
sets keep their train and test splits; IQA sets have one split, `full`, which training
divides 80/20 by reference image with the run's seed, as for the folder readers.

Every example stores the image file's bytes as they were (no re-encoding), the size the
reader gives it (UCF-QNRF images are read at most 1024 px a side), and its head points or
score. Training writes the bytes of a split once to the local cache
(RANKJAX_CACHE/tfds/...) and reads them like any other image file.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import tensorflow_datasets as tfds

from rankjax import cache
from rankjax.data import readers  # noqa: F401  (registers the readers the builders use)
from rankjax.data.records import DATASETS, Dataset, DatasetError, field_values

VERSION = tfds.core.Version("1.0.0")
# Datasets prepared with TFDS: `tfds:BUILDER[/CONFIG]`, with --data_dir the TFDS data
# directory (default ~/tensorflow_datasets, or gs://...). (builder, config or None) -> (the
# reader its builder uses, fold); the reader's Dataset says the task, the record type and
# whether the set is split by reference image.
SOURCES = {
    ("shanghaitech", "part_a"): ("shanghaitech_a", 0),
    ("shanghaitech", "part_b"): ("shanghaitech_b", 0),
    **{("ucf_cc50", f"fold{k}"): ("ucf_cc_50", k) for k in range(5)},
    ("ucf_qnrf", None): ("ucf_qnrf", 0),
    ("mall", None): ("mall", 0),
    ("live", None): ("live", 0),
    ("tid2013", None): ("tid2013", 0),
    ("clive", None): ("clive", 0),
}
WHERE = {
    "shanghaitech": "ShanghaiTech (Zhang et al., CVPR 2016), e.g. from the authors' page or "
                    "Kaggle; --manual_dir is the folder holding part_A/ and part_B/",
    "ucf_cc50": "UCF_CC_50 (Idrees et al., CVPR 2013) from crcv.ucf.edu/data/ucf-cc-50; "
                "--manual_dir holds 1.jpg ... 50.jpg and 1_ann.mat ... 50_ann.mat",
    "ucf_qnrf": "UCF-QNRF (Idrees et al., ECCV 2018) from crcv.ucf.edu/data/ucf-qnrf; "
                "--manual_dir holds Train/ and Test/",
    "mall": "Mall (Chen et al., BMVC 2012) from personal.ie.cuhk.edu.hk/~ccloy; --manual_dir "
            "holds mall_gt.mat and frames/",
    "live": "LIVE IQA release 2 (Sheikh et al.) from live.ece.utexas.edu; --manual_dir holds "
            "jp2k/ jpeg/ wn/ gblur/ fastfading/ refimgs/ dmos.mat refnames_all.mat",
    "tid2013": "TID2013 (Ponomarenko et al.) from ponomarenko.info/tid2013.htm; --manual_dir "
               "holds distorted_images/ and mos_with_names.txt",
    "clive": "LIVE In the Wild Challenge (Ghadiyaram and Bovik) from live.ece.utexas.edu; "
             "--manual_dir is ChallengeDB_release/ (Images/, Data/)",
}


def _features(record: type) -> tfds.features.FeaturesDict:
    """The example schema: the image file and its size, then what the records hold (the
    record type's FIELDS)."""
    def feature(shape, dtype):
        if dtype == "text":
            return tfds.features.Text()
        return tfds.features.Tensor(shape=shape, dtype=np.dtype(dtype)) if shape else \
            np.dtype(dtype)

    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(), "name": tfds.features.Text(), "height": np.int32,
        "width": np.int32, **{name: feature(*spec) for name, spec in record.FIELDS.items()}})


def _example(record) -> dict:
    return {"image": record.path, "name": record.name, "height": record.height,
            "width": record.width, **field_values(record)}


def _json_value(value):
    """A TFDS example's value as JSON (text comes back as bytes, tensors as arrays)."""
    if isinstance(value, bytes):
        return value.decode()
    return np.asarray(value).tolist()


with tfds.core.registered.skip_registration():  # the base itself is no dataset
    class _Builder(tfds.core.GeneratorBasedBuilder):
        """Reads the unpacked files of `manual_dir` with the rankjax reader of SOURCES."""
        VERSION = VERSION

        def _source(self) -> tuple[Dataset, int]:
            """The rankjax reader of this builder (config) and its fold."""
            reader, fold = SOURCES[(self.name, self.builder_config.name if self.builder_config
                                    else None)]
            return DATASETS.get(reader), fold

        def _info(self) -> tfds.core.DatasetInfo:
            return self.dataset_info_from_configs(features=_features(self._source()[0].record),
                                                  disable_shuffling=True)  # reader's order

        def _split_generators(self, dl_manager):
            dataset, fold = self._source()
            data_dir = os.fspath(dl_manager.manual_dir)
            if dataset.by_reference:
                return {"full": self._generate_examples(dataset.read(data_dir))}
            return {split: self._generate_examples(dataset.read(data_dir, split, fold))
                    for split in ("train", "test")}

        def _generate_examples(self, records):
            for index, record in enumerate(records):
                yield f"{index:06d}", _example(record)


def _builder(name: str, configs: tuple[str, ...] = ()) -> type:
    attributes = {"name": name, "MANUAL_DOWNLOAD_INSTRUCTIONS": WHERE[name],
                  "__module__": __name__}
    if configs:
        attributes["BUILDER_CONFIGS"] = [tfds.core.BuilderConfig(name=c) for c in configs]
    # A class statement per builder would repeat the same body seven times.
    return type(name.title().replace("_", ""), (_Builder,), attributes)


Shanghaitech = _builder("shanghaitech", ("part_a", "part_b"))
UcfCc50 = _builder("ucf_cc50", tuple(f"fold{k}" for k in range(5)))
UcfQnrf = _builder("ucf_qnrf")
Mall = _builder("mall")
Live = _builder("live")
Tid2013 = _builder("tid2013")
Clive = _builder("clive")


NAMES = tuple(f"{b}/{c}" if c else b for b, c in SOURCES)
RECORDS_FILE = "records.json"


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise DatasetError(f"unknown TFDS dataset {name!r}; prepared by rankjax: "
                           + ", ".join(NAMES))


def read(name: str, tfds_data_dir: str, split: str | None) -> list:
    """Records of a prepared dataset (`name` as in SOURCES, e.g. "shanghaitech/part_b").
    On first use the split is read once: its images are written to the local cache and
    its records beside them (records.json); later uses read only that file."""
    _check_name(name)
    builder_name, _, config = name.partition("/")
    record = DATASETS.get(SOURCES[(builder_name, config or None)][0]).record
    builder = tfds.builder(name, data_dir=tfds_data_dir or None)
    split = split or "full"
    if not builder.is_prepared():
        raise DatasetError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir!r}; prepare it with "
            f"`python scripts/prepare_tfds.py {name} --manual_dir FOLDER_YOU_UNPACKED"
            + (f" --data_dir {tfds_data_dir}" if tfds_data_dir else "") + "`")
    # One local copy per prepared directory and content (a dataset prepared again, or
    # elsewhere, gets its own).
    info = builder.info.splits[split]
    key = hashlib.sha1(f"{builder.data_dir}|{info.num_examples}|{info.num_bytes}".encode())
    target = os.path.join(cache.root(), "tfds", name.replace("/", "_"),
                          f"{builder.version}_{key.hexdigest()[:12]}", split)

    def write(folder):
        ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
        rows = []
        for index, example in enumerate(tfds.as_numpy(ds)):
            # Names repeat (LIVE): a folder per example keeps each file's own name.
            file_name = os.path.join(f"{index:06d}", example["name"].decode())
            os.makedirs(os.path.join(folder, f"{index:06d}"))
            with open(os.path.join(folder, file_name), "wb") as f:
                f.write(example["image"])
            rows.append({"file": file_name, "height": int(example["height"]),
                         "width": int(example["width"]),
                         **{field: _json_value(example[field]) for field in record.FIELDS}})
        with open(os.path.join(folder, RECORDS_FILE), "w") as f:
            json.dump(rows, f)

    folder = cache.materialise(target, write)
    with open(os.path.join(folder, RECORDS_FILE)) as f:
        rows = json.load(f)
    return [record.from_values(os.path.join(folder, row["file"]), row["height"], row["width"],
                               row) for row in rows]


def prepare(name: str, manual_dir: str, data_dir: str = "") -> str:
    """Builds `name` from the files unpacked in `manual_dir`; returns where it was written."""
    _check_name(name)
    if not os.path.isdir(os.path.expanduser(manual_dir)):
        raise DatasetError(f"--manual_dir {manual_dir!r} is not a folder")
    builder = tfds.builder(name, data_dir=data_dir or None)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.path.expanduser(manual_dir)))
    return os.fspath(builder.data_dir)


def _reader(name: str, by_reference: bool):
    def read_prepared(data_dir: str, split: str | None = None, fold: int = 0) -> list:
        return read(name, data_dir, None if by_reference else split)
    return read_prepared


def _register() -> None:
    """`tfds:NAME` in DATASETS for every prepared set, with its reader's task."""
    for (builder, config), (reader, _) in SOURCES.items():
        name = f"{builder}/{config}" if config else builder
        source = DATASETS.get(reader)
        DATASETS.register(f"tfds:{name}", Dataset(source.task,
                                                  _reader(name, source.by_reference),
                                                  by_reference=source.by_reference))


_register()
