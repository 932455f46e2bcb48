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
from rankjax import presets


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


@pytest.mark.parametrize("rate", [0.46, 0.16, 0.07])
def test_jpeg2000_rate_is_respected(photo, monkeypatch, rate):
    """The bits per pixel of the codestream `distortions.jpeg2000` itself writes (caught
    as it is saved), against the level's rate; its output is that codestream decoded."""
    saved = []
    save = Image.Image.save

    def keep(image, buffer, *args, **kwargs):
        save(image, buffer, *args, **kwargs)
        saved.append((image.size, len(buffer.getvalue())))

    monkeypatch.setattr(Image.Image, "save", keep)
    out = distortions.jpeg2000(tf.constant(photo), rate).numpy()
    assert out.shape == photo.shape and out.dtype == np.uint8
    ((width, height), size), = saved  # one codestream (of a mosaic, for small crops)
    assert 8 * size / (width * height) < rate * 1.3
    assert np.abs(out.astype(float) - photo).mean() > 0  # the distortion is there


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
    kinds = presets.TID2013_DISTORTIONS  # every TID2013 type as a branch of one graph
    ds = tf.data.Dataset.range(len(kinds)).map(
        lambda k: distortions.ranked_set(tf.constant(photo[:64, :64]), tf.cast(k, tf.int32),
                                         (1, 5), kinds, tf.constant([0, 1])))
    sets = list(ds.as_numpy_iterator())
    assert len(sets) == 17 and all(s.shape == (2, 64, 64, 3) for s in sets)
    assert all(not np.array_equal(s[0], s[1]) for s in sets)


# ------------------------------------------------------------------- TID2013's types

def test_every_tid2013_type_gets_stronger_level_by_level(photo):
    """A ranked set is only as good as its order: for each of the 17 types the TID2013
    presets rank, the mean squared difference from the pristine crop grows with every
    level, 1 to 5 (on a real photograph; levels that did not would teach a wrong order)."""
    kinds = presets.get_preset("iqa_tid2013_cpu_small").distortions
    assert len(set(kinds)) == 17
    crop = tf.constant(photo[64:192, 64:192])
    for index, kind in enumerate(kinds):
        levels = np.asarray(distortions.ranked_set(crop, tf.constant(index), (0, 1, 2, 3, 4, 5),
                                                   kinds, tf.constant([1, 2]))).astype(float)
        errors = [((levels[level] - levels[0]) ** 2).mean() for level in range(1, 6)]
        assert all(a < b for a, b in zip(errors, errors[1:])), (kind, errors)


def test_ycbcr_matches_pillow(photo):
    ours = distortions.rgb_to_ycbcr(tf.constant(photo, tf.float32) / 255.0).numpy() * 255.0
    expected = np.asarray(Image.fromarray(photo).convert("YCbCr"), np.float64)
    assert np.abs(ours - expected).max() < 1.5  # Pillow rounds in fixed point
    back = distortions.ycbcr_to_rgb(tf.constant(ours / 255.0, tf.float32)).numpy() * 255.0
    assert np.abs(back - photo).max() < 1e-3


@pytest.mark.parametrize("factor", [0.4, 0.0, -0.4])
def test_color_saturation_matches_pillow_enhance(photo, factor):
    from PIL import ImageEnhance
    expected = np.asarray(ImageEnhance.Color(Image.fromarray(photo)).enhance(factor), np.float64)
    ours = distortions.color_saturation(tf.constant(photo), factor).numpy().astype(np.float64)
    assert np.abs(ours - expected).mean() < 0.6 and np.abs(ours - expected).max() <= 2


def test_shift_contrast_and_quantization_by_hand(photo):
    x = photo.astype(np.float64)
    np.testing.assert_array_equal(distortions.mean_shift(tf.constant(photo), 45).numpy(),
                                  np.clip(x + 45, 0, 255).astype(np.uint8))
    contrast = distortions.contrast_change(tf.constant(photo), 0.55).numpy()
    assert np.abs(contrast - np.round(x * 0.55)).max() <= 1  # float32 rounding at .5
    assert (contrast == np.round(x * 0.55)).mean() > 0.99
    out = distortions.quantization_noise(tf.constant(photo), 4).numpy()
    assert set(np.unique(out)) <= {0, 85, 170, 255}
    assert np.abs(out.astype(np.float64) - x).max() <= 255 / 6 + 1  # nearest of 4 values


def test_impulse_noise_density(photo):
    out = distortions.impulse_noise(tf.constant(photo), 0.1, tf.constant([5, 6])).numpy()
    changed = np.any(out != photo, axis=-1)
    assert changed.mean() == pytest.approx(0.1, abs=0.01)
    salt_or_pepper = np.all(out == 0, axis=-1) | np.all(out == 255, axis=-1)
    assert salt_or_pepper[changed].all()


def test_noise_types_have_their_variance():
    grey = tf.constant(np.full((256, 256, 3), 128, np.uint8))
    seed = tf.constant([1, 2])
    mult = distortions.multiplicative_noise(grey, 0.13, seed).numpy() / 128.0 - 1.0
    assert mult.std() == pytest.approx(0.13, rel=0.05)
    colour = distortions.gaussian_noise_color(grey, 0.0140, seed).numpy() / 255.0
    ycbcr = distortions.rgb_to_ycbcr(tf.constant(colour, tf.float32)).numpy()
    assert ycbcr.reshape(-1, 3).std(axis=0) == pytest.approx([0.0140 ** 0.5] * 3, rel=0.08)
    high = distortions.high_frequency_noise(grey, 0.005, seed).numpy() / 255.0 - 128 / 255.0
    assert high.std() == pytest.approx(0.005 ** 0.5, rel=0.05)
    # Its low frequencies are gone: smoothed, it keeps far less power than white noise.
    smooth = ndimage.gaussian_filter(high[..., 0], 2)
    white = ndimage.gaussian_filter(np.random.default_rng(0).normal(0, high.std(), (256, 256)), 2)
    assert smooth.std() < 0.3 * white.std()


def test_color_quantization_palette(photo):
    for colors in (64, 8):
        out = distortions.color_quantization_dither(tf.constant(photo), colors).numpy()
        assert len(np.unique(out.reshape(-1, 3), axis=0)) <= colors


def test_chromatic_aberration_matches_scipy(photo):
    shift = 6
    x = photo.astype(np.float64)
    moved = x.copy()
    moved[:, shift:, 0], moved[:, :shift, 0] = x[:, :-shift, 0], x[:, :1, 0]
    moved[:, shift // 2:, 2], moved[:, :shift // 2, 2] = x[:, :-(shift // 2), 2], x[:, :1, 2]
    expected = np.stack([ndimage.gaussian_filter(moved[..., c], 0.5, mode="reflect", truncate=2)
                         for c in range(3)], -1)
    ours = distortions.chromatic_aberration(tf.constant(photo), shift).numpy()
    assert np.abs(ours - np.round(expected)).max() <= 1.0


def test_blocks_and_displaced_patches_by_hand(photo):
    seed = tf.constant([3, 9])
    blocks = distortions.block_wise(tf.constant(photo), 8, seed).numpy()
    changed = np.any(blocks != photo, axis=-1)
    mean = np.round(photo.reshape(-1, 3).mean(axis=0))
    assert (np.abs(blocks[changed] - mean) <= 1).all()  # filled with the mean colour
    assert 0 < changed.mean() <= 8 * 32 * 32 / 256 ** 2
    more = distortions.block_wise(tf.constant(photo), 16, seed).numpy()
    assert (np.any(more != photo, axis=-1) >= changed).all()  # a superset of the places
    patches = distortions.non_eccentricity_noise(tf.constant(photo), 30, seed).numpy()
    moved = np.any(patches != photo, axis=-1)
    ys, xs = np.nonzero(moved)
    np.testing.assert_array_equal(patches[ys, xs], photo[ys + 5, xs + 5])


def test_distortion_pair_accuracy_by_type(photo, tmp_path):
    """A 'network' that scores a crop by its pixel spread (numpy's std) orders blur levels
    right (more blur, less spread) and noise levels backwards (more noise, more spread):
    the per-type accuracies must say so; the mean score per level is the spread's mean."""
    from rankjax.tasks import score

    paths = []
    for i, (top, left) in enumerate([(0, 0), (100, 60), (180, 180)]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(photo[top:top + 76, left:left + 76]).save(paths[-1])

    def spread(params, images):
        return np.asarray(images, np.float64).reshape(len(images), -1).std(1)

    kinds = ("gaussian_blur", "gaussian_noise")
    result = score.distortion_pair_accuracy(spread, None, paths, 64, kinds, seed=3)
    assert result["gaussian_blur"]["pair_accuracy"] == 1.0
    assert result["gaussian_noise"]["pair_accuracy"] == 0.0
    blur = result["gaussian_blur"]["mean_score_per_level"]
    assert len(blur) == 4 and blur == sorted(blur, reverse=True)
    with pytest.raises(ValueError, match="unknown distortion types"):
        score.distortion_pair_accuracy(spread, None, paths, 64, ("blurr",))
    with pytest.raises(ValueError, match="at least one image"):
        score.distortion_pair_accuracy(spread, None, [], 64, kinds)
    # A quality run's check: the run's types and the paper's four, at the run's levels
    # (a 3-image set: levels 3, 4, 5), on its first `images` records.
    from rankjax import presets, tasks
    from rankjax.data.records import QualityRecord
    cfg = presets.get_preset("iqa_cpu_small").replace(
        image_size=64, ranked_per_group=3, distortions=("gaussian_blur", "contrast_change"))
    records = [QualityRecord(p, 1.0, p) for p in paths]
    check = tasks.get("iqa").ranking_check(cfg, spread, None, records, images=2, seed=3)
    assert (check["images"], check["levels"]) == (2, [3, 4, 5])
    assert check["trained_on"] == ["gaussian_blur", "contrast_change"]
    assert list(check["types"]) == ["gaussian_blur", "contrast_change", "gaussian_noise",
                                    "jpeg", "jpeg2000"]
    assert check["types"]["gaussian_blur"]["pair_accuracy"] == 1.0
    assert check["types"]["gaussian_noise"]["pair_accuracy"] == 0.0
    assert len(check["types"]["jpeg"]["mean_score_per_level"]) == 3
    assert tasks.get("crowd").ranking_check(cfg, spread, None, records) == {}
