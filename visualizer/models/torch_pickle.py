"""Read PyTorch's legacy (non-zip) ``torch.save`` files as NumPy arrays, without PyTorch, running nothing.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``,
and every file saved before PyTorch 1.6) is five pickles, then the tensors'
bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version, 1001;
3. system facts: ``{"little_endian": bool, "type_sizes": {...}}``;
4. the object itself (a state dict is an ``OrderedDict`` of names to
   tensors), each tensor written as ``torch._utils._rebuild_tensor_v2(storage,
   offset, size, stride, requires_grad, hooks)`` whose storage is a persistent
   id ``("storage", torch.FloatStorage, key, location, elements, None)``;
5. the storage keys, in the order their data follows;

then for each key a little-endian int64 element count and the elements.

The unpickler (`visualizer.models.restricted_pickle`) resolves only
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` (a stand-in
that records the tensor's layout) and the typed storage classes (number types
alone); every other global or persistent id is refused by name with
`UnsafePickleError` before anything is called. Tensors become NumPy arrays
after their layout is checked against their storage.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from visualizer.errors import VtlError
from visualizer.models.restricted_pickle import RestrictedUnpickler, UnsafePickleError, rebuild_containers

__all__ = [
    "MAGIC_NUMBER",
    "PROTOCOL_VERSION",
    "STORAGE_DTYPES",
    "TorchFileError",
    "UnsafePickleError",
    "file_sha256",
    "read_legacy",
    "read_state_dict",
]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
# PyTorch's typed storages and the NumPy type of their elements (little-endian; bfloat16 is widened).
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
_HOLDS = (
    "a legacy PyTorch weights file holds only collections.OrderedDict, "
    "torch._utils._rebuild_tensor_v2 and torch's typed storages"
)


class TorchFileError(VtlError, ValueError):
    """A file is not a legacy PyTorch file of tensors (garbage, truncated, the zip format, a bad checksum)."""


@dataclass(frozen=True)
class _StorageType:
    """What a storage class global (``torch.FloatStorage``) stands for: its element type."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


class _Storage:
    """A storage named by a persistent id; its elements are read after the pickles."""

    def __init__(self, key: str, storage_type: _StorageType, elements: int) -> None:
        self.key = key
        self.type = storage_type
        self.elements = elements
        self.data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorLayout:
    """What ``_rebuild_tensor_v2`` was asked to build: a strided view of a storage."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _rebuild_tensor_v2(
    storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any, *metadata: Any
) -> _TensorLayout:
    """The stand-in for ``torch._utils._rebuild_tensor_v2``: checks and records the tensor's layout."""
    if not isinstance(storage, _Storage):
        raise ValueError(f"a tensor over {type(storage).__name__}, not a storage")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise ValueError(f"a tensor of size {size!r} and stride {stride!r}")
    if not (_is_count(offset) and all(_is_count(n) for n in (*size, *stride))):
        raise ValueError(f"a tensor of offset {offset!r}, size {size!r} and stride {stride!r}")
    if math.prod(size) and offset + sum((n - 1) * step for n, step in zip(size, stride)) >= storage.elements:
        raise ValueError(
            f"a tensor of size {size}, stride {stride} and offset {offset} reaches past its "
            f"storage of {storage.elements} elements"
        )
    return _TensorLayout(storage, offset, size, stride)


class _TorchUnpickler(RestrictedUnpickler):
    """The restricted unpickler of the object pickle, with PyTorch's storage persistent ids."""

    def __init__(self, stream: io.BytesIO, path: str) -> None:
        allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        }
        allowed.update({("torch", name): _StorageType(name) for name in STORAGE_DTYPES})
        super().__init__(stream, path, allowed, _HOLDS, encoding="utf-8")
        self.storages: dict[str, _Storage] = {}

    def persistent_load(self, pid: Any) -> _Storage:
        """The storage a persistent id names (one object per key), after checking the id's shape."""
        kind = pid[0] if isinstance(pid, tuple) and pid else pid
        if kind != "storage":
            raise UnsafePickleError(
                f"Refusing persistent id {kind!r} in {self.path!r}: {_HOLDS}; only 'storage' ids are read, "
                "and nothing in the file was run."
            )
        if len(pid) != 6:
            raise ValueError(f"a storage id of {len(pid)} fields: {pid!r}")
        _, storage_type, key, _location, elements, view = pid
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str) and _is_count(elements)):
            raise ValueError(f"a malformed storage id {pid!r}")
        if view is not None:
            raise ValueError(
                "a storage view (written by PyTorch before 1.0), which this reader does not read"
            )
        storage = self.storages.setdefault(key, _Storage(key, storage_type, elements))
        if storage.type != storage_type or storage.elements != elements:
            raise ValueError(f"storage {key!r} named with two types or sizes")
        return storage


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain_pickle(stream: io.BytesIO, path: str) -> Any:
    """One of the header pickles: plain values only (no global, no persistent id)."""
    return RestrictedUnpickler(stream, path, {}, _HOLDS, encoding="utf-8").load()


def _read_storages(stream: io.BytesIO, keys: Any, storages: dict[str, _Storage], order: str) -> None:
    """Read each storage's element count and elements, in the order of `keys`."""
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise ValueError(f"storage keys {keys!r}")
    if sorted(keys) != sorted(storages):
        raise ValueError(f"storage keys {sorted(keys)} do not match the storages the tensors use")
    for key in keys:
        storage = storages[key]
        header = stream.read(8)
        if len(header) != 8:
            raise ValueError(f"the file ends before storage {key!r}")
        (elements,) = struct.unpack(order + "q", header)
        if elements != storage.elements:
            raise ValueError(f"storage {key!r} holds {elements} elements; its id says {storage.elements}")
        dtype = storage.type.dtype.newbyteorder(order)
        raw = stream.read(elements * dtype.itemsize)
        if len(raw) != elements * dtype.itemsize:
            raise ValueError(f"the file ends inside storage {key!r}")
        data = np.frombuffer(raw, dtype)
        if storage.type.name == "BFloat16Storage":  # the upper half of a float32
            data = (data.astype(np.uint32) << 16).view(np.float32)
        storage.data = data.astype(data.dtype.newbyteorder("="))
    rest = len(stream.read())
    if rest:
        raise ValueError(f"{rest} bytes follow the last storage")


def _tensor(layout: _TensorLayout) -> np.ndarray:
    """The array a checked layout describes, copied out of its storage."""
    data = layout.storage.data
    assert data is not None  # every storage was read, or `_read_storages` raised
    index = np.full(layout.size, layout.offset, dtype=np.int64)
    for axis, (count, step) in enumerate(zip(layout.size, layout.stride)):
        shape = [1] * len(layout.size)
        shape[axis] = count
        index = index + (np.arange(count, dtype=np.int64) * step).reshape(shape)
    return data[index] if layout.size else data[layout.offset : layout.offset + 1].reshape(())


def _materialize(value: Any, rebuild: Callable[[Any], Any], memo: dict[int, Any]) -> Any:
    """What a non-container becomes (`rebuild_containers`): a tensor layout an array, anything else itself."""
    return _tensor(value) if isinstance(value, _TensorLayout) else value


def _not_legacy(path: str, detail: str) -> TorchFileError:
    return TorchFileError(f"{path!r} is not a legacy PyTorch file of tensors: {detail}.")


def read_legacy(path: str | os.PathLike, sha256: str | None = None) -> Any:
    """Read a legacy-format ``torch.save`` file: its object, tensors as NumPy arrays.

    Args:
        path: the file (``.pth``, ``.pt``...).
        sha256: when given, the file's expected SHA-256 (hex); checked before
            anything in it is read.

    Returns:
        The saved object with each tensor a NumPy array (bfloat16 widened to
        float32) and each ``OrderedDict`` a plain dict in the same order.

    Raises:
        UnsafePickleError: the file names a global or persistent id outside
            `_HOLDS`'s list (a `pickle.UnpicklingError`); nothing in it was run.
        TorchFileError: the checksum differs, or the file is not a legacy
            PyTorch file (garbage, truncated, the zip format, a tensor outside
            its storage).
        OSError: the file cannot be read.
    """
    path = os.fspath(path)
    if sha256 is not None and (actual := file_sha256(path)) != sha256.lower():
        raise TorchFileError(f"{path!r} has SHA-256 {actual}; expected {sha256.lower()}.")
    with open(path, "rb") as file:
        content = file.read()
    if content.startswith(b"PK\x03\x04"):
        raise _not_legacy(
            path,
            "it is the zip format of PyTorch 1.6 and later; save it with "
            "torch.save(..., _use_new_zipfile_serialization=False)",
        )
    if not content.startswith(b"\x80"):
        raise _not_legacy(path, "it does not start with a pickle of protocol 2 or later")
    stream = io.BytesIO(content)
    try:
        if _plain_pickle(stream, path) != MAGIC_NUMBER:
            raise ValueError("the magic number is missing")
        if (version := _plain_pickle(stream, path)) != PROTOCOL_VERSION:
            raise ValueError(f"protocol version {version!r}, not {PROTOCOL_VERSION}")
        system = _plain_pickle(stream, path)
        order = "<" if not isinstance(system, dict) or system.get("little_endian", True) else ">"
        unpickler = _TorchUnpickler(stream, path)
        loaded = unpickler.load()
        _read_storages(stream, _plain_pickle(stream, path), unpickler.storages, order)
        return rebuild_containers(loaded, _materialize, {})
    except (UnsafePickleError, OSError):
        raise
    except Exception as error:
        # Bytes of any shape reach the unpickler, and each way it can fail (UnpicklingError,
        # EOFError, a layout outside its storage, RecursionError...) says the same thing.
        raise _not_legacy(path, f"{type(error).__name__}: {error}") from error


def read_state_dict(path: str | os.PathLike, sha256: str | None = None) -> dict[str, np.ndarray]:
    """Read a legacy-format state dict: parameter names to arrays, in the file's order.

    Raises:
        TorchFileError: the file holds something other than a mapping of names
            to tensors; and as `read_legacy`.
        UnsafePickleError: as `read_legacy`.
    """
    loaded = read_legacy(path, sha256)
    if not (isinstance(loaded, dict) and all(isinstance(key, str) for key in loaded)):
        raise _not_legacy(os.fspath(path), f"it holds a {type(loaded).__name__}, not a state dict")
    odd = [key for key, value in loaded.items() if not isinstance(value, np.ndarray)]
    if odd:
        raise _not_legacy(os.fspath(path), f"its entries {odd[:5]} are not tensors")
    return loaded
