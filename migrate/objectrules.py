"""Per-object rules checked before any byte moves: what cannot be copied faithfully is
reported with its reason, never truncated, renamed or merged."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from migrate.ports import TargetCapabilities

RESERVED_PREFIX = "migrate-"
SHA256_KEY = "migrate-sha256"
SOURCE_MD5_KEY = "migrate-source-md5"
SOURCE_MODIFIED_KEY = "migrate-source-modified"
_OUR_METADATA_BYTES = (
    len(SHA256_KEY) + 64 + len(SOURCE_MD5_KEY) + 32 + len(SOURCE_MODIFIED_KEY) + 32
)


def modified_stamp(moment: datetime | None) -> str | None:
    """A target's Last-Modified as the ledger keeps it: UTC, to the second (HEAD answers carry
    seconds, listings milliseconds), so the two compare equal for the same object version."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def key_problem(key: str, capabilities: TargetCapabilities) -> str | None:
    size = len(key.encode("utf-8"))
    if size > capabilities.max_key_bytes:
        return (
            f"name is {size} bytes in UTF-8, over the target's {capabilities.max_key_bytes}-byte "
            "key limit; rename it at the source (it is never truncated)"
        )
    if key.endswith("/"):
        return "name ends with '/': S3 stacks treat it as a folder marker; rename it at the source"
    segments = key.split("/")
    if any(segment in (".", "..") for segment in segments) or "" in segments:
        return (
            "name has a '.', '..' or empty ('//') path segment: HTTP stacks resolve it to "
            "another name, so reading or writing it would touch another object; rename it at "
            "the source (it is never read)"
        )
    if key.endswith("."):
        return "name ends with '.': some S3 stacks normalise it away; rename it at the source"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return "name holds control characters; rename it at the source"
    return None


def metadata_problem(metadata: Mapping[str, str], capabilities: TargetCapabilities) -> str | None:
    for name, value in metadata.items():
        if name.lower().startswith(RESERVED_PREFIX):
            return (
                f"metadata key '{name}' uses the prefix '{RESERVED_PREFIX}' that the copy reserves"
            )
        if not (name.isascii() and value.isascii()):
            return f"metadata '{name}' is not ASCII: S3 metadata must be ASCII"
    limit = capabilities.max_metadata_bytes
    if limit is None:
        return None
    used = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items()) + _OUR_METADATA_BYTES
    if used > limit:
        return (
            f"user metadata needs {used} bytes with the copy's own keys, over the target's "
            f"{limit}-byte limit (it is never truncated)"
        )
    return None


def object_problem(
    key: str,
    size: int,
    tier: str | None,
    metadata: Mapping[str, str],
    capabilities: TargetCapabilities,
) -> str | None:
    """Why this object cannot be copied as it is, or None."""
    if tier is not None and tier.lower() == "archive":
        return (
            "blob is in the Archive tier: rehydrate it (Set Blob Tier to Hot or Cool, up to 15 h) "
            "then apply again"
        )
    if size > capabilities.max_object_size:
        return f"size {size} is over the target's largest object ({capabilities.max_object_size})"
    return key_problem(key, capabilities) or metadata_problem(metadata, capabilities)
