import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from scipy.spatial.distance import cdist

from rankjax import crops, density


def dot_map(points, hw):
    dots = np.zeros(hw)
    for x, y in points:
        dots[int(y), int(x)] += 1
    return dots


def block_sum(a, block):
    h, w = a.shape
    return a.reshape(h // block, block, w // block, block).sum(axis=(1, 3))


def test_full_image_map_matches_scipy_gaussian_filter():
    rng = np.random.default_rng(0)
    hw, sigma = (96, 128), 4.0
    points = rng.integers(20, 76, size=(30, 2)) + 0.5  # pixel centres, whole Gaussians inside
    points[:, 0] += 20
    ours = density.density_map(points, sigma, hw).numpy()
    reference = ndimage.gaussian_filter(dot_map(points, hw), sigma, mode="constant")
    assert ours.shape == hw
    assert np.abs(ours - reference).max() < 0.01 * reference.max()
    assert ours.sum() == pytest.approx(30, rel=1e-5)


def test_border_heads_keep_their_mass():
    hw = (64, 80)
    points = np.array([[0.5, 0.5], [79.5, 63.5], [0.2, 30.0], [40.0, 63.9]])
    full = density.density_map(points, 15.0, hw).numpy()
    assert full.sum() == pytest.approx(4.0, rel=1e-5)
    # On the stride-16 grid too.
    grid = density.density_map(points, 15.0, hw, grid_hw=(4, 5)).numpy()
    assert grid.sum() == pytest.approx(4.0, rel=1e-5)


def test_stride16_grid_is_block_sum_of_scipy_map():
    rng = np.random.default_rng(1)
    hw, sigma = (128, 160), 3.0
    points = rng.uniform(12, 116, size=(50, 2)) // 1 + 0.5
    grid = density.density_map(points, sigma, hw, grid_hw=(8, 10)).numpy()
    reference = block_sum(ndimage.gaussian_filter(dot_map(points, hw), sigma, mode="constant"), 16)
    np.testing.assert_allclose(grid, reference, atol=0.01 * reference.max())


def test_patch_count_through_crop_resize_flip():
    """A patch holding whole Gaussians keeps its count within 1% on any output grid."""
    rng = np.random.default_rng(2)
    hw, sigma = (200, 300), 5.0
    inner = rng.uniform([110, 60], [190, 140], size=(25, 2)) // 1 + 0.5  # x, y well inside box
    outer = rng.uniform([0, 0], [300, 30], size=(10, 2))                 # far above the box
    points = np.concatenate([inner, outer])
    box = np.array([40.0, 90.0, 160.0, 210.0])  # y0, x0, y1, x1: a 120 px square
    reference = ndimage.gaussian_filter(dot_map(points, hw), sigma, mode="constant")
    reference_count = reference[40:160, 90:210].sum()
    for grid in [(4, 4), (7, 7), (14, 14)]:  # i.e. resized to 64, 112, 224 px inputs
        for flip in (False, True):
            patch = density.density_map(points, sigma, hw, box, grid, flip).numpy()
            assert abs(patch.sum() - reference_count) < 0.01 * reference_count
    unflipped = density.density_map(points, sigma, hw, box, (7, 7)).numpy()
    flipped = density.density_map(points, sigma, hw, box, (7, 7), True).numpy()
    np.testing.assert_allclose(flipped, unflipped[:, ::-1])


def test_no_heads_gives_zero_map():
    empty = density.density_map(np.zeros((0, 2)), 15.0, (32, 32), grid_hw=(2, 2)).numpy()
    np.testing.assert_array_equal(empty, np.zeros((2, 2)))


def test_adaptive_sigma_against_brute_force():
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 100, size=(40, 2))
    d = np.sort(cdist(points, points), axis=1)[:, 1:4]
    np.testing.assert_allclose(density.adaptive_sigma(points, clip=(0, 1e9)),
                               0.3 * d.mean(axis=1), rtol=1e-5)
    assert (density.adaptive_sigma(points[:2], fallback=7.0) == 7.0).all()


@pytest.mark.parametrize("scale_of", ["side", "area"])
def test_ranked_crops_are_nested_and_deterministic(scale_of):
    hw = tf.constant([300, 500])
    for seed in range(20):
        boxes = crops.ranked_crop_boxes(hw, 5, 0.75, 8, tf.constant([seed, 7]), scale_of).numpy()
        sides = boxes[:, 2] - boxes[:, 0]
        np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], sides, rtol=1e-5)  # squares
        ratio = 0.75 if scale_of == "side" else 0.75 ** 0.5
        np.testing.assert_allclose(sides[1:] / sides[:-1], ratio, rtol=1e-5)
        assert boxes[0, 0] >= -1e-4 and boxes[0, 1] >= -1e-4
        assert boxes[0, 2] <= 300 + 1e-4 and boxes[0, 3] <= 500 + 1e-4
        # largest square centred at the anchor touches the image border
        assert min(boxes[0, 0], boxes[0, 1], 300 - boxes[0, 2], 500 - boxes[0, 3]) < 1e-3
        for outer, inner in zip(boxes[:-1], boxes[1:]):
            assert (inner[:2] >= outer[:2] - 1e-4).all() and (inner[2:] <= outer[2:] + 1e-4).all()
        centre = (boxes[0, :2] + boxes[0, 2:]) / 2  # anchor inside the centred 1/8 region
        assert abs(centre[0] - 150) <= 300 / 16 + 1e-3 and abs(centre[1] - 250) <= 500 / 16 + 1e-3
    again = crops.ranked_crop_boxes(hw, 5, 0.75, 8, tf.constant([3, 7]), scale_of)
    np.testing.assert_array_equal(again, crops.ranked_crop_boxes(hw, 5, 0.75, 8,
                                                                 tf.constant([3, 7]), scale_of))


def test_crop_and_resize_samples_pixel_centres():
    """On a ramp image whose value is the x coordinate of each pixel centre, the resized crop
    must hold the x coordinate of each output pixel centre (hand-worked geometry)."""
    h, w = 40, 60
    ramp = np.broadcast_to(np.arange(w, dtype=np.float32) + 0.5, (h, w))
    image = np.stack([ramp] * 3, axis=-1)
    box = np.array([[10.0, 12.0, 30.0, 32.0]])  # 20 px square
    out = crops.crop_and_resize(image, box, 8).numpy()[0, :, :, 0]
    expected = 12.0 + (np.arange(8) + 0.5) * 20 / 8
    np.testing.assert_allclose(out, np.broadcast_to(expected, (8, 8)), atol=1e-4)


def test_random_square_box_is_inside_and_clipped():
    for seed in range(10):
        box = crops.random_square_box(tf.constant([100, 80]), 56, 448, tf.constant([seed, 0]))
        y0, x0, y1, x1 = box.numpy()
        assert y0 >= 0 and x0 >= 0 and y1 <= 100 + 1e-4 and x1 <= 80 + 1e-4
        assert y1 - y0 == pytest.approx(x1 - x0, rel=1e-5) and 56 <= y1 - y0 <= 80 + 1e-4


def test_ranked_crops_of_real_image_have_non_increasing_counts(shared_data):
    import glob
    import scipy.io
    files = sorted(glob.glob(f"{shared_data}/ShanghaiTech/part_B/train_data/ground-truth/*.mat"))
    assert files, "ShanghaiTech part B annotations missing"
    from PIL import Image
    for path in files[:10]:
        points = scipy.io.loadmat(path)["image_info"][0, 0][0, 0][0]
        image_path = path.replace("ground-truth", "images").replace("GT_", "").replace(
            ".mat", ".jpg")
        w, h = Image.open(image_path).size
        boxes = crops.ranked_crop_boxes(tf.constant([h, w]), 5, 0.75, 8, tf.constant([1, 2]))
        counts = [density.density_map(points, 15.0, (h, w), b, (4, 4)).numpy().sum()
                  for b in boxes]
        heads = [np.sum((points[:, 0] >= b[1]) & (points[:, 0] < b[3]) &
                        (points[:, 1] >= b[0]) & (points[:, 1] < b[2])) for b in boxes.numpy()]
        assert all(a >= b for a, b in zip(heads, heads[1:])), (path, heads)
        assert all(a >= b - 1e-3 for a, b in zip(counts, counts[1:])), (path, counts)
