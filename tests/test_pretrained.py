"""The importer against the source frameworks' own forward passes on random weights.

Keras: keras.applications.VGG16(weights=None) saved by Keras's own legacy-h5 writer
(the layout of vgg16_weights_tf_dim_ordering_tf_kernels*.h5), inputs prepared by
keras.applications.vgg16.preprocess_input. PyTorch: torchvision's VGG16 layout
(features.N / classifier.N, built here since torchvision is not installed), saved with
torch.save and preprocessed with torchvision's mean/std.
"""

import os

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rankjax import models, pretrained

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ATOL = 1e-4


def rgb_images(size, n=2, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype(np.float32)


def assert_close(ours, reference, what):
    reference = np.asarray(reference)
    assert np.abs(reference).max() > 1e-3, f"{what}: reference too small to test anything"
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=0, atol=ATOL, err_msg=what)


def keras_vgg16(include_top, size, seed):
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(seed)
    model = keras.applications.VGG16(weights=None, include_top=include_top,
                                     input_shape=(size, size, 3))
    # Random biases too, so that a bias mix-up cannot pass unnoticed.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.05, bias.shape).astype(np.float32)])
    return keras, model


def save_keras_legacy_h5(model, path):
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_keras_caffe_preprocessing_matches_keras():
    keras = pytest.importorskip("keras")
    images = rgb_images(8)
    expected = keras.applications.vgg16.preprocess_input(images * 255.0)
    np.testing.assert_allclose(models.preprocess(jnp.asarray(images), "caffe"), expected,
                               atol=1e-4)


def test_keras_notop_conv_features(tmp_path):
    keras, reference = keras_vgg16(False, 64, seed=0)
    path = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    save_keras_legacy_h5(reference, path)
    images = rgb_images(64)
    conv5_3 = keras.Model(reference.input, reference.get_layer("block5_conv3").output)
    expected = conv5_3(keras.applications.vgg16.preprocess_input(images * 255.0))

    model = models.CountingNet(input_style="caffe")
    params = pretrained.load_into(model.init(jax.random.key(0), images[:1]), path)
    assert_close(models.trunk_features(model, params, jnp.asarray(images)), expected,
                 "conv5_3 features")


def test_keras_old_dataset_names(tmp_path):
    """The 2016 files name datasets block1_conv1_W_1:0 / _b_1:0; we read by position."""
    keras, reference = keras_vgg16(False, 32, seed=1)
    path = str(tmp_path / "old.h5")
    with h5py.File(path, "w") as f:
        names = [layer.name for layer in reference.layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for layer in reference.layers:
            group = f.create_group(layer.name)
            weight_names = []
            for suffix, value in zip(("W", "b"), layer.get_weights()):
                name = f"{layer.name}_{suffix}_1:0"
                group.create_dataset(name, data=value)
                weight_names.append(name.encode())
            group.attrs["weight_names"] = np.array(weight_names)
    weights = pretrained.load_vgg16(path)
    kernel, bias = reference.get_layer("block3_conv2").get_weights()
    np.testing.assert_array_equal(weights["conv3_2"][0], kernel)
    np.testing.assert_array_equal(weights["conv3_2"][1], bias)


@pytest.fixture(scope="module")
def keras_full(tmp_path_factory):
    keras, reference = keras_vgg16(True, 224, seed=2)
    path = str(tmp_path_factory.mktemp("keras") / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    save_keras_legacy_h5(reference, path)
    return keras, reference, path


def test_keras_full_fc7(keras_full):
    keras, reference, path = keras_full
    images = rgb_images(224, n=1)
    fc2 = keras.Model(reference.input, reference.get_layer("fc2").output)
    expected = fc2(keras.applications.vgg16.preprocess_input(images * 255.0))
    model = models.IQANet(input_style="caffe")
    params = pretrained.load_into(model.init(jax.random.key(0), images), path)
    ours = model.apply(params, jnp.asarray(images), method=models.IQANet.embed)
    assert_close(ours, expected, "fc7 (Keras fc2) activations")


def torchvision_vgg16(torch):
    """torchvision.models.vgg16's module layout (same state_dict keys)."""
    nn = torch.nn
    layers, channels = [], 3
    for _, n_convs, width in models.VGG16_BLOCKS:
        for _ in range(n_convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))

    return VGG()


def test_torch_features_and_fc7(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torchvision_vgg16(torch).eval()
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.bias.normal_(0, 0.05)
    path = str(tmp_path / "vgg16-397923af.pth")
    torch.save(reference.state_dict(), path)

    images = rgb_images(224, n=1, seed=3)
    mean = torch.tensor(models.TORCH_RGB_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(models.TORCH_RGB_STD).view(1, 3, 1, 1)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2) - mean) / std  # torchvision Normalize
    with torch.no_grad():
        conv5_3 = reference.features[:30](x).permute(0, 2, 3, 1).numpy()
        pooled = torch.flatten(reference.avgpool(reference.features(x)), 1)
        fc7 = reference.classifier[:5](pooled).numpy()

    model = models.IQANet(input_style="torch")
    params = pretrained.load_into(model.init(jax.random.key(0), images), path)
    assert pretrained.input_style_of(path) == "torch"
    assert_close(models.trunk_features(model, params, jnp.asarray(images)), conv5_3,
                 "conv5_3 features")
    assert_close(model.apply(params, jnp.asarray(images), method=models.IQANet.embed), fc7,
                 "fc7 activations")


def test_missing_and_wrong_files(tmp_path):
    with pytest.raises(pretrained.WeightsFileError, match="storage.googleapis.com"):
        pretrained.load_vgg16(str(tmp_path / "nope.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5"):
        pretrained.load_vgg16(str(junk))
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
    with pytest.raises(ValueError, match="lacks VGG16 layers"):
        pretrained.load_vgg16(str(tmp_path / "empty.h5"))
    with pytest.raises(ValueError, match="unknown VGG16 weight format"):
        (tmp_path / "w.bin").write_bytes(b"")
        pretrained.load_vgg16(str(tmp_path / "w.bin"))


def test_width_mismatch_is_explained(tmp_path):
    _, reference = keras_vgg16(False, 32, seed=4)
    path = str(tmp_path / "notop.h5")
    save_keras_legacy_h5(reference, path)
    model = models.CountingNet(width=0.25)
    params = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="width=1.0"):
        pretrained.load_into(params, path)
