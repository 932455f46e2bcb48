import glob
import io
import os

import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import ndimage

from rankjax import distortions


@pytest.fixture(scope="module")
def photo():
    """A real photograph that every install has: matplotlib's grace_hopper.jpg, 256x256 crop."""
    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))[:256, :256]


@pytest.mark.parametrize("size", [7, 15, 39])
def test_blur_matches_scipy(photo, size):
    sigma = size / 6
    expected = np.stack([ndimage.gaussian_filter(photo[..., c].astype(np.float64), sigma,
                                                 mode="reflect", truncate=(size // 2) / sigma)
                         for c in range(3)], axis=-1)
    ours = distortions.gaussian_blur(tf.constant(photo), size).numpy().astype(np.float64)
    assert np.abs(ours - np.round(expected)).max() <= 1.0


@pytest.mark.parametrize("quality", [43, 12, 4, 0])
def test_jpeg_matches_pillow(photo, quality):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=quality)
    expected = np.asarray(Image.open(buffer).convert("RGB"), np.float64)
    ours = distortions.jpeg(tf.constant(photo), quality).numpy().astype(np.float64)
    # Same codec settings; decoders may differ by IDCT rounding / chroma upsampling.
    assert np.abs(ours - expected).mean() < 1.5
    assert distortions.psnr(ours, expected) > 35


def test_noise_statistics_and_determinism(photo):
    grey = np.full((128, 128, 3), 128, np.uint8)
    variance = 2.0 ** -5.5
    out = distortions.gaussian_noise(tf.constant(grey), variance, tf.constant([1, 2])).numpy()
    residual = out.astype(np.float64) / 255.0 - 128 / 255.0
    assert residual.std() == pytest.approx(np.sqrt(variance), rel=0.05)
    again = distortions.gaussian_noise(tf.constant(grey), variance, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(out, again)


def test_jpeg2000_rate_is_respected(photo):
    out = distortions.jpeg2000(tf.constant(photo), 0.16).numpy()
    assert out.shape == photo.shape and out.dtype == np.uint8
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG2000", quality_mode="rates",
                                quality_layers=[24 / 0.16], irreversible=True)
    bits_per_pixel = 8 * len(buffer.getvalue()) / (photo.shape[0] * photo.shape[1])
    assert bits_per_pixel < 0.16 * 1.3


def real_photographs(photo):
    images = [photo]
    tid = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "TID2013_sample",
                       "distorted_images")
    for path in sorted(glob.glob(os.path.join(tid, "I*_01_1.bmp")))[:2]:  # near-pristine
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("RGB"))[:256, :256])
    return images


@pytest.mark.parametrize("kind", distortions.DISTORTIONS.names())
def test_psnr_falls_strictly_with_level(photo, kind):
    for image in real_photographs(photo):
        values = [distortions.psnr(image, distortions.distort(image, kind, level, (3, 4)).numpy())
                  for level in range(1, 6)]
        assert all(a > b for a, b in zip(values, values[1:])), (kind, values)


@pytest.mark.parametrize("size", [64, 128, 224])  # the presets' crop sizes (CPU, paper)
def test_jpeg2000_levels_differ_on_small_crops(photo, size):
    """OpenJPEG cannot go below its headers: before the mosaic, a 64 px crop gave the same
    image at all five levels. Crops at two places of real photographs."""
    for image in real_photographs(photo):
        for y, x in ((0, 256 - size), (128 - size // 2,) * 2):
            crop = image[y:y + size, x:x + size]
            outs = [distortions.distort(crop, "jpeg2000", level).numpy()
                    for level in range(1, 6)]
            errors = [np.mean((o.astype(np.float64) - crop) ** 2) for o in outs]
            assert all(not np.array_equal(a, b) for a, b in zip(outs, outs[1:])), (size, y, x)
            assert all(a < b for a, b in zip(errors, errors[1:])), (size, y, x, errors)


def test_ops_work_inside_tf_data(photo):
    ds = tf.data.Dataset.from_tensors(photo).map(
        lambda im: distortions.ranked_set(im, tf.constant(3), (1, 2, 3, 4, 5),
                                          distortions.PAPER_DISTORTIONS, tf.constant([0, 1])))
    (batch,) = list(ds.as_numpy_iterator())
    assert batch.shape == (5, 256, 256, 3)
    eager = distortions.distort(photo, "jpeg2000", 2).numpy()
    np.testing.assert_array_equal(batch[1], eager)
    with pytest.raises(ValueError, match="unknown distortion"):
        distortions.distort(photo, "motion_blur", 1)
