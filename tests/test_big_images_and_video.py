"""Images of any size in bounded memory (exact overlapping windows) and videos, streamed."""

import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rankjax import api, models, presets, video
from rankjax.tasks import crowd


@pytest.fixture(scope="module")
def network():
    """A tiny counting network with random weights scaled up so every layer is lively."""
    model = models.CountingNet(width=0.125)
    params = model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    params = jax.tree.map(lambda p: p * 1.5, params)
    return jax.jit(model.apply), params


def test_windows_give_exactly_the_one_pass_map(network):
    predict, params = network
    image = np.random.default_rng(0).random((300, 420, 3)).astype(np.float32)
    padded, _ = crowd.pad_for_eval(image)  # 320 x 448: windows of 320 at 0, 64, 128
    whole = np.asarray(predict(params, padded))[0]
    windowed = crowd.windowed_density(predict, params, padded, window=320)
    np.testing.assert_allclose(windowed, whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max())
    # The halo is what makes it exact: 96 px (< the 106 px a cell sees beyond its own
    # 16 px) changes the map, so this test can fail.
    short = crowd.windowed_density(predict, params, padded, window=320, halo=96)
    assert np.abs(short - whole).max() > 1e-3 * np.abs(whole).max()


def test_a_whole_image_beyond_the_memory_limit_is_predicted_in_windows(network, monkeypatch):
    predict, params = network
    image = np.random.default_rng(1).random((350, 500, 3)).astype(np.float32)
    cfg = presets.get_preset("crowd_cpu_small").replace(width=0.125, count_protocol="whole",
                                                           density_scale=1.0)
    reference = crowd.masked_density(predict, params, image, cfg)
    shapes = []

    def recording(p, x):
        shapes.append(x.shape[1:3])
        return predict(p, x)

    # A limit that fits a 384 px window at width 0.125 and nothing bigger.
    monkeypatch.setattr(crowd, "WHOLE_IMAGE_MAX_BYTES", crowd.pass_bytes((390, 390), 0.125))
    assert crowd.window_side(0.125) == 384
    limited = crowd.masked_density(recording, params, image, cfg)
    assert shapes == [(384, 384)] * 2  # 384 x 512 padded: two windows side by side
    np.testing.assert_allclose(limited, reference, rtol=1e-5,
                               atol=1e-5 * np.abs(reference).max())


def test_an_8000_by_6000_photo_fits_in_the_default_limit():
    side = crowd.window_side(1.0)  # full width, 4 GiB
    assert side == 2112 and crowd.pass_bytes((side, side), 1.0) <= crowd.WHOLE_IMAGE_MAX_BYTES
    rows = crowd._axis_windows(6016, side, crowd.WINDOW_HALO)  # 6000 padded to 64
    cols = crowd._axis_windows(8000, side, crowd.WINDOW_HALO)
    assert (len(rows), len(cols)) == (4, 5)
    for axis, side_px in ((rows, 6016), (cols, 8000)):
        covered = np.zeros(side_px, int)
        for first, end, start in axis:
            covered[first:end] += 1
            assert start % 16 == 0 and 0 <= start <= side_px - side
            assert first - start >= crowd.WINDOW_HALO or start == 0
            assert start + side - end >= crowd.WINDOW_HALO or start + side == side_px
        assert (covered == 1).all()  # every output row from exactly one window


def write_video(path, frames, rate=10):
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_frames(path):
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_video_counts_every_nth_frame_with_csv_plot_and_overlay(tmp_path, network):
    _, params = network
    cfg = presets.get_preset("crowd_cpu_small").replace(width=0.125, count_protocol="whole")
    predictor = api.Predictor(cfg, jax.tree.map(lambda p: p / 1.5, params))
    rng = np.random.default_rng(0)
    source = [(rng.random((72, 96, 3)) * 255).astype(np.uint8) for _ in range(10)]
    write_video(tmp_path / "street.mp4", source)
    decoded = read_frames(tmp_path / "street.mp4")
    assert len(decoded) == 10
    summary = predictor.predict_video(str(tmp_path / "street.mp4"), str(tmp_path / "out"),
                                      every=3)
    assert summary["frames"] == 4 and summary["frames_per_second"] > 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "street_per_frame.csv")))
    assert [int(r["frame"]) for r in rows] == [0, 3, 6, 9]
    assert [float(r["seconds"]) for r in rows] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    for row in rows:  # each the count of that frame predicted alone
        expected = predictor.predict(decoded[int(row["frame"])])[0]["count"]
        assert float(row["predicted_count"]) == pytest.approx(expected, rel=1e-4)
    overlay = read_frames(tmp_path / "out" / "street_overlay.mp4")
    assert len(overlay) == 4 and overlay[0].shape == (72, 96, 3)
    assert (tmp_path / "out" / "street_per_frame.png").stat().st_size > 0


def test_unreadable_video_is_named(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(video.VideoError, match="broken.mp4"):
        next(video.frames(str(broken)))
