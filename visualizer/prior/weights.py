"""Read StyleGAN2 generator weights: NVlabs' TF1 pickles, and `.npz` files of the same names.

A release pickle (``stylegan2-ffhq-config-f.pkl``, the 256 px LSUN ones) is
the tuple ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network`` objects. Loading
it the usual way executes the network source embedded in it and needs TF 1.x.
Here the unpickler builds no ``Network``: it keeps each one's state (its
variables as ``(name, array)`` pairs and its components) and refuses every
other class than NumPy's array machinery, so a pickle cannot run code. The
EMA generator ``Gs`` is used; its variables are flattened to
``mapping/Dense0/weight``, ``synthesis/4x4/Conv/weight``, ``dlatent_avg``.

The configuration is read from the weights' shapes (resolution, latent
sizes, channels, mapping depth) and checked against the pickle's
``static_kwargs``; options this port does not implement are refused by name.
ADA-PyTorch pickles embed PyTorch modules and are not read.
"""

from __future__ import annotations

import importlib
import os
import pickle
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from visualizer.prior.stylegan2 import StyleGAN2, StyleGAN2Config, WeightError

__all__ = ["config_from_variables", "load_generator", "read_generator_config", "read_tf_pickle", "save_npz"]

NETWORK_CLASS = ("dnnlib.tflib.network", "Network")
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
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


class _NetworkState:
    """What a pickled ``dnnlib.tflib.network.Network`` holds, without building it."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == NETWORK_CLASS:
            return _NetworkState
        if (module, name) in _NUMPY_GLOBALS:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # NumPy 2 moved numpy.core
                module = "numpy._core." + module[len("numpy.core.") :]
            return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(
            f"Refusing to load {module}.{name} from a StyleGAN2 pickle: only "
            f"{'.'.join(NETWORK_CLASS)} and NumPy arrays are read (a pickle can run code)."
        )


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
        pickle.UnpicklingError: the pickle holds anything but networks and arrays.
        WeightError: it is not a ``(G, D, Gs)`` tuple of version-4 networks.
    """
    with open(path, "rb") as stream:
        loaded = _SafeUnpickler(stream, encoding="latin1").load()
    if not (isinstance(loaded, tuple) and len(loaded) == 3 and isinstance(loaded[2], _NetworkState)):
        raise WeightError(f"{os.fspath(path)!r} is not a StyleGAN2 release pickle (a tuple G, D, Gs).")
    generator = loaded[2]
    kwargs: dict[str, Any] = {}
    for component in generator.state.get("components", {}).values():
        kwargs.update(component.state.get("static_kwargs", {}))
    kwargs.update(generator.state.get("static_kwargs", {}))
    return _flatten(generator), kwargs


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
        raise ValueError(
            f"Unknown StyleGAN2 weights format {suffix!r} ({path!r}); valid: .pkl (NVlabs TF1), .npz."
        )
    return suffix


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
    with np.load(path, allow_pickle=False) as archive:
        settings = _npz_settings(archive)
        if settings:
            return StyleGAN2Config(**settings)
        variables = {name: archive[name] for name in archive.files}
    return config_from_variables(variables)


def load_generator(path: str | os.PathLike) -> StyleGAN2:
    """Load a StyleGAN2 generator from a release ``.pkl`` or an ``.npz`` written by `save_npz`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: its suffix is neither ``.pkl`` nor ``.npz``.
        WeightError: the weights do not make a generator this port implements.
    """
    path = os.fspath(path)
    if _checked_suffix(path) == ".pkl":
        variables, kwargs = read_tf_pickle(path)
        return StyleGAN2(config_from_variables(variables, kwargs), variables)
    with np.load(path, allow_pickle=False) as archive:
        variables = {name: archive[name] for name in archive.files if not name.startswith("config/")}
        settings = _npz_settings(archive)
    config = StyleGAN2Config(**settings) if settings else config_from_variables(variables)
    return StyleGAN2(config, variables)
