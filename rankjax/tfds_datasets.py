"""TFDS builders for the real datasets: prepare once, train anywhere by name.

On a pod every host must read the same prepared data; the convention is a TFDS directory
on shared storage rather than an unpacked folder copied to every host. Each builder
reads the files you unpacked (`--manual_dir`) with rankjax's own reader, so a prepared
dataset holds exactly the records, splits and counts that the folder reader gives:

    python scripts/prepare_tfds.py shanghaitech/part_b --manual_dir ~/data/ShanghaiTech \
        --data_dir gs://BUCKET/tfds
    python train.py --preset crowd_shb --dataset tfds:shanghaitech/part_b --data_dir gs://BUCKET/tfds

(The script calls the builder's download_and_prepare. TFDS's own command works too,
`tfds build shanghaitech --imports rankjax.tfds_datasets --config part_b --manual_dir ...
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
import os

import numpy as np
import tensorflow_datasets as tfds

from rankjax import datasets, synthetic

VERSION = tfds.core.Version("1.0.0")
SOURCES = datasets.TFDS_SOURCES  # (builder, config or None) -> (reader, task, fold)
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


def _features(task: str) -> tfds.features.FeaturesDict:
    common = {"image": tfds.features.Image(), "name": tfds.features.Text(),
              "height": np.int32, "width": np.int32}
    if task == "crowd":
        return tfds.features.FeaturesDict({
            **common, "points": tfds.features.Tensor(shape=(None, 2), dtype=np.float32)})
    return tfds.features.FeaturesDict({**common, "score": np.float32,
                                       "reference": tfds.features.Text()})


def _example(record) -> dict:
    example = {"image": record.path, "name": record.name, "height": record.height,
               "width": record.width}
    if isinstance(record, datasets.CrowdRecord):
        return {**example, "points": np.asarray(record.points, np.float32).reshape(-1, 2)}
    return {**example, "score": record.score, "reference": record.reference}


with tfds.core.registered.skip_registration():  # the base itself is no dataset
    class _Builder(tfds.core.GeneratorBasedBuilder):
        """Reads the unpacked files of `manual_dir` with the rankjax reader of SOURCES."""
        VERSION = VERSION

        @classmethod
        def _source(cls, config_name):
            return SOURCES[(cls.name, config_name)]

        def _info(self) -> tfds.core.DatasetInfo:
            _, task, _ = self._source(self.builder_config.name if self.builder_config else None)
            return self.dataset_info_from_configs(features=_features(task),
                                                  disable_shuffling=True)  # reader's order

        def _split_generators(self, dl_manager):
            reader, _, fold = self._source(self.builder_config.name if self.builder_config
                                           else None)
            data_dir = os.fspath(dl_manager.manual_dir)
            dataset = datasets.DATASETS.get(reader)
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
        raise datasets.DatasetError(f"unknown TFDS dataset {name!r}; prepared by rankjax: "
                                    + ", ".join(NAMES))


def read(name: str, tfds_data_dir: str, split: str | None) -> list:
    """Records of a prepared dataset (`name` as in SOURCES, e.g. "shanghaitech/part_b").
    On first use the split is read once: its images are written to the local cache and
    its records beside them (records.json); later uses read only that file."""
    import json

    _check_name(name)
    builder = tfds.builder(name, data_dir=tfds_data_dir or None)
    split = split or "full"
    if not builder.is_prepared():
        raise datasets.DatasetError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir!r}; prepare it with "
            f"`python scripts/prepare_tfds.py {name} --manual_dir FOLDER_YOU_UNPACKED"
            + (f" --data_dir {tfds_data_dir}" if tfds_data_dir else "") + "`")
    # One local copy per prepared directory and content (a dataset prepared again, or
    # elsewhere, gets its own).
    info = builder.info.splits[split]
    key = hashlib.sha1(f"{builder.data_dir}|{info.num_examples}|{info.num_bytes}".encode())
    target = os.path.join(synthetic.cache_root(), "tfds", name.replace("/", "_"),
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
            row = {"file": file_name, "height": int(example["height"]),
                   "width": int(example["width"])}
            if "points" in example:
                row["points"] = example["points"].tolist()
            else:
                row.update(score=float(example["score"]),
                           reference=example["reference"].decode())
            rows.append(row)
        with open(os.path.join(folder, RECORDS_FILE), "w") as f:
            json.dump(rows, f)

    folder = synthetic.materialise(target, write)
    with open(os.path.join(folder, RECORDS_FILE)) as f:
        rows = json.load(f)
    records = []
    for row in rows:
        path, size = os.path.join(folder, row["file"]), dict(height=row["height"],
                                                            width=row["width"])
        if "points" in row:
            points = np.asarray(row["points"], np.float32).reshape(-1, 2)
            records.append(datasets.CrowdRecord(path, points, **size))
        else:
            records.append(datasets.QualityRecord(path, row["score"], row["reference"], **size))
    return records


def prepare(name: str, manual_dir: str, data_dir: str = "") -> str:
    """Builds `name` from the files unpacked in `manual_dir`; returns where it was written."""
    _check_name(name)
    if not os.path.isdir(os.path.expanduser(manual_dir)):
        raise datasets.DatasetError(f"--manual_dir {manual_dir!r} is not a folder")
    builder = tfds.builder(name, data_dir=data_dir or None)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.path.expanduser(manual_dir)))
    return os.fspath(builder.data_dir)
