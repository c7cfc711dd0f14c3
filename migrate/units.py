"""Sizes, rates and durations as people write them in an inventory, and back.

Sizes go through pydantic's ``ByteSize`` (``120TiB`` binary, ``5TB`` decimal); durations are
``30s``, ``15m``, ``4h``, ``2d`` or a combination such as ``1h30m``. Values out of range are
refused with a sentence: sizes and rates up to 8 EiB (64-bit byte counts), durations up to
100 years (what timers and dates accept). Text longer than any such value is refused before
it is parsed, and messages show at most its first characters.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, ByteSize, TypeAdapter, ValidationError

_BYTE_SIZE = TypeAdapter(ByteSize)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_FACTOR = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
MAX_SIZE = 2**63 - 1
"""8 EiB: byte counts are 64-bit signed integers (JSON readers, SQLite, the SDKs)."""
MAX_SECONDS = 36500 * 86400
"""100 years: beyond, timers overflow (threading's TIMEOUT_MAX) and dates leave the calendar."""
_MAX_TEXT = 64
"""No size, rate or duration is written with more characters."""


def _shown(value: object) -> str:
    """``repr(value)``, cut when long: a message never carries a page of input."""
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:40]!r}... ({len(value):,} characters)"
    try:
        text = repr(value)
    except RecursionError:  # a value nested a thousand levels deep
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= 60 else f"{text[:40]}... ({type(value).__name__})"


def parse_size(value: object) -> int:
    """Parse ``900GiB``, ``120TiB``, ``5TB`` or a plain integer into bytes.

    Raises ValueError with a message that names the value when it cannot be parsed.
    """
    unparseable = f"unparseable size {_shown(value)}: expected e.g. 900GiB, 120TiB, 5TB"
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > _MAX_TEXT):
        raise ValueError(unparseable)
    try:
        size = int(_BYTE_SIZE.validate_python(value))
    except (ValidationError, OverflowError):
        raise ValueError(unparseable) from None
    if size < 0:
        raise ValueError(f"size {_shown(value)} is negative")
    if size > MAX_SIZE:
        raise ValueError(f"size {_shown(value)} is out of range: at most 8 EiB")
    return size


def parse_rate(value: object) -> int:
    """Parse a rate such as ``1GiB/s`` or ``800MB/s`` into bytes per second (positive)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.lower().endswith("/s"):
        text = text[:-2]
    try:
        rate = parse_size(text)
    except ValueError as exc:
        if "out of range" in str(exc):
            raise ValueError(f"rate {_shown(value)} is out of range: at most 8 EiB/s") from None
        raise ValueError(
            f"unparseable rate {_shown(value)}: expected e.g. 1GiB/s, 800MB/s"
        ) from None
    if rate <= 0:
        raise ValueError(f"rate {_shown(value)} must be positive")
    return rate


def parse_duration(value: object) -> int:
    """Parse ``30s``, ``15m``, ``4h``, ``2d``, ``1h30m`` or plain seconds into whole seconds."""
    seconds: float | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str) and len(value) <= _MAX_TEXT:
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts).lower() == text.lower():
            seconds = sum(float(n) * _DURATION_FACTOR[u.lower()] for n, u in parts)
    if seconds is None:
        raise ValueError(f"unparseable duration {_shown(value)}: expected e.g. 30s, 15m, 4h, 2d")
    if not seconds <= MAX_SECONDS:  # also catches inf and nan
        raise ValueError(f"duration {_shown(value)} is out of range: at most 36500d (100 years)")
    return seconds if isinstance(seconds, int) else round(seconds)


def format_bytes(size: int | float) -> str:
    """Render a byte count with binary units: ``212 TiB``, ``1.5 GiB``, ``0 B``."""
    value = float(size)
    for unit in _BINARY_UNITS:
        if abs(value) < 1024 or unit == _BINARY_UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    """Render seconds as a short human duration: ``45 s``, ``12 min``, ``31 h``, ``4.2 d``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.1f} d"


def _size(value: Any) -> int:
    return parse_size(value)


def _rate(value: Any) -> int:
    return parse_rate(value)


def _duration(value: Any) -> int:
    return parse_duration(value)


Size = Annotated[int, BeforeValidator(_size)]
"""A byte count written as ``120TiB``, ``900GiB``, ``5TB`` or an integer."""

Rate = Annotated[int, BeforeValidator(_rate)]
"""Bytes per second written as ``1GiB/s``."""

Duration = Annotated[int, BeforeValidator(_duration)]
"""Whole seconds written as ``30s``, ``15m``, ``4h``, ``2d``."""
