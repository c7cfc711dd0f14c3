"""Naming rules of the two clouds: Azure containers, S3 buckets, service names."""

from __future__ import annotations

import ipaddress
import re

SERVICE_NAME = re.compile(r"^[a-z0-9-]{3,63}$")
_AZURE_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def azure_container_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Azure container name, or None when it is."""
    if name == "$root":
        return None
    if not _AZURE_CONTAINER.match(name):
        return (
            f"container '{name}' is not a valid Azure container name "
            "(3-63 characters: lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit)"
        )
    return None


def bucket_problem(name: str) -> str | None:
    """Why ``name`` breaks the S3 bucket naming rules, or None when it follows them."""
    if not 3 <= len(name) <= 63:
        return f"bucket '{name}' must be 3 to 63 characters long (it has {len(name)})"
    if not _BUCKET_CHARS.match(name):
        return (
            f"bucket '{name}' may hold only lower-case letters, digits, '.' and '-', "
            "and must start and end with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return f"bucket '{name}' must not have '..', '.-' or '-.'"
    if _looks_like_ip(name):
        return f"bucket '{name}' must not be formatted as an IP address"
    for prefix in _BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"bucket '{name}' must not start with the reserved prefix '{prefix}'"
    for suffix in _BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"bucket '{name}' must not end with the reserved suffix '{suffix}'"
    return None


def derive_bucket(container: str, prefix: str) -> str:
    """The default target bucket of a container: the inventory's bucket prefix + container."""
    return f"{prefix}{container}"


def _looks_like_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def derive_service_name(text: str, taken: set[str], filler: str = "data") -> str:
    """A service name (``SERVICE_NAME``) for a container or database called ``text``, not in
    ``taken``: lower case, every run of other characters one '-', at least 3 characters
    (``-<filler>`` added), at most 63 (cut, with a digest of ``text`` so that two long names
    stay apart), then ``-2``, ``-3`` ... until it is free. ``text`` itself when it is valid
    and free."""
    import hashlib

    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(name) < 3:
        name = f"{name}-{filler}".strip("-")
    if len(name) > 63:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = f"{name[: 63 - len(suffix)].rstrip('-')}{suffix}"
    return candidate
