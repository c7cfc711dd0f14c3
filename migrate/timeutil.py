"""UTC timestamps as the ledger and the evidence files write them."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def seconds_since(value: str) -> float:
    return (datetime.now(UTC) - parse_iso(value)).total_seconds()
