"""Image keys of the atlas and the paths derived from them: the key grammar and the path format.

One image per key (model, snapshot, method, layer, channel, variant), at
`PATH_FORMAT`: ``images/<model>/<snapshot>/<method>/<layer>/<channel:04d>[~<variant>].png``.
Key components match `KEY_PATTERN`: ``[A-Za-z0-9_.-]``, not starting with a
dot (no key can name a path outside the atlas) nor a dash (no key reads as
an option on a command line). The catalog records both rules in its ``meta``
table, so the gallery validates an atlas by the rules it was written with.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import asdict, dataclass

__all__ = [
    "IMAGES_DIR",
    "KEY_PATTERN",
    "PATH_FORMAT",
    "ImageKey",
    "UnsafeNameError",
    "check_component",
    "variant_suffix",
]

IMAGES_DIR = "images"
KEY_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
"""The grammar of a key component (model, snapshot, method, layer, non-empty variant), for `re.fullmatch`."""
PATH_FORMAT = IMAGES_DIR + "/{model}/{snapshot}/{method}/{layer}/{channel:04d}{suffix}.png"
"""An image's path relative to the atlas root; ``suffix`` is `variant_suffix` of the key's variant."""

_SAFE = re.compile(KEY_PATTERN)


def _path_regex(path_format: str) -> re.Pattern[str]:
    """The regex that parses paths `path_format` writes back into their fields."""
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(path_format):
        parts.append(re.escape(literal))
        if name == "channel":
            parts.append(r"(?P<channel>\d{4,})")
        elif name == "suffix":
            parts.append(rf"(?:~(?P<variant>{KEY_PATTERN}))?")
        elif name:
            parts.append(rf"(?P<{name}>{KEY_PATTERN})")
    return re.compile("".join(parts))


_PATH = _path_regex(PATH_FORMAT)


def variant_suffix(variant: str) -> str:
    """The ``suffix`` field of `PATH_FORMAT`: ``~<variant>``, or empty for the default variant."""
    return f"~{variant}" if variant else ""


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
        return PATH_FORMAT.format(
            model=self.model,
            snapshot=self.snapshot,
            method=self.method,
            layer=self.layer,
            channel=self.channel,
            suffix=variant_suffix(self.variant),
        )

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
        match = _PATH.fullmatch(relpath)
        if match is None:
            raise UnsafeNameError(f"Not an atlas image path: {relpath!r}")
        fields = match.groupdict()
        return cls(
            fields["model"],
            fields["snapshot"],
            fields["method"],
            fields["layer"],
            int(fields["channel"]),
            fields["variant"] or "",
        )

    def __str__(self) -> str:
        suffix = variant_suffix(self.variant)
        return f"{self.model}/{self.snapshot}/{self.method}/{self.layer}:{self.channel}{suffix}"
