"""Unpickling weights files that run nothing: every global a pickle names goes through an allowlist.

Loading a pickle the usual way imports and calls whatever classes and
functions it names, so a weights file can run code. `RestrictedUnpickler`
resolves a global only through the allowlist its file format gives (stand-ins
that record what the pickle says, never the real classes where those trust
their input) and refuses every other one by name with `UnsafePickleError`,
before anything is called. The StyleGAN2 reader (`visualizer.prior.weights`)
and the PyTorch reader (`visualizer.models.torch_pickle`) both build on it.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import IO, Any

from visualizer.errors import VtlError

__all__ = ["RestrictedUnpickler", "UnsafePickleError", "rebuild_containers"]


class UnsafePickleError(pickle.UnpicklingError, VtlError):
    """A pickle names a class or function outside its format's allowlist; nothing in it was run."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of `allowed` and refuses any other by name.

    Args:
        stream: the binary file to read.
        path: the file's name, for messages.
        allowed: ``(module, name)`` of each global the format may name, to
            what it resolves to.
        holds: what a file of this format holds, completing "Refusing to load
            X from F: ..." (e.g. ``"a StyleGAN2 release pickle holds only ..."``).
        **kwargs: passed to `pickle.Unpickler` (``encoding``...).
    """

    def __init__(
        self,
        stream: IO[bytes],
        path: str,
        allowed: Mapping[tuple[str, str], Any],
        holds: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(stream, **kwargs)
        self.path = path
        self.allowed = dict(allowed)
        self.holds = holds

    def find_class(self, module: str, name: str) -> Any:
        """The allowlisted object for ``module.name``; UnsafePickleError for anything else."""
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise UnsafePickleError(
            f"Refusing to load {module}.{name} from {self.path!r}: {self.holds}, and anything else could "
            f"run code; nothing in it was run{self.refusal_hint(module)}."
        )

    def refusal_hint(self, module: str) -> str:
        """Text appended to a refusal of a global of `module` (a subclass's hint); empty here."""
        return ""


def rebuild_containers(
    value: Any,
    convert: Callable[[Any, Callable[[Any], Any], dict[int, Any]], Any],
    memo: dict[int, Any],
) -> Any:
    """`value` with its lists, tuples and dicts rebuilt and every other object replaced by `convert`'s result.

    A reader's stand-ins become real values this way once the pickle is
    loaded. Shared and cyclic containers are visited once: `memo` maps a
    container's id to its rebuilt copy (dict order kept).

    Args:
        value: what the unpickler returned.
        convert: ``convert(obj, rebuild, memo)`` gives what a non-container
            becomes; ``rebuild(inner)`` continues the walk into what `obj`
            holds, and `memo` lets it visit a shared `obj` once.
        memo: ``{}`` for a new walk.
    """
    if not isinstance(value, (list, tuple, dict)):
        return convert(value, lambda inner: rebuild_containers(inner, convert, memo), memo)
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, list):
        memo[id(value)] = result = []
        result.extend(rebuild_containers(item, convert, memo) for item in value)
        return result
    if isinstance(value, dict):
        memo[id(value)] = result = {}
        result.update(
            (rebuild_containers(k, convert, memo), rebuild_containers(v, convert, memo))
            for k, v in value.items()
        )
        return result
    memo[id(value)] = result = tuple(rebuild_containers(item, convert, memo) for item in value)
    return result
