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
from collections.abc import Mapping
from typing import IO, Any

from visualizer.errors import VtlError

__all__ = ["RestrictedUnpickler", "UnsafePickleError"]


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
