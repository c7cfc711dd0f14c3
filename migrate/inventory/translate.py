"""Pydantic validation errors -> (path, sentence a person can act on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from migrate.inventory.yamlsrc import Path

_PATTERN_HINTS = {
    "name": "service names are 3 to 63 characters of a-z, 0-9 and '-'",
    "project": "project labels are 1 to 63 characters of a-z, 0-9 and '-'",
    "key_env": "an environment variable name such as AZURE_STORAGE_KEY",
    "access_key_env": "an environment variable name such as AWS_ACCESS_KEY_ID",
    "secret_key_env": "an environment variable name such as AWS_SECRET_ACCESS_KEY",  # nosec B105
    "url_env": "an environment variable name such as METADATA_DB_SOURCE_URL",
}


def translate_validation_error(exc: ValidationError, data: Any) -> Iterator[tuple[Path, str]]:
    for error in exc.errors(include_url=False):
        path: Path = tuple(error["loc"])
        yield path, _sentence(error, path, data)


def _sentence(error: Any, path: Path, data: Any) -> str:
    kind = error["type"]
    field = str(path[-1]) if path else "inventory"
    value = error.get("input")
    if kind == "missing":
        return f"missing required field '{field}'"
    if path == ("version",):
        return f"unsupported version {_quoted(value)}: this tool reads inventories of version 1"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_quoted(value)} is not one of {expected}"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(field, "it does not have the expected form")
        return f"{_quoted(value)} is not valid: {hint}"
    if kind == "too_short" and path == ("services",):
        return "the inventory lists no services"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in (
        "string_type",
        "int_type",
        "bool_type",
        "list_type",
        "dict_type",
        "model_type",
        "int_parsing",
        "bool_parsing",
        "model_attributes_type",
    ):
        return f"{error['msg'].lower()}, got {_shown(value)}"
    return str(error["msg"])


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _quoted(value)


def _quoted(value: Any) -> str:
    """``repr(value)`` as a message shows it: never a page of text (a long value is cut)."""
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:40]!r}... ({len(value):,} characters)"
    try:
        text = repr(value)
    except RecursionError:  # a value nested a thousand levels deep
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= 60 else f"{text[:40]}... ({type(value).__name__})"
