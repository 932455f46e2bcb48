import numpy as np
import pytest
import tensorflow as tf

import fixtures
from rankjax import checks, distortions, input_pipeline, presets, tasks
from rankjax.data import splits
from rankjax.data.records import DatasetError
from rankjax.tasks import crowd


def crowd_cfg(**changes):
    base = dict(image_size=32, labeled_batch=2, ranked_groups=2, ranked_per_group=3,
                patch_min=16, patch_max=48, density_sigma=2.0, deterministic=True)
    base.update(changes)
    return presets.get_preset("crowd_cpu_small").replace(**base)


@pytest.fixture
def shb(tmp_path):
    fixtures.make_shanghaitech(str(tmp_path), "B", {"train": (3, 5, 0, 7), "test": (2, 4)})
    return str(tmp_path)


def sources_for(cfg):
    return splits.build_sources(cfg)


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def test_batches_have_fixed_shapes_groups_and_ranks(shb):
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb, validation_fraction=0.0)
    batch = next(input_pipeline.train_batches(sources_for(cfg), cfg, 0, 2, 2))
    assert batch["labeled"]["image"].shape == (2, 32, 32, 3)
    assert batch["labeled"]["target"].shape == (2, 2, 2)
    assert batch["ranked"]["image"].shape == (6, 32, 32, 3)
    assert list(batch["ranked"]["group"]) == [0, 0, 0, 1, 1, 1]
    assert list(batch["ranked"]["rank"]) == [0, 1, 2, 0, 1, 2]
    assert 0.0 <= batch["labeled"]["image"].min() and batch["labeled"]["image"].max() <= 1.0


def test_deterministic_mode_is_bit_identical_per_seed(shb):
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb, validation_fraction=0.0)
    first = take(input_pipeline.train_batches(sources_for(cfg), cfg, 5, 2, 2), 4)
    again = take(input_pipeline.train_batches(sources_for(cfg), cfg, 5, 2, 2), 4)
    other = take(input_pipeline.train_batches(sources_for(cfg), cfg, 6, 2, 2), 4)
    for a, b in zip(first, again):
        for part in ("labeled", "ranked"):
            for key in a[part]:
                np.testing.assert_array_equal(a[part][key], b[part][key])
    assert any(not np.array_equal(a["labeled"]["image"], c["labeled"]["image"])
               for a, c in zip(first, other))


def test_whole_image_patch_keeps_the_count(tmp_path):
    # Square 64 px images, heads away from the border, patch = the whole image: the target
    # on the 2x2 output grid must hold every head (density maps sum to the count).
    root = tmp_path / "sq"
    for i, n in enumerate((4, 9)):
        for split in ("train", "test"):
            fixtures.write_image(str(root / split / f"im{i}.png"), 64, 64, seed=i)
            pts = fixtures.random_points(n, 40, 40, i) + 12
            np.savetxt(root / split / f"im{i}.txt", pts)
    cfg = crowd_cfg(dataset="folder", data_dir=str(root), patch_min=64, patch_max=64,
                    validation_fraction=0.0, labeled_batch=2)
    batch = next(input_pipeline.train_batches(sources_for(cfg), cfg, 0, 2, 0))
    assert sorted(batch["labeled"]["target"].sum(axis=(1, 2)).round(3)) == [4.0, 9.0]
    assert batch["ranked"]["image"].shape == (0, 32, 32, 3)  # the batch's other part: no rows


def test_grayscale_images_become_three_channel(tmp_path):
    fixtures.make_ucf_cc_50(str(tmp_path))
    cfg = crowd_cfg(dataset="ucf_cc_50", data_dir=str(tmp_path))
    batch = next(input_pipeline.train_batches(sources_for(cfg), cfg, 0, 2, 1))
    image = batch["labeled"]["image"][0]
    assert image.shape == (32, 32, 3)
    np.testing.assert_allclose(image[..., 0], image[..., 1], atol=1e-6)


def test_eval_yields_every_image_once_padded_with_mask(shb):
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb)
    test = splits.read("shanghaitech_b", shb, "test")
    images = list(crowd.eval_images(test, cfg))
    assert len(images) == 2 and [r.count for r in test] == [2, 4]
    for image in images:
        padded, valid = crowd.pad_for_eval(image)
        assert padded.shape == (1, 64, 64, 3)  # 48x64 padded to multiples of 64
        assert valid.shape == (4, 4) and valid.sum() == 3 * 4
        np.testing.assert_allclose(padded[0, 48:, 0, 0], crowd.PAD_RGB[0])
    # Evaluation masks the padding out: a model predicting 1 everywhere counts 12 cells.
    result = tasks.get("crowd").evaluate(
        cfg, lambda params, x: np.ones(x.shape[:1] + (x.shape[1] // 16, x.shape[2] // 16)),
        None, test)
    assert [p.predicted for p in result.predictions] == [12.0, 12.0]
    assert [p.truth for p in result.predictions] == [2.0, 4.0]


def test_unlabeled_pool_from_folder_and_tfds(tmp_path, shb):
    pool = tmp_path / "pool"
    for i in range(3):
        fixtures.write_image(str(pool / "deep" / f"u{i}.jpg"), 40, 50, seed=i)
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb, unlabeled=str(pool))
    sources = sources_for(cfg)
    assert len(sources.unlabeled) == 3
    batch = next(input_pipeline.train_batches(sources, cfg, 0, 0, 2))
    assert batch["ranked"]["image"].shape == (6, 32, 32, 3)
    # Several sources: the withheld training images, then the folder (duplicates once).
    both = sources_for(cfg.replace(labeled_fraction=0.5, unlabeled=f"rest,{pool},{pool}"))
    rest = sources_for(cfg.replace(labeled_fraction=0.5, unlabeled="rest")).unlabeled
    assert both.unlabeled == rest + sources.unlabeled and len(rest) > 0
    with pytest.raises(DatasetError, match="cannot be combined"):
        sources_for(cfg.replace(unlabeled="rest,tfds:cifar10"))

    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=4):
        cfg = cfg.replace(unlabeled="tfds:cifar10")
        batch = next(input_pipeline.train_batches(sources_for(cfg), cfg, 0, 0, 2))
    assert batch["ranked"]["image"].shape == (6, 32, 32, 3)


def iqa_cfg(tmp_path, **changes):
    names = {f"i{r:02d}_01_{l}.bmp": 6.0 - l for r in range(1, 6) for l in (1, 3)}
    root = tmp_path / "tid"
    (root / "distorted_images").mkdir(parents=True)
    for i, name in enumerate(names):
        fixtures.write_image(str(root / "distorted_images" / name), 40, 48, seed=i)
    (root / "mos_with_names.txt").write_text("".join(f"{m} {n}\n" for n, m in names.items()))
    base = dict(dataset="tid2013", data_dir=str(root), image_size=32, ranked_per_group=6,
                distortions=("gaussian_noise",), test_crops=4, deterministic=True)
    base.update(changes)
    return presets.get_preset("iqa_cpu_small").replace(**base)


def test_iqa_ranked_set_orders_by_distortion(tmp_path):
    cfg = iqa_cfg(tmp_path)
    batch = next(input_pipeline.train_batches(sources_for(cfg), cfg, 0, 2, 1))
    assert batch["labeled"]["target"].shape == (2,)
    stack = batch["ranked"]["image"] * 255
    assert list(batch["ranked"]["rank"]) == [0, 1, 2, 3, 4, 5]  # pristine + levels 1..5
    psnr = [distortions.psnr(stack[0], s) for s in stack[1:]]
    assert all(a > b for a, b in zip(psnr, psnr[1:])), psnr


def test_iqa_eval_crops_and_too_small_images(tmp_path):
    cfg = iqa_cfg(tmp_path)
    test = splits.build_sources(cfg).test
    stacks = []

    def predict(params, stack):  # records what the task feeds the network
        stacks.append(stack)
        return np.full(len(stack), len(stacks), np.float32)

    result = tasks.get("iqa").evaluate(cfg, predict, None, test)
    assert len(stacks) == len(test) and stacks[0].shape == (4, 32, 32, 3)
    assert not np.array_equal(stacks[0][0], stacks[0][1])  # random crops
    assert [p.predicted for p in result.predictions] == list(range(1, len(test) + 1))
    big = cfg.replace(image_size=64)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"smaller than the 64px crop.*\.bmp"):
        tasks.get("iqa").evaluate(big, predict, None, test)


def test_score_offset_and_scale_map_targets_and_predictions(tmp_path):
    """The network learns (score - offset) / scale; evaluation maps its outputs back, and the
    hinge's margin stays in score units: the same batch and predictions, by hand."""
    plain = iqa_cfg(tmp_path, margin=2.0)
    mapped = plain.replace(score_offset=4.0, score_scale=0.5)
    raw = next(input_pipeline.train_batches(sources_for(plain), plain, 0, 2, 1))
    scaled = next(input_pipeline.train_batches(sources_for(mapped), mapped, 0, 2, 1))
    np.testing.assert_allclose(scaled["labeled"]["target"],
                               (raw["labeled"]["target"] - 4.0) / 0.5, rtol=1e-6)
    np.testing.assert_array_equal(scaled["labeled"]["image"], raw["labeled"]["image"])
    task = tasks.get("iqa")
    assert task.rank_margin(plain) == 2.0 and task.rank_margin(mapped) == 4.0
    test = splits.build_sources(mapped).test
    result = task.evaluate(mapped, lambda params, stack: np.full(len(stack), 3.0), None, test)
    assert {p.predicted for p in result.predictions} == {4.0 + 0.5 * 3.0}
    assert task.predict_image(mapped, lambda params, stack: np.full(len(stack), -1.0), None,
                              np.zeros((40, 40, 3), np.float32)) == {"score": 4.0 - 0.5}


def test_empty_pool_is_a_clear_error(shb):
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb)
    sources = splits.Sources(sources_for(cfg).labeled, [], [], [])
    with pytest.raises(DatasetError, match="unlabeled pool .* is empty"):
        input_pipeline.train_batches(sources, cfg, 0, 2, 2)


def test_start_batch_resumes_the_same_sequence(shb):
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb, validation_fraction=0.0)
    sources = sources_for(cfg)
    straight = take(input_pipeline.train_batches(sources, cfg, 1, 2, 2), 5)
    resumed = take(input_pipeline.train_batches(sources, cfg, 1, 2, 2, start_batch=3), 2)
    for a, b in zip(straight[3:], resumed):
        for part in ("labeled", "ranked"):
            for key in a[part]:
                np.testing.assert_array_equal(a[part][key], b[part][key])


def test_tiled_counts_stitch_back_to_the_whole_image_map(shb):
    # A "network" whose output cell is the mean of its 16x16 input block is local, so the
    # whole-image and tile-by-tile protocols must give the same map, cell for cell.
    def local(params, x):
        n, h, w, _ = x.shape
        return x.mean(axis=-1).reshape(n, h // 16, 16, w // 16, 16).mean(axis=(2, 4))

    rng = np.random.default_rng(0)
    image = rng.random((70, 150, 3)).astype(np.float32)  # not a multiple of 32 or 64
    cfg = crowd_cfg(count_protocol="tiles")  # 32 px tiles
    tiled = crowd.masked_density(local, None, image, cfg)
    whole = crowd.masked_density(local, None, image)
    assert tiled.shape == (6, 10) and whole.shape == (8, 12)  # padded to 96x160 / 128x192
    np.testing.assert_allclose(tiled[:5, :10], whole[:5, :10], rtol=1e-6)
    assert tiled[5:].sum() == 0 and whole[5:].sum() == 0  # padding rows masked out
    big = rng.random((300, 290, 3)).astype(np.float32)  # 10 x 10 tiles: 4 calls
    np.testing.assert_allclose(crowd.masked_density(local, None, big, cfg)[:19, :19],
                               crowd.masked_density(local, None, big)[:19, :19], rtol=1e-6)
    with pytest.raises(ValueError, match="count_protocol"):
        checks.check(crowd_cfg(count_protocol="grid"))


def test_tiles_of_many_images_are_predicted_together_in_one_shape():
    """Tiles of consecutive images share calls of TILE_BATCH tiles (the last padded up to
    a bucket), and each image still gets the map of its own tiles: checked against each
    tile predicted alone and placed by hand."""
    calls = []

    def net(params, x):  # an output cell depends on its whole tile: not local
        calls.append(x.shape)
        n, h, w, _ = x.shape
        cells = x.mean(axis=-1).reshape(n, h // 16, 16, w // 16, 16).mean(axis=(2, 4))
        return cells + x.reshape(n, -1).std(axis=1)[:, None, None]

    rng = np.random.default_rng(1)
    # 15, 1, 8 and 6 tiles of 32 px (padded to 96x160, 32x32, 128x64, 64x96), twice,
    # then 8 more: 68 tiles.
    sizes = [(70, 150), (32, 32), (100, 64), (33, 95)] * 2 + [(100, 64)]
    images = [rng.random((*size, 3)).astype(np.float32) for size in sizes]
    cfg = crowd_cfg(count_protocol="tiles")
    maps = list(crowd.density_maps(net, None, images, cfg))
    for image, got in zip(images, maps):
        padded, valid = crowd.pad_for_eval(image, 32)
        expected = np.zeros(valid.shape, np.float32)
        for r in range(padded.shape[1] // 32):
            for c in range(padded.shape[2] // 32):
                tile = padded[:, 32 * r:32 * r + 32, 32 * c:32 * c + 32]
                expected[2 * r:2 * r + 2, 2 * c:2 * c + 2] = net(None, tile)[0]
        np.testing.assert_allclose(got, np.where(valid, expected, 0), rtol=1e-6)
    calls.clear()
    list(crowd.density_maps(net, None, images, cfg))
    assert [shape[0] for shape in calls] == [32, 32, 8]  # 68 tiles: 32 + 32 + 4 (of 8)


@pytest.mark.parametrize("rescale", [1.0, 0.5])
def test_images_kept_in_memory_give_the_same_batches_as_decoding_each_sample(shb, rescale):
    """The decoded-image cache changes no batch: with it (images decoded once, uint8 where
    decoding gave whole numbers, float32 where the 0.5 resize did not), with too small
    a budget (it gives up and decodes per sample), and without it."""
    cfg = crowd_cfg(dataset="shanghaitech_b", data_dir=shb, validation_fraction=0.0,
                    rescale_images=rescale)
    sources = sources_for(cfg)
    kept = take(input_pipeline.train_batches(sources, cfg, 3, 2, 2), 3)
    cache = tf_cache_of(cfg, sources)
    assert len(cache.arrays) == 2 * len(sources.labeled)  # labeled part, then the pool
    assert {a.dtype for a in cache.arrays} == {np.dtype(np.uint8 if rescale == 1.0
                                                        else np.float32)}
    for budget in (0, 100):  # no cache; one too small to hold the images
        decoded = take(input_pipeline.train_batches(sources, cfg, 3, 2, 2,
                                                    cache_bytes=budget), 3)
        for a, b in zip(kept, decoded):
            for part in ("labeled", "ranked"):
                for key in a[part]:
                    np.testing.assert_array_equal(a[part][key], b[part][key])


def tf_cache_of(cfg, sources):
    from rankjax import image_io
    cache = image_io.DecodedImages()
    input_pipeline.labeled_samples(sources.labeled, cfg, 0, cache=cache)
    input_pipeline.unlabeled_pool(sources, cfg, cache)
    return cache


def test_quality_batches_are_the_same_with_and_without_the_image_cache(tmp_path):
    cfg = presets.get_preset("iqa_cpu_small").replace(
        data_dir=str(tmp_path / "synthetic"), image_size=32, labeled_batch=2,
        ranked_groups=1, ranked_per_group=3, deterministic=True, patch_min=32, patch_max=32)
    sources = sources_for(cfg)
    kept = take(input_pipeline.train_batches(sources, cfg, 1, 2, 1), 2)
    decoded = take(input_pipeline.train_batches(sources, cfg, 1, 2, 1, cache_bytes=0), 2)
    for a, b in zip(kept, decoded):
        for part in ("labeled", "ranked"):
            for key in a[part]:
                np.testing.assert_array_equal(a[part][key], b[part][key])


def _neighbourhood_net(params, x):
    """Each output cell: the mean of its own 16 px block and the 8 around it, with zeros
    beyond the input's border (as a 3x3 convolution on the cells pads): it sees 16 px
    of context, the input's border cuts its view."""
    n, h, w, _ = x.shape
    cells = x.mean(axis=-1).reshape(n, h // 16, 16, w // 16, 16).mean(axis=(2, 4))
    padded = np.pad(np.asarray(cells), ((0, 0), (1, 1), (1, 1)))
    return sum(padded[:, i:i + h // 16, j:j + w // 16] for i in range(3) for j in range(3)) / 9


def test_stitched_windows_give_the_whole_image_map_where_tiles_do_not():
    """A cell that sees 16 px around itself gets the whole-image value from windows that
    overlap and keep a 16 px margin (64 px windows: stitch_halo 16), but not from tiles
    that do not overlap: at a tile's border the zero padding cuts its view."""
    rng = np.random.default_rng(3)
    image = rng.random((150, 230, 3)).astype(np.float32) + 0.5
    whole = crowd.masked_density(_neighbourhood_net, None, image)
    stitched = crowd.masked_density(_neighbourhood_net, None, image,
                                    crowd_cfg(count_protocol="stitched", image_size=64))
    tiled = crowd.masked_density(_neighbourhood_net, None, image,
                                 crowd_cfg(count_protocol="tiles", image_size=64))
    rows, cols = -(-150 // 16), -(-230 // 16)  # the cells that cover the image
    np.testing.assert_allclose(stitched[:rows, :cols], whole[:rows, :cols], rtol=1e-6)
    assert stitched.sum() == pytest.approx(whole[:rows, :cols].sum(), rel=1e-6)
    inner = tiled[:rows - 1, :cols - 1] - whole[:rows - 1, :cols - 1]
    assert np.abs(inner).max() > 0.05  # tile borders (every 4 cells) see less
    assert tiled.sum() < whole.sum()  # and count less
    with pytest.raises(ValueError, match="stitched needs image_size >= 64"):
        checks.check(crowd_cfg(count_protocol="stitched", image_size=48))
