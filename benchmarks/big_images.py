"""Big photos in bounded memory, and video frames per second, with a counting network.

    python benchmarks/big_images.py --photo ../shared/data/UCF_CC_50/3.jpg --frames ~/data/mall_dataset-new/frames

1. Exactness: one photo counted in one whole-image pass and in overlapping windows
   (a limit that forces 3 x 3 windows); the two counts and their relative difference.
2. Size: the same photo enlarged to 8000 x 6000 and counted whole within the default
   memory limit (RANKJAX_WHOLE_IMAGE_MAX_GB, 4 GiB): windows, seconds, peak memory of
   the process (ru_maxrss).
3. Video: frames of a folder written to an MP4 (PyAV), then counted frame by frame
   through Predictor.predict_video: frames per second, overlay written.

The network is a full-width (--width) CountingNet with random weights unless --workdir
names a trained run: speed and memory do not depend on the weights, and exactness holds
for any weights.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import tempfile
import time


import rankjax  # noqa: E402,F401  (CPU flags before JAX starts)
from rankjax import cli  # noqa: E402
from rankjax import presets  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", required=True, help="a photograph (any size)")
    parser.add_argument("--frames", help="a folder of video frames (jpg/png), e.g. Mall's")
    parser.add_argument("--max_frames", type=int, default=100)
    parser.add_argument("--workdir", help="a trained crowd run (default: random weights)")
    parser.add_argument("--width", type=float, default=1.0)
    args = parser.parse_args()
    cli.setup_logging()

    import jax
    import jax.numpy as jnp
    import numpy as np
    from PIL import Image

    from rankjax import api, image_io, models, platform, restore, rundir
    from rankjax.tasks import crowd

    if args.workdir:
        cfg = rundir.read_config(args.workdir)
        params, _ = restore.restore_params(cfg, args.workdir, "best")
    else:
        cfg = presets.get_preset("crowd_cpu_small").replace(width=args.width,
                                                               density_scale=1.0)
        params = models.CountingNet(width=cfg.width).init(jax.random.key(0),
                                                          jnp.zeros((1, 64, 64, 3)))
    cfg = cfg.replace(count_protocol="whole")
    predictor = api.Predictor(cfg, params)
    machine = platform.machine()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['vector_flags']}), "
          f"{machine['date']}; network width {cfg.width}")

    photo = image_io.read_image(args.photo)
    height, width = photo.shape[:2]
    whole = crowd.masked_density(predictor._predict, params, photo, cfg).sum()
    limit = crowd.WHOLE_IMAGE_MAX_BYTES
    side = max(crowd.padded_size(height), crowd.padded_size(width))
    window = -(-(side + 4 * crowd.WINDOW_HALO) // 3 // 64) * 64  # about 3 windows a side
    crowd.WHOLE_IMAGE_MAX_BYTES = crowd.pass_bytes((window, window), cfg.width)
    windowed = crowd.masked_density(predictor._predict, params, photo, cfg).sum()
    crowd.WHOLE_IMAGE_MAX_BYTES = limit
    print(f"1. {os.path.basename(args.photo)} {width}x{height}: one pass {whole:.4f}, "
          f"{window} px windows {windowed:.4f}, relative difference "
          f"{abs(windowed - whole) / max(abs(whole), 1e-12):.2e}")

    big = np.asarray(Image.fromarray((photo * 255).astype(np.uint8)).resize((8000, 6000)),
                     np.float32) / 255.0
    del photo
    side = crowd.window_side(cfg.width)
    rows = len(crowd._axis_windows(crowd.padded_size(6000), side, crowd.WINDOW_HALO))
    cols = len(crowd._axis_windows(crowd.padded_size(8000), side, crowd.WINDOW_HALO))
    start = time.perf_counter()
    count = predictor.predict(big)[0]["count"]
    print(f"2. 8000x6000 counted whole in {rows} x {cols} windows of {side} px: count "
          f"{count:.1f}, {time.perf_counter() - start:.1f} s, peak memory of the process "
          f"{peak_gib():.1f} GiB (limit per pass {limit / 2**30:.0f} GiB)")
    del big

    if args.frames:
        import av

        files = sorted(glob.glob(os.path.join(args.frames, "*.jpg"))
                       + glob.glob(os.path.join(args.frames, "*.png")))[:args.max_frames]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "frames.mp4")
            with av.open(path, mode="w") as container:
                stream = container.add_stream("h264", rate=25)
                first = np.asarray(Image.open(files[0]).convert("RGB"))
                stream.height, stream.width = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2
                stream.pix_fmt = "yuv420p"
                for name in files:
                    frame = np.asarray(Image.open(name).convert("RGB"))
                    frame = frame[:stream.height, :stream.width]
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            summary = predictor.predict_video(path, os.path.join(folder, "out"))
            print(f"3. video of {summary['frames']} frames {stream.width}x{stream.height}: "
                  f"{summary['frames_per_second']:.2f} frames/s (decode, count, overlay "
                  f"encode), counts {summary['min']:.1f}..{summary['max']:.1f}")


if __name__ == "__main__":
    main()
