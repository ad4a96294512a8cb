"""Reading StyleGAN2 weights: NVlabs' TF1 pickle format (written here by a stand-in dnnlib) and .npz."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
from keras import ops

from tests.prior.conftest import TINY, randomized
from visualizer.errors import VtlError, is_expected
from visualizer.prior.stylegan2 import WeightError
from visualizer.prior.weights import (
    GeneratorFileError,
    UnsafePickleError,
    config_from_variables,
    load_generator,
    read_generator_config,
    read_tf_pickle,
    save_npz,
)


class _Network:
    """Pickles like ``dnnlib.tflib.network.Network`` (its ``__getstate__``, version 4)."""

    def __init__(self, name, variables, components=None, static_kwargs=None, version=4):
        self.name, self.variables, self.components = name, variables, components or {}
        self.static_kwargs, self.version = static_kwargs or {}, version

    def __getstate__(self):
        return {
            "version": self.version,
            "name": self.name,
            "static_kwargs": self.static_kwargs,
            "components": self.components,
            "build_module_src": "raise SystemExit('the network source was executed')",
            "build_func_name": "G_main",
            "variables": list(self.variables.items()),
        }


def write_release_pickle(path, variables, static_kwargs=None, version=4):
    """Write ``(G, D, Gs)`` as NVlabs' pickles hold them: classes from ``dnnlib.tflib.network``."""
    module = types.ModuleType("dnnlib.tflib.network")
    _Network.__module__, _Network.__qualname__ = "dnnlib.tflib.network", "Network"
    module.Network = _Network
    saved = {name: sys.modules.get(name) for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network")}
    sys.modules.update(
        {
            "dnnlib": types.ModuleType("dnnlib"),
            "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
            module.__name__: module,
        }
    )
    try:
        mapping = {k[len("mapping/") :]: v for k, v in variables.items() if k.startswith("mapping/")}
        synthesis = {k[len("synthesis/") :]: v for k, v in variables.items() if k.startswith("synthesis/")}
        components = {
            "mapping": _Network("G_mapping", mapping, version=version),
            "synthesis": _Network("G_synthesis", synthesis, version=version),
        }
        top = {"dlatent_avg": variables["dlatent_avg"], "lod": np.float32(0.0)}
        gs = _Network("Gs", top, components, static_kwargs, version)
        discriminator = _Network("D", {"Output/weight": np.zeros((4, 1), "float32")}, version=version)
        with open(path, "wb") as stream:
            pickle.dump((gs, discriminator, gs), stream, protocol=3)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


TINY_KWARGS = {
    "resolution": 16,
    "fmap_base": 64,
    "fmap_max": 16,
    "mapping_fmaps": 12,
    "architecture": "skip",
    "num_channels": 3,
    "truncation_psi": 0.5,
}


def test_release_pickle_loads_without_dnnlib(tmp_path):
    source = randomized(seed=2)
    path = tmp_path / "stylegan2-tiny.pkl"
    write_release_pickle(path, source.variables(), TINY_KWARGS)
    assert "dnnlib" not in sys.modules
    loaded = load_generator(path)
    assert loaded.config == TINY
    for name, value in source.variables().items():
        np.testing.assert_array_equal(loaded.variables()[name], value, err_msg=name)
    w = np.random.default_rng(0).standard_normal((2, TINY.dlatent_size)).astype("float32")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded.synthesis(w)), ops.convert_to_numpy(source.synthesis(w))
    )


def test_config_is_read_from_shapes_alone(tmp_path):
    path = tmp_path / "bare.pkl"
    write_release_pickle(path, randomized().variables())
    variables, kwargs = read_tf_pickle(path)
    assert kwargs == {}
    assert "lod" in variables and "synthesis/4x4/Const/const" in variables
    assert config_from_variables(variables) == TINY


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps((Payload(), None, None)))
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load .*system") as caught:
        load_generator(path)
    assert not marker.exists()
    assert isinstance(caught.value, UnsafePickleError) and isinstance(caught.value, VtlError)
    assert f"Refusing to load {os.system.__module__}.system from {str(path)!r}" in str(caught.value)
    assert "nothing in it was run" in str(caught.value) and is_expected(caught.value)
    with pytest.raises(UnsafePickleError, match="evil.pkl"):
        read_generator_config(path)  # what `vtl plan` reads
    assert not marker.exists()


def test_a_pytorch_pickle_is_refused_by_name(tmp_path):
    path = tmp_path / "ada.pkl"
    # An ADA-PyTorch pickle's first global: its persistence module's reconstructor (opcode GLOBAL).
    path.write_bytes(b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\n.")
    with pytest.raises(
        UnsafePickleError, match=r"torch_utils.persistence._reconstruct_persistent_obj .*ADA-PyTorch"
    ):
        load_generator(path)


@pytest.mark.parametrize(
    "content, detail",
    [
        (bytes(range(7, 256)) * 16, "it is not a pickle of protocol 2 or later"),
        (b"", "it is not a pickle of protocol 2 or later"),
        (pickle.dumps((1, 2, 3), protocol=4)[:-3], "UnpicklingError: pickle data was truncated"),
        (b"\x80\x04" + bytes(range(256)) * 4, "UnpicklingError"),
        (pickle.dumps([1, 2]), "it holds list"),
    ],
    ids=["random", "empty", "truncated", "garbage-after-proto", "a-list"],
)
def test_a_file_that_is_not_a_release_pickle_is_named(tmp_path, content, detail):
    path = tmp_path / "garbage.pkl"
    path.write_bytes(content)
    with pytest.raises(GeneratorFileError, match="not a StyleGAN2 release pickle") as caught:
        load_generator(path)
    assert str(path) in str(caught.value) and detail in str(caught.value)
    assert isinstance(caught.value, WeightError) and is_expected(caught.value)


def test_random_bytes_after_the_pickle_header_never_escape_as_another_error(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "fuzz.pkl"
    for _ in range(200):
        path.write_bytes(
            b"\x80\x04" + rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        )
        with pytest.raises((GeneratorFileError, UnsafePickleError, WeightError)):
            load_generator(path)


def test_a_garbage_npz_is_named(tmp_path):
    for name, content in [("random.npz", bytes(range(256)) * 4), ("zip.npz", b"PK\x03\x04" + bytes(64))]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(GeneratorFileError, match=f"{name}' is not an .npz of StyleGAN2 weights"):
            load_generator(path)
    single = tmp_path / "single.npz"
    with open(single, "wb") as stream:
        np.save(stream, np.zeros(3))
    with pytest.raises(GeneratorFileError, match="it holds a single array"):
        read_generator_config(single)


def test_unsupported_options_are_named(tmp_path):
    path = tmp_path / "resnet.pkl"
    write_release_pickle(path, randomized().variables(), TINY_KWARGS | {"architecture": "resnet"})
    with pytest.raises(WeightError, match="architecture='resnet' \\(supported: 'skip'\\)"):
        load_generator(path)


def test_old_pickles_and_other_tuples_are_refused(tmp_path):
    old = tmp_path / "old.pkl"
    write_release_pickle(old, randomized().variables(), version=3)
    with pytest.raises(WeightError, match="version 3 is too old"):
        load_generator(old)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"G_ema": None}))
    with pytest.raises(WeightError, match="not a StyleGAN2 release pickle"):
        load_generator(other)


def test_npz_round_trip(tmp_path):
    source = randomized(seed=5)
    path = tmp_path / "tiny.npz"
    save_npz(source, path)
    loaded = load_generator(path)
    assert loaded.config == TINY
    for name, value in source.variables().items():
        np.testing.assert_array_equal(loaded.variables()[name], value, err_msg=name)


def test_the_config_is_read_from_every_format_without_building_a_generator(tmp_path, monkeypatch):
    from visualizer.prior import weights

    saved, bare, release = tmp_path / "saved.npz", tmp_path / "bare.npz", tmp_path / "release.pkl"
    save_npz(randomized(), saved)
    np.savez(bare, **randomized().variables())  # no config entries: inferred from the shapes
    write_release_pickle(release, randomized().variables())

    def refuse(*args, **kwargs):
        raise AssertionError("read_generator_config built a generator")

    monkeypatch.setattr(weights, "StyleGAN2", refuse)
    assert (
        read_generator_config(saved) == read_generator_config(bare) == read_generator_config(release) == TINY
    )


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="No StyleGAN2 weights at"):
        load_generator(tmp_path / "missing.pkl")
    with pytest.raises(FileNotFoundError, match="No StyleGAN2 weights at"):
        read_generator_config(tmp_path / "missing.npz")
    (tmp_path / "weights.pt").write_bytes(b"")
    with pytest.raises(GeneratorFileError, match="valid: .pkl \\(NVlabs TF1\\), .npz"):
        load_generator(tmp_path / "weights.pt")
