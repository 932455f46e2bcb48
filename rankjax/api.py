"""The Python API: load a trained run and predict on your own images.

    import rankjax
    predictor = rankjax.load("runs/crowd_cpu_small", which="best")
    results = predictor.predict(["photo.jpg", numpy_image, pil_image])
    results[0]["count"], results[0]["density"]          # crowd
    # IQA runs: results[0]["score"] (mean over the test split's crop protocol)

Files are decoded exactly as in training and evaluation (rankjax.image_io), and the
task's own evaluation protocol is applied: whole-image density maps for crowd counting
(the same count as in the test metrics), the mean over `test_crops` seeded random crops
for score tasks. Crops depend on the run's seed and the image alone, not on its place
in the list, so an image always gets the same score.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable

import numpy as np

from rankjax import (certainty, checks, config as config_lib, evaluation, image_io,
                     restore, rundir, tasks, training, video)
from rankjax.data import readers
from rankjax.data.records import DatasetError
from rankjax.config import Config

log = logging.getLogger(__name__)


class Predictor:
    """A trained model with its config: `predict(images) -> list of dicts`."""

    def __init__(self, cfg: Config, params: Any, checkpoint: str = ""):
        self.cfg = cfg
        self.task = tasks.get(cfg.task)
        self.model = training.build_model(cfg)
        self.params = params
        self.checkpoint = checkpoint
        self._predict = evaluation.make_predict_fn(self.model)

    def predict(self, images) -> list[dict]:
        """One result per image. `images`: a path, PIL image or (H, W, 3) array (uint8, or
        float in [0, 1]), or a list of them. Crowd: {"count", "density"} (density on the
        stride-16 grid of the image); IQA and other score tasks: {"score"}."""
        if isinstance(images, (str, os.PathLike)) or hasattr(images, "convert") or (
                isinstance(images, np.ndarray) and images.ndim in (2, 3)):
            images = [images]
        results = []
        for index, image in enumerate(images):
            name = os.fspath(image) if isinstance(image, (str, os.PathLike)) else \
                f"image {index} of {len(images)}"
            pixels = image_io.as_float_image(image)
            refusal, warnings = self.task.image_problems(self.cfg, pixels)
            if refusal:
                raise ValueError(f"{name}: {refusal}")
            for warning in warnings:
                log.warning("%s: %s", name, warning)
            results.append(self.task.predict_image(self.cfg, self._predict, self.params,
                                                   pixels))
        return results

    def certainty(self, paths: list[str], seed: int | None = None,
                  progress: bool = False) -> np.ndarray:
        """C(z) of each image file: the share of `certainty_pairs` seeded ranked pairs of
        its own ranked sets (nested crops, distortion levels) that this network orders
        correctly. No labels needed; the least certain images are the ones to label first
        (rankjax.active). An image's ranked sets depend on the seed and its bytes alone,
        not on its name or place in the list."""
        paths = list(paths)
        return certainty.pool_certainty(self.cfg, self.params, paths,
                                        self.cfg.seed if seed is None else seed, progress,
                                        keys=certainty.content_keys(paths))

    def predict_video(self, path: str, out_dir: str, every: int = 1, overlay: bool = True
                      ) -> dict:
        """Predicts every `every`-th frame of a video, streamed; writes a CSV, a plot and an
        overlay video into `out_dir` (see rankjax.video)."""
        return video.predict_video(self, path, out_dir, every=every, overlay=overlay)

    def __repr__(self) -> str:
        return f"Predictor(task={self.cfg.task!r}, checkpoint={self.checkpoint!r})"


def load(path: str, which: str = "best", **evaluation) -> Predictor:
    """A Predictor from a run directory (its `which` checkpoint: "best" on validation, as
    train.py reports, falling back to the latest; or "latest") or
    from one checkpoint folder (.../checkpoints/<step>, .../best/<step>).

    `evaluation` changes how it predicts (the task's `evaluation_fields`), e.g.
    count_protocol="whole" to count whole images instead of the tiles the CPU presets
    count in (any protocol counts a photo of any size within bounded memory).
    """
    run = restore.run_of_checkpoint(path)
    workdir = run or path
    cfg = rundir.read_config(workdir)
    check_evaluation_fields(cfg, evaluation)
    cfg = checks.check(config_lib.apply_overrides(cfg, evaluation))
    params, label = restore.restore_params(cfg, workdir, which, checkpoint=path if run else None)
    return Predictor(cfg, params, label)


def check_evaluation_fields(cfg: Config, changes: dict) -> None:
    """ValueError unless every field in `changes` only changes how `cfg`'s task evaluates."""
    allowed = tasks.get(cfg.task).evaluation_fields
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"a {cfg.task} run takes only {', '.join(allowed)} as evaluation "
                         f"settings, got {', '.join(sorted(unknown))}")


def image_files(paths: Iterable[str], missing_ok: bool = False):
    """Image and video files named by `paths`, folders expanded (recursively, sorted).
    A path that does not exist raises DatasetError; with `missing_ok`, it is returned
    instead: (files, missing paths)."""
    import glob

    files, missing = [], []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(p for p in glob.glob(os.path.join(path, "**", "*"), recursive=True)
                           if p.lower().endswith(readers.IMAGE_EXTENSIONS
                                                 + video.VIDEO_EXTENSIONS) and os.path.isfile(p))
            if not found:
                raise DatasetError(
                    f"no images ({', '.join(readers.IMAGE_EXTENSIONS)}) or videos "
                    f"({', '.join(video.VIDEO_EXTENSIONS)}) found in {path!r}")
            files += found
        elif os.path.isfile(path):
            files.append(path)
        elif missing_ok:
            missing.append(path)
        else:
            raise DatasetError(f"no such image or folder: {path!r}")
    return (files, missing) if missing_ok else files
