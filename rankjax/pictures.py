"""Pictures people would rather look at than read: density maps and training curves."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rankjax import storage  # noqa: E402


def save(figure, path: str, dpi: int = 80) -> str:
    """Writes `figure` as a PNG to `path` (a local path or URL), atomically, and closes it."""
    storage.write_atomic(path, lambda f: figure.savefig(f, format="png", dpi=dpi), binary=True)
    plt.close(figure)
    return path


def density_panels(path: str, image: np.ndarray, predicted: np.ndarray,
                   truth: np.ndarray | None = None, title: str = "") -> str:
    """PNG of the image, the ground-truth density (if known) and the predicted density.

    image: (H, W, 3) in [0, 1]; density maps on any grid (drawn over the image's extent).
    """
    panels = 2 if truth is None else 3
    height, width = image.shape[:2]
    figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2 * height / width + 0.6))
    axes[0].imshow(np.clip(image, 0, 1))
    axes[0].set_title(title or "image", fontsize=9)
    maps = ([("ground truth", truth)] if truth is not None else []) + [("predicted", predicted)]
    # Maps on different grids share one colour scale as people per pixel.
    per_pixel = [m * m.size / (height * width) for _, m in maps]
    # Negative cells (the network's output is not bounded below) are drawn as zero.
    vmax = max(max(float(np.max(m)) for m in per_pixel), 0.0) or 1.0
    for axis, (label, density), shown in zip(axes[1:], maps, per_pixel):
        axis.imshow(shown, cmap="jet", vmin=0, vmax=vmax, extent=(0, width, height, 0))
        axis.set_title(f"{label}: {float(np.sum(density)):.1f}", fontsize=9)
    for axis in axes:
        axis.axis("off")
    figure.tight_layout()
    return save(figure, path)


def overlay(path: str, image: np.ndarray, predicted: np.ndarray, title: str) -> str:
    """PNG of the predicted density drawn translucently over the image."""
    height, width = image.shape[:2]
    figure, axis = plt.subplots(figsize=(6, 6 * height / width + 0.4))
    axis.imshow(np.clip(image, 0, 1))
    axis.imshow(predicted, cmap="jet", alpha=0.45, extent=(0, width, height, 0),
                vmin=0, vmax=max(float(np.max(predicted)), 0.0) or 1.0)
    axis.set_title(title, fontsize=9)
    axis.axis("off")
    figure.tight_layout()
    return save(figure, path)


def series(path: str, x, y, x_label: str, y_label: str, title: str) -> str:
    """PNG of one quantity over time (e.g. the count of every frame of a video)."""
    figure, axis = plt.subplots(figsize=(7, 3))
    axis.plot(x, y, lw=1)
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return save(figure, path)


def training_curves(metrics_path: str, path: str, metric: str) -> str | None:
    """PNG of the loss parts over steps, and the validation `metric` (the one that picks
    the best checkpoint), from metrics.jsonl."""
    if not storage.exists(metrics_path):
        return None
    train, validation = [], []
    for line in storage.read_text(metrics_path).splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("kind") in ("train", "validation"):
            (validation if row["kind"] == "validation" else train).append(row)
    if not train:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    steps = [row["step"] for row in train]
    for key in ("loss", "regression_loss", "rank_loss"):
        values = [row.get(key) for row in train]
        if any(v is not None for v in values):
            axes[0].plot(steps, [np.nan if v is None else v for v in values], label=key)
    axes[0].set_yscale("symlog", linthresh=1e-3)
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses")
    axes[0].legend()
    validation = [row for row in validation if metric in row]
    if validation:
        axes[1].plot([row["step"] for row in validation], [row[metric] for row in validation],
                     marker="o")
        axes[1].set_title(f"validation {metric}")
        axes[1].set_xlabel("step")
    else:
        axes[1].axis("off")
    figure.tight_layout()
    return save(figure, path)
