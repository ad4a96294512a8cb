"""Read StyleGAN2 generator weights: NVlabs' TF1 pickles, and `.npz` files of the same names.

A release pickle (``stylegan2-ffhq-config-f.pkl``, the 256 px LSUN ones) is
the tuple ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network`` objects. Loading
it the usual way executes the network source embedded in it and needs TF 1.x.
Here the unpickler builds no ``Network``: it keeps each one's state (its
variables as ``(name, array)`` pairs and its components) and refuses every
other class than NumPy's array machinery, so a pickle cannot run code: it is
refused with `UnsafePickleError`, naming the file and the class. A file that is
not a pickle of that shape raises `GeneratorFileError`. The
EMA generator ``Gs`` is used; its variables are flattened to
``mapping/Dense0/weight``, ``synthesis/4x4/Conv/weight``, ``dlatent_avg``.

The configuration is read from the weights' shapes (resolution, latent
sizes, channels, mapping depth) and checked against the pickle's
``static_kwargs``; options this port does not implement are refused by name.
ADA-PyTorch pickles embed PyTorch modules and are not read.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from visualizer.errors import VtlError
from visualizer.models.restricted_pickle import RestrictedUnpickler, UnsafePickleError, rebuild_containers
from visualizer.prior.stylegan2 import StyleGAN2, StyleGAN2Config, WeightError

__all__ = [
    "GeneratorFileError",
    "UnsafePickleError",
    "config_from_variables",
    "load_generator",
    "read_generator_config",
    "read_tf_pickle",
    "save_npz",
]

NETWORK_CLASS = ("dnnlib.tflib.network", "Network")
# static_kwargs this port implements only at these values (NVlabs' defaults for config F).
_REQUIRED_KWARGS = {
    "architecture": "skip",
    "nonlinearity": "lrelu",
    "mapping_nonlinearity": "lrelu",
    "num_channels": 3,
    "label_size": 0,
    "fused_modconv": True,
    "use_noise": True,
    "randomize_noise": True,
    "normalize_latents": True,
    "resample_kernel": [1, 3, 3, 1],
    "dtype": "float32",
    "fmap_decay": 1.0,
}
_LAYER = re.compile(r"^synthesis/(\d+)x\1/")


class GeneratorFileError(WeightError, VtlError):
    """A weights file is not a StyleGAN2 release pickle or ``.npz`` (garbage, truncated, another format)."""


class _NetworkState:
    """What a pickled ``dnnlib.tflib.network.Network`` holds, without building it."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


# NumPy's own unpickling (``ndarray.__setstate__``, ``dtype.__setstate__``) trusts
# its input: a damaged or crafted state can crash the interpreter. The
# unpickler hands out these stand-ins instead, which only record what the
# pickle says; `_materialize` then checks it and builds plain number arrays
# with ``np.frombuffer``.
class _NDArrayName:
    """What the pickle's ``numpy.ndarray`` global stands for: the class `_reconstruct` is asked for."""


class _DtypeStandIn:
    """``numpy.dtype(spec, align, copy)`` and its state, as a pickle gives them."""

    def __init__(self, spec: Any = None, align: Any = False, copy: Any = True) -> None:
        self.spec = spec
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags); only the byte order counts.
        self.byteorder = state[1] if isinstance(state, tuple) and len(state) > 1 else None

    def dtype(self) -> np.dtype:
        """The dtype, when it is a plain boolean or number type."""
        if not isinstance(self.spec, str) or self.byteorder not in ("<", ">", "|", "="):
            raise ValueError(f"dtype {self.spec!r} (byte order {self.byteorder!r}) is not a number type")
        dtype = np.dtype(self.spec)
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"dtype {self.spec!r} is not a number type")
        return dtype.newbyteorder(self.byteorder)


def _raw_bytes(data: Any) -> bytes:
    if isinstance(data, str):  # a Python 2 pickle's str, decoded as latin-1
        return data.encode("latin1")
    if not isinstance(data, bytes):
        raise TypeError(f"array data of type {type(data).__name__}")
    return data


class _ArrayStandIn:
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` and the state the pickle then sets."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def array(self) -> np.ndarray:
        """The array the state describes, after checking its shape, type and size."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 5:  # (version, shape, dtype, is_fortran, data)
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4 and isinstance(state[1], _DtypeStandIn)):
            raise ValueError("an array without its shape, dtype and data")
        shape, dtype_stand_in, fortran, data = state
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise ValueError(f"array shape {shape!r}")
        dtype, raw = dtype_stand_in.dtype(), _raw_bytes(data)
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"{len(raw)} bytes of data for an array {shape} of {dtype}")
        return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C").copy()


def _reconstruct(cls: Any, shape: Any, code: Any) -> _ArrayStandIn:
    if cls is not _NDArrayName:
        raise ValueError(f"_reconstruct of {cls!r}")
    return _ArrayStandIn()


def _scalar(dtype: Any, data: Any) -> Any:
    if not isinstance(dtype, _DtypeStandIn):
        raise ValueError("a NumPy scalar without its dtype")
    real, raw = dtype.dtype(), _raw_bytes(data)
    if len(raw) != real.itemsize:
        raise ValueError(f"{len(raw)} bytes for a {real} scalar")
    return np.frombuffer(raw, real)[0]


_NUMPY_STAND_INS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NDArrayName,
    ("numpy", "dtype"): _DtypeStandIn,
}


def _materialize(value: Any, rebuild: Callable[[Any], Any], memo: dict[int, Any]) -> Any:
    """What a non-container becomes (`rebuild_containers`): the stand-ins arrays and dtypes, a network
    its state rebuilt in place (once, however often it is shared)."""
    if isinstance(value, _ArrayStandIn):
        return value.array()
    if isinstance(value, _DtypeStandIn):
        return value.dtype()
    if isinstance(value, _NetworkState) and id(value) not in memo:
        memo[id(value)] = value
        value.state = rebuild(getattr(value, "state", None))
    return value


class _SafeUnpickler(RestrictedUnpickler):
    def __init__(self, stream: Any, path: str, **kwargs: Any) -> None:
        allowed = {NETWORK_CLASS: _NetworkState, **_NUMPY_STAND_INS}
        holds = f"a StyleGAN2 release pickle holds only {'.'.join(NETWORK_CLASS)} and NumPy arrays"
        super().__init__(stream, path, allowed, holds, **kwargs)

    def refusal_hint(self, module: str) -> str:
        torch = module.split(".")[0].startswith("torch")
        return " (an ADA-PyTorch pickle? those are not read)" if torch else ""


def _not_a_release_pickle(path: str, detail: str) -> GeneratorFileError:
    return GeneratorFileError(f"{path!r} is not a StyleGAN2 release pickle (a tuple G, D, Gs): {detail}.")


def _flatten(network: _NetworkState, prefix: str = "") -> dict[str, np.ndarray]:
    state = network.state
    version = state.get("version", 0)
    if version < 4:
        raise WeightError(
            f"Network pickle version {version} is too old; this reader needs version 4 or newer."
        )
    variables = {prefix + name: np.asarray(value) for name, value in state.get("variables", [])}
    for key, component in state.get("components", {}).items():
        variables.update(_flatten(component, f"{prefix}{key}/"))
    return variables


def read_tf_pickle(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read the EMA generator ``Gs`` of an NVlabs StyleGAN2 TF1 pickle.

    Args:
        path: the ``.pkl`` file.

    Returns:
        ``(variables, static_kwargs)``: flat weight names to arrays, and the
        keyword arguments the network was built with (``Gs``'s merged with
        its components').

    Raises:
        UnsafePickleError: the pickle names anything but networks and arrays
            (a `pickle.UnpicklingError`); nothing in it was run.
        GeneratorFileError: the file is not a pickle (garbage, truncated) or
            not a ``(G, D, Gs)`` tuple (a `WeightError`).
        WeightError: its networks are older than version 4.
        OSError: the file cannot be read.
    """
    path = os.fspath(path)
    with open(path, "rb") as stream:
        if stream.read(1) != b"\x80":  # every pickle of protocol 2 or later starts with PROTO
            raise _not_a_release_pickle(path, "it is not a pickle of protocol 2 or later")
        stream.seek(0)
        try:
            loaded = rebuild_containers(
                _SafeUnpickler(stream, path, encoding="latin1").load(), _materialize, {}
            )
        except (UnsafePickleError, OSError):
            raise
        except Exception as error:
            # Bytes of any shape reach the unpickler, and each way it can fail
            # (UnpicklingError, EOFError, UnicodeDecodeError, an array whose
            # data does not fit its shape, RecursionError...) says the same: not a release pickle.
            raise _not_a_release_pickle(path, f"{type(error).__name__}: {error}") from error
    if not (isinstance(loaded, tuple) and len(loaded) == 3 and isinstance(loaded[2], _NetworkState)):
        raise _not_a_release_pickle(path, f"it holds {type(loaded).__name__}")
    generator = loaded[2]
    try:
        kwargs: dict[str, Any] = {}
        for component in generator.state.get("components", {}).values():
            kwargs.update(component.state.get("static_kwargs", {}))
        kwargs.update(generator.state.get("static_kwargs", {}))
        return _flatten(generator), kwargs
    except WeightError:
        raise
    except (AttributeError, TypeError, ValueError, RecursionError) as error:  # a state of the wrong shape
        raise _not_a_release_pickle(
            path, f"its networks' state is malformed ({type(error).__name__}: {error})"
        ) from error


def config_from_variables(
    variables: Mapping[str, np.ndarray], static_kwargs: Mapping[str, Any] | None = None
) -> StyleGAN2Config:
    """The generator's shape, read from its weights (and checked against `static_kwargs`).

    Raises:
        WeightError: a required weight is missing, or `static_kwargs` asks for
            an option this port does not implement (named with its value).
    """
    static_kwargs = dict(static_kwargs or {})
    unsupported = [
        f"{name}={static_kwargs[name]!r} (supported: {value!r})"
        for name, value in _REQUIRED_KWARGS.items()
        if name in static_kwargs and static_kwargs[name] != value
    ]
    if static_kwargs.get("num_fp16_res", 0) or static_kwargs.get("conv_clamp") is not None:
        unsupported.append("num_fp16_res/conv_clamp (ADA-PyTorch's fp16 settings)")
    if unsupported:
        raise WeightError("This StyleGAN2 port does not implement " + "; ".join(unsupported) + ".")
    for name in ("mapping/Dense0/weight", "synthesis/4x4/Const/const"):
        if name not in variables:
            raise WeightError(f"Not a StyleGAN2 generator: no {name!r} among {len(variables)} weights.")
    resolutions = sorted({int(match.group(1)) for name in variables if (match := _LAYER.match(name))})
    mapping_layers = sum(1 for name in variables if re.fullmatch(r"mapping/Dense\d+/weight", name))
    first = np.shape(variables["mapping/Dense0/weight"])
    last = np.shape(variables[f"mapping/Dense{mapping_layers - 1}/weight"])
    const_channels = np.shape(variables["synthesis/4x4/Const/const"])[1]
    channel_max = max(np.shape(variables[f"synthesis/{r}x{r}/ToRGB/weight"])[2] for r in resolutions)
    resolution = resolutions[-1]
    fmap_base = static_kwargs.get("fmap_base")
    if fmap_base is None:  # the smallest base giving the last block's channels
        fmap_base = np.shape(variables[f"synthesis/{resolution}x{resolution}/ToRGB/weight"])[2] * (
            resolution // 2
        )
    return StyleGAN2Config(
        resolution=resolution,
        latent_size=int(first[0]),
        dlatent_size=int(last[1]),
        mapping_layers=mapping_layers,
        mapping_fmaps=int(static_kwargs.get("mapping_fmaps", first[1] if mapping_layers > 1 else last[1])),
        mapping_lrmul=float(static_kwargs.get("mapping_lrmul", 0.01)),
        fmap_base=int(fmap_base),
        fmap_max=int(static_kwargs.get("fmap_max", max(channel_max, const_channels))),
    )


def save_npz(generator: StyleGAN2, path: str | os.PathLike) -> None:
    """Write a generator's weights and shape to an ``.npz`` that `load_generator` reads."""
    config = generator.config
    meta = {f"config/{name}": np.asarray(getattr(config, name)) for name in config.__dataclass_fields__}
    np.savez(path, **generator.variables(), **meta)


def _checked_suffix(path: str) -> str:
    """The weights file's suffix (``.pkl`` or ``.npz``), after checking that the file exists."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"No StyleGAN2 weights at {path!r}.")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".pkl", ".npz"):
        raise GeneratorFileError(
            f"Unknown StyleGAN2 weights format {suffix!r} ({path!r}); valid: .pkl (NVlabs TF1), .npz."
        )
    return suffix


def _open_npz(path: str) -> Any:
    """``np.load(path)`` of an ``.npz`` archive, or GeneratorFileError naming the file."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise GeneratorFileError(
            f"{path!r} is not an .npz of StyleGAN2 weights: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise GeneratorFileError(f"{path!r} is not an .npz of StyleGAN2 weights: it holds a single array.")
    return archive


def _npz_settings(archive: Any) -> dict[str, Any]:
    """The ``config/...`` entries `save_npz` writes, from an open ``np.load`` archive."""
    return {
        name[len("config/") :]: archive[name].item() for name in archive.files if name.startswith("config/")
    }


def read_generator_config(path: str | os.PathLike) -> StyleGAN2Config:
    """The shape of the generator stored at `path`, without building it.

    An ``.npz`` written by `save_npz` holds its configuration, which is read
    alone; otherwise the weights are read as arrays and the shape inferred
    from them.

    Raises:
        as `load_generator`.
    """
    path = os.fspath(path)
    if _checked_suffix(path) == ".pkl":
        return config_from_variables(*read_tf_pickle(path))
    with _open_npz(path) as archive:
        settings = _npz_settings(archive)
        if settings:
            return StyleGAN2Config(**settings)
        variables = {name: archive[name] for name in archive.files}
    return config_from_variables(variables)


def load_generator(path: str | os.PathLike) -> StyleGAN2:
    """Load a StyleGAN2 generator from a release ``.pkl`` or an ``.npz`` written by `save_npz`.

    Raises:
        FileNotFoundError: `path` does not exist.
        UnsafePickleError: a pickle that names classes other than a network's
            or NumPy's (nothing in it is run).
        GeneratorFileError: its suffix is neither ``.pkl`` nor ``.npz``, or the
            file is not a release pickle or an ``.npz`` (garbage, truncated).
        WeightError: the weights do not make a generator this port implements.
    """
    path = os.fspath(path)
    if _checked_suffix(path) == ".pkl":
        variables, kwargs = read_tf_pickle(path)
        return StyleGAN2(config_from_variables(variables, kwargs), variables)
    with _open_npz(path) as archive:
        variables = {name: archive[name] for name in archive.files if not name.startswith("config/")}
        settings = _npz_settings(archive)
    config = StyleGAN2Config(**settings) if settings else config_from_variables(variables)
    return StyleGAN2(config, variables)
