"""A service's ``data.include`` and ``data.exclude``: rclone's glob syntax, applied at listing.

A pattern is matched against an object's name relative to the service's root: the part of
``data.prefix`` up to and including its last ``/`` is cut off (prefix ``2024/raw`` gives the
root ``2024/``; the prefix ``raw`` names no folder, so the root is the container). As in
rclone:

- ``*`` matches any run of characters but ``/``; ``**`` matches anything, ``/`` included;
  ``?`` matches one character but ``/``; ``[a-z]`` and ``[!a-z]`` are classes;
  ``{csv,parquet}`` is one of the alternatives; ``\\`` takes the next character as it is;
- a pattern that starts with ``/`` matches from the root only; one that does not matches a
  whole trailing part of the name (``*.csv`` matches ``a.csv`` and ``x/a.csv``, never
  ``a.csv.gz``; ``file.csv`` matches ``file.csv`` and ``x/file.csv``, never ``afile.csv``);
- a pattern that ends with ``/`` names a folder, and matches everything under it.

An object is kept when it matches no ``exclude`` pattern and, when ``include`` is given, at
least one ``include`` pattern: an exclusion always wins (rclone leaves the order of
``--include`` and ``--exclude`` together undefined; here it is not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_PATTERNS = 1000
MAX_PATTERN_CHARS = 1024


class PatternError(ValueError):
    """A pattern that is not a glob of rclone's syntax (the message says where)."""


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of one rclone glob, anchored at both ends."""
    if not pattern:
        raise PatternError("an empty pattern matches nothing; remove it")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"a pattern is limited to {MAX_PATTERN_CHARS} characters")
    if pattern.startswith("{{"):
        raise PatternError("regular expressions ('{{...}}') are not supported; use a glob")
    body = pattern[1:] if pattern.startswith("/") else pattern
    if body.endswith("/"):
        body += "**"
    start = "^" if pattern.startswith("/") else "(?:^|/)"
    return re.compile(start + _translate(body, pattern) + "$", re.DOTALL)


def _translate(body: str, pattern: str) -> str:
    out: list[str] = []
    braces = 0
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 == len(body):
                raise PatternError(f"'{pattern}' ends with a lone '\\'")
            out.append(re.escape(body[i + 1]))
            i += 2
            continue
        if char == "*":
            double = body.startswith("**", i)
            out.append(".*" if double else "[^/]*")
            i += 2 if double else 1
            continue
        if char == "[":
            klass, i = _klass(body, i, pattern)
            out.append(klass)
            continue
        out.append(_simple(char, braces, pattern))
        braces += {"{": 1, "}": -1}.get(char, 0)
        i += 1
    if braces:
        raise PatternError(f"'{pattern}' has a '{{' without its '}}'")
    return "".join(out)


def _simple(char: str, braces: int, pattern: str) -> str:
    if char == "?":
        return "[^/]"
    if char == "{":
        return "(?:"
    if char == "}":
        if not braces:
            raise PatternError(f"'{pattern}' has a '}}' without its '{{'")
        return ")"
    if char == "," and braces:
        return "|"
    return re.escape(char)


def _klass(body: str, start: int, pattern: str) -> tuple[str, int]:
    end = body.find("]", start + 2 if body.startswith("[!", start) else start + 1)
    if end < 0:
        raise PatternError(f"'{pattern}' has a '[' without its ']'")
    inner = body[start + 1 : end]
    negate = inner.startswith("!")
    members = inner[1:] if negate else inner
    escaped = members.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
    return ("[^/" if negate else "[") + escaped + "]", end + 1


def folder_root(prefix: str) -> str:
    """What patterns are relative to: the prefix up to and including its last ``/``."""
    cut = prefix.rfind("/")
    return prefix[: cut + 1] if cut >= 0 else ""


@dataclass(frozen=True)
class KeyFilter:
    """Which of a service's object names it copies (see the module's docstring)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    root: str = ""
    _include: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    _exclude: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, include: Sequence[str], exclude: Sequence[str], prefix: str = "") -> KeyFilter:
        return cls(
            tuple(include),
            tuple(exclude),
            folder_root(prefix),
            tuple(glob_regex(p) for p in include),
            tuple(glob_regex(p) for p in exclude),
        )

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)

    def keeps(self, key: str) -> bool:
        if not self.active:
            return True
        name = key[len(self.root) :] if key.startswith(self.root) else key
        if any(p.search(name) for p in self._exclude):
            return False
        return not self._include or any(p.search(name) for p in self._include)

    def describe(self) -> str:
        """One line for the plan and the dry run (empty when there is no filter)."""
        parts = []
        if self.include:
            parts.append("include " + ", ".join(self.include))
        if self.exclude:
            parts.append("exclude " + ", ".join(self.exclude))
        return "; ".join(parts)


NO_FILTER = KeyFilter()


def check_patterns(patterns: Sequence[str]) -> list[str]:
    """The patterns as given, once each is known to compile (PatternError otherwise)."""
    if len(patterns) > MAX_PATTERNS:
        raise PatternError(f"at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        glob_regex(pattern)
    return list(patterns)
