"""``${VAR}`` interpolation in the inventory fields that name places (endpoints, folders)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

INTERPOLATED_FIELDS: tuple[tuple[str, str], ...] = (
    ("source", "endpoint"),
    ("source", "path"),
    ("target", "endpoint"),
    ("target", "path"),
    ("target", "ca_bundle"),
)
TOP_LEVEL_INTERPOLATED = ("credentials_file",)


class MissingVariable(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) by its value; MissingVariable when unset.

    Nothing after the last ``}`` can be part of a match; leaving it out keeps the search
    linear (each unclosed ``${VAR:-`` would otherwise scan to the end of the text).
    """

    def value_of(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise MissingVariable(name)
            return default
        return value

    end = text.rfind("}") + 1
    return _VAR.sub(value_of, text[:end]) + text[end:]
