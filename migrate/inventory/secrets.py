"""Find secrets written inline in an inventory. Secrets come from the environment only.

Every finding names the place, never the value. Every pattern runs in time linear in the
length of the value (a hostile 10 MiB scalar is scanned in milliseconds): a repeated part is
either bounded or anchored where a run starts, so that no match is retried from inside a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from migrate.inventory.yamlsrc import Path

_SECRET_KEYS = re.compile(
    r"^(key|secret|secret_key|secret_access_key|access_key|access_key_id|account_key|"
    r"password|passwd|token|session_token|sas|sas_token|connection_string|sse_c_key|"
    r"credentials|private_key)$",
    re.IGNORECASE,
)
_SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Azure connection string key", re.compile(r"AccountKey=", re.IGNORECASE)),
    ("a SAS signature", re.compile(r"(?:[?&]|^)sig=[A-Za-z0-9%+/=]{16,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("an Azure storage key", re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    (
        "a password in a URL",
        # a scheme starts where a run of scheme characters starts: not retried inside it
        re.compile(
            r"(?<![a-z0-9+.-])[0-9+.-]*[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE
        ),
    ),
    (
        "a secret assigned in a command",
        re.compile(r"\b(?:AWS_SECRET_ACCESS_KEY|AZURE_STORAGE_KEY|AWS_SESSION_TOKEN)=\S+"),
    ),
)


_ANY_VALUE = re.compile(
    "|".join(
        f"(?i:{pattern.pattern})" if pattern.flags & re.IGNORECASE else f"(?:{pattern.pattern})"
        for _, pattern in _SECRET_VALUES
    )
)
"""One search tells whether any of the patterns matches; the first that does is then named."""

_NEEDED: tuple[tuple[str, ...], ...] = (
    ("accountkey=",),
    ("sig=",),
    ("AKIA", "ASIA"),
    ("==",),
    ("PRIVATE KEY-----",),
    ("://",),
    ("AWS_SECRET_ACCESS_KEY=", "AZURE_STORAGE_KEY=", "AWS_SESSION_TOKEN="),
)
"""For each of ``_SECRET_VALUES``, texts one of which a match always contains."""


def may_hold_secrets(texts: list[str], keys: list[str]) -> bool:
    """False when no text of the document (``texts``: its scalars; ``keys``: the keys among
    them) can be found a secret: ``find_inline_secrets`` would find nothing, and need not
    walk the document. Substring searches over all the text at once, then one match per
    distinct key, instead of seven patterns tried on each value."""
    joined = "\n".join(texts)
    lowered = joined.lower()  # the first pattern ignores case
    if any(
        any(needle in (lowered if position == 0 else joined) for needle in needles)
        for position, needles in enumerate(_NEEDED)
    ):
        return True
    return any(_SECRET_KEYS.match(key) for key in set(keys))


def find_inline_secrets(data: Any) -> Iterator[tuple[Path, str]]:
    """Yield (path, what) for every value that looks like a secret written in the file."""
    secret_key = _secret_key_test()
    stack: list[tuple[Any, Path]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and secret_key(key) and item not in (None, ""):
                    yield (*path, key), f"'{key}' holds a secret"
                elif isinstance(item, str):
                    yield from _in_scalar(item, (*path, str(key)))
                elif isinstance(item, dict | list):
                    stack.append((item, (*path, str(key))))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    yield from _in_scalar(item, (*path, index))
                elif isinstance(item, dict | list):
                    stack.append((item, (*path, index)))
        else:
            yield from _in_scalar(value, path)


def _in_scalar(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str) and _ANY_VALUE.search(value):
        for what, pattern in _SECRET_VALUES:
            if pattern.search(value):
                yield path, f"the value holds {what}"
                return


def _secret_key_test() -> Callable[[str], bool]:
    """Whether a key names a secret, asked once per distinct key of the document."""
    known: dict[str, bool] = {}

    def test(key: str) -> bool:
        answer = known.get(key)
        if answer is None:
            answer = known[key] = _SECRET_KEYS.match(key) is not None
        return answer

    return test
