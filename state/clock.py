"""UTC timestamps as the ledger stores them (shared with the leaf layer)."""

from migrate.timeutil import now_iso, parse_iso

__all__ = ["now_iso", "parse_iso"]
