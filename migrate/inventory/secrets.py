"""Find secrets written inline in an inventory. Secrets come from the environment only.

Every finding names the place, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    ("a password in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
    (
        "a secret assigned in a command",
        re.compile(r"\b(?:AWS_SECRET_ACCESS_KEY|AZURE_STORAGE_KEY|AWS_SESSION_TOKEN)=\S+"),
    ),
)


def find_inline_secrets(data: Any) -> Iterator[tuple[Path, str]]:
    """Yield (path, what) for every value that looks like a secret written in the file."""
    stack: list[tuple[Any, Path]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _SECRET_KEYS.match(key) and item not in (None, ""):
                    yield (*path, key), f"'{key}' holds a secret"
                    continue
                stack.append((item, (*path, str(key))))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, str):
            for what, pattern in _SECRET_VALUES:
                if pattern.search(value):
                    yield path, f"the value holds {what}"
                    break
