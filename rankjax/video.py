"""Counts (or quality scores) of every frame of a video, streamed frame by frame.

    python eval.py --workdir runs/crowd_cpu_small --images street.mp4 --every_nth_frame 5

Decoding and encoding use PyAV (FFmpeg's libraries in its binary wheels; no system ffmpeg).
Frames are decoded, predicted and written one at a time, so memory does not grow with the
length of the video. For each video, into the output folder:

    <stem>_per_frame.csv  frame, seconds, predicted count (or score)
    <stem>_per_frame.png  the prediction over time
    <stem>_overlay.mp4    crowd: each predicted frame with its density drawn over it
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from typing import Iterator

import numpy as np

from rankjax import pictures, rundir, storage

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
OVERLAY_ALPHA = 0.45
# Fewest people per output cell that the overlay's full colour can stand for (an empty
# first frame would otherwise make every later person saturate).
MIN_COLOUR_SCALE = 0.05


class VideoError(ValueError):
    """A video that cannot be opened or decoded; the message names the file."""


def is_video(path: str) -> bool:
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def frames(path: str, every: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in seconds, (H, W, 3) uint8 RGB) of every `every`-th frame,
    decoded one at a time."""
    import av

    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(f"{path!r} cannot be opened as a video: {error}") from error
    with container:
        if not container.streams.video:
            raise VideoError(f"{path!r} holds no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 25)
        index = -1
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index % every == 0:
                    seconds = float(frame.time) if frame.time is not None else index / rate
                    yield index, seconds, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as error:
            raise VideoError(f"{path!r}: decoding failed after {index + 1} frames: {error}") \
                from error


def rate_and_length(path: str) -> tuple[float, int]:
    """(frames per second, number of frames; 0 when the container does not say)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        return float(stream.average_rate or 25), int(stream.frames or 0)


class OverlayWriter:
    """An MP4 of frames with their density maps blended in (jet colours, scaled per video
    so that colours compare across frames) and the count written in the corner."""

    def __init__(self, path: str, rate: float):
        import av

        self.path, self.rate, self._av = path, rate, av
        self.container = av.open(path, mode="w", format="mp4")  # path ends in .part
        self.stream = None
        self.vmax = None

    def write(self, frame: np.ndarray, density: np.ndarray, count: float) -> None:
        from fractions import Fraction

        from matplotlib import colormaps
        from PIL import Image, ImageDraw

        height, width = frame.shape[:2]
        if self.stream is None:
            codec = "h264" if "h264" in self._av.codecs_available else "mpeg4"
            self.stream = self.container.add_stream(
                codec, rate=Fraction(self.rate).limit_denominator(1000))
            self.stream.width, self.stream.height = width // 2 * 2, height // 2 * 2
            self.stream.pix_fmt = "yuv420p"
            # Twice the first frame's densest cell (people per cell), at least
            # MIN_COLOUR_SCALE: one fixed scale, so colours compare across frames.
            self.vmax = max(float(np.max(density)) * 2.0, MIN_COLOUR_SCALE)
        per_cell = np.clip(density / self.vmax, 0.0, 1.0)
        colours = (colormaps["jet"](per_cell)[..., :3] * 255).astype(np.uint8)
        heat = np.asarray(Image.fromarray(colours).resize((width, height), Image.BILINEAR))
        blended = (frame * (1 - OVERLAY_ALPHA) + heat * OVERLAY_ALPHA).astype(np.uint8)
        picture = Image.fromarray(blended)
        ImageDraw.Draw(picture).text((6, 4), f"{count:.1f}", fill=(255, 255, 255))
        out = np.asarray(picture)[:self.stream.height, :self.stream.width]
        for packet in self.stream.encode(self._av.VideoFrame.from_ndarray(out, format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()


def predict_video(predictor, path: str, out_dir: str, every: int = 1,
                  overlay: bool = True, progress: bool = True) -> dict:
    """Predicts every `every`-th frame of `path` with `predictor` (rankjax.Predictor) and
    writes the CSV, the plot and (for tasks with density maps) the overlay video into
    `out_dir`. Returns {frames, mean, min, max, frames_per_second} of the predictions."""
    # PyAV writes local files: an overlay for a URL is made in a local folder, then copied.
    local_dir = out_dir if storage.is_local(out_dir) else tempfile.mkdtemp(prefix="rankjax")
    os.makedirs(local_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    value = predictor.task.value_name
    from tqdm import tqdm

    rate, length = rate_and_length(path)
    writer = None
    rows, start = [], time.perf_counter()
    try:
        for index, seconds, frame in tqdm(frames(path, every), total=-(-length // every) or None,
                                          desc=os.path.basename(path), unit="frame",
                                          disable=not progress):
            result = predictor.predict(frame)[0]
            rows.append((index, seconds, result[value]))
            drawn = predictor.task.prediction_map(result) if overlay else None
            if drawn is not None:
                if writer is None:
                    writer = OverlayWriter(os.path.join(local_dir, f"{stem}_overlay.mp4.part"),
                                           rate / every)
                writer.write(frame, drawn, result[value])
    finally:
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - start
    if not rows:
        raise VideoError(f"{path!r} holds no frames")
    if writer is not None:
        storage.move_local_file(writer.path, storage.join(out_dir, f"{stem}_overlay.mp4"))

    def write_csv(f):
        out = csv.writer(f)
        out.writerow(["frame", "seconds", f"predicted_{value}"])
        out.writerows((i, f"{s:.3f}", f"{v:.4f}") for i, s, v in rows)

    rundir.write_atomic(storage.join(out_dir, f"{stem}_per_frame.csv"), write_csv)
    values = np.array([v for _, _, v in rows])
    pictures.series(storage.join(out_dir, f"{stem}_per_frame.png"),
                    [s for _, s, _ in rows], values, "seconds", f"predicted {value}",
                    os.path.basename(path))
    return {"frames": len(rows), "mean": float(values.mean()), "min": float(values.min()),
            "max": float(values.max()), "frames_per_second": len(rows) / elapsed}
