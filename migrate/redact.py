"""Keep secrets out of everything the tool writes: logs, messages, the ledger, reports.

Two defences: the values of the secrets this process loaded are registered and replaced
wherever they appear; and well-known secret shapes (Authorization headers, SAS signatures,
session tokens, SSE-C keys, account keys) are masked whatever their value.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_URL_PASSWORD = re.compile(r"(://[^/\s:@'\"]*:)[^\s/'\"]+(?=@)")
"""The password of a URL's user info (``postgresql://user:PASSWORD@host/db``), whatever it is."""
_PATTERNS = (
    re.compile(r"(?i)(authorization\s*[:=]\s*)([^\s,;'\"]+(?:\s+[^\s,;'\"]+)?)"),
    re.compile(r"(?i)([?&]sig=)[^&\s'\"]+"),
    re.compile(r"(?i)(x-amz-security-token\s*[:=]\s*)[^\s,;'\"]+"),
    re.compile(r"(?i)(x-amz-server-side-encryption-customer-key(?:-md5)?\s*[:=]\s*)[^\s,;'\"]+"),
    re.compile(r"(?i)(AccountKey=)[^;\s'\"]+"),
    re.compile(r"(?i)(aws_secret_access_key\s*[:=]\s*)[^\s,;'\"]+"),
    _URL_PASSWORD,
)
NOISY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "libcloud", "requests")


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str | None) -> None:
        """Mask this exact value from now on (values under 6 characters would mask noise)."""
        if value and len(value) >= 6:
            with self._lock:
                self._values.add(value)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


redactor = Redactor()
"""The process's redactor; filled by the composition root as it reads secrets."""


def redact(text: str) -> str:
    return redactor(text)


def register_url_password(url: str) -> None:
    """Mask the password of ``url`` wherever it appears alone (as typed, and decoded)."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        redactor.register(password)
        redactor.register(unquote(password))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def configure_logging() -> None:
    """Warnings and errors to stderr, redacted; SDK debug output never reaches any sink."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
