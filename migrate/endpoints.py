"""Endpoint URLs, parsed once: what the policy checks is what the adapters receive.

URL parsers disagree (``http://a\\@b/`` is one host to ``urlsplit`` and another to urllib3),
so an endpoint is refused unless it is one plain absolute ``http(s)://host[:port][/path]``
URL, and the adapters are handed the URL rebuilt from the parts that were checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_FORBIDDEN = re.compile(r"[\s\\\x00-\x1f\x7f]")


_USER_INFO = re.compile(r"(//)[^/?#]*@")


def shown(text: str) -> str:
    """The endpoint as a message may show it: user info (a password) masked."""
    return _USER_INFO.sub(r"\1***@", text)


class EndpointRefused(ValueError):
    """The text is not one plain endpoint URL; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``text`` or raise EndpointRefused naming the problem."""
    if _FORBIDDEN.search(text):
        raise EndpointRefused("it holds whitespace, a backslash or a control character")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise EndpointRefused(
            "it is not an http(s) URL with a host (https://, or http:// for a loopback emulator)"
        )
    if "@" in parts.netloc:
        raise EndpointRefused("user info (user:password@) is not allowed in an endpoint")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise EndpointRefused("an endpoint has no query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise EndpointRefused("its port is not a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise EndpointRefused("it is not an http(s) URL with a host")
    if port == 0:
        raise EndpointRefused("its port is not a number from 1 to 65535")
    return Endpoint(parts.scheme, host.lower(), port, parts.path.rstrip("/"))
