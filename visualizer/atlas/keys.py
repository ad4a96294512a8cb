"""Image keys of the atlas and the paths derived from them.

One image per key (model, snapshot, method, layer, channel, variant), at
``images/<model>/<snapshot>/<method>/<layer>/<channel:04d>[~<variant>].png``.
Key components are restricted to ``[A-Za-z0-9_.-]`` without a leading dot,
so no key can name a path outside the atlas.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

__all__ = ["IMAGES_DIR", "ImageKey", "UnsafeNameError", "check_component"]

IMAGES_DIR = "images"
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_FILE = re.compile(r"(\d{4,})(?:~([A-Za-z0-9_][A-Za-z0-9_.-]*))?\.png")


class UnsafeNameError(ValueError):
    """A key component would not be a plain file or folder name."""


def check_component(kind: str, value: str, allow_empty: bool = False) -> str:
    """Return `value` if it is a safe path component, else raise UnsafeNameError."""
    if allow_empty and value == "":
        return value
    if not isinstance(value, str) or not _SAFE.fullmatch(value):
        raise UnsafeNameError(
            f"Invalid {kind} {value!r}: use letters, digits, '_', '-' and '.', not starting with '.' or '-'."
        )
    return value


@dataclass(frozen=True, order=True)
class ImageKey:
    """The identity of one atlas image."""

    model: str
    snapshot: str
    method: str
    layer: str
    channel: int
    variant: str = ""

    def __post_init__(self) -> None:
        for kind in ("model", "snapshot", "method", "layer"):
            check_component(kind, getattr(self, kind))
        check_component("variant", self.variant, allow_empty=True)
        if not isinstance(self.channel, int) or self.channel < 0:
            raise UnsafeNameError(f"Invalid channel {self.channel!r}: a non-negative integer is expected.")

    @property
    def relpath(self) -> str:
        """Path relative to the atlas root, '/' separated."""
        name = f"{self.channel:04d}" + (f"~{self.variant}" if self.variant else "") + ".png"
        return "/".join((IMAGES_DIR, self.model, self.snapshot, self.method, self.layer, name))

    def to_json(self) -> str:
        """The key as compact JSON (stored in the PNG and the catalog)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ImageKey:
        """Parse `to_json` output."""
        data = json.loads(text)
        return cls(**data)

    @classmethod
    def from_relpath(cls, relpath: str) -> ImageKey:
        """Recover a key from its path (used to cross-check PNG metadata)."""
        parts = relpath.split("/")
        match = _FILE.fullmatch(parts[-1]) if len(parts) == 6 else None
        if parts[0] != IMAGES_DIR or match is None:
            raise UnsafeNameError(f"Not an atlas image path: {relpath!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], int(match.group(1)), match.group(2) or "")

    def __str__(self) -> str:
        variant = f"~{self.variant}" if self.variant else ""
        return f"{self.model}/{self.snapshot}/{self.method}/{self.layer}:{self.channel}{variant}"
