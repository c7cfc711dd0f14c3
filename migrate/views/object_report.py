"""The object report: one row per object of the ledger, as CSV or JSON Lines, written page by
page as the pages are read (AWS DataSync's task report, for the evidence pack).

CSV is RFC 4180 as Python's csv module writes it (a header row, CRLF line ends, a field
quoted when it holds a comma, a quote or a line break, quotes doubled), so every key reads
back exactly; JSON Lines is one JSON object per line: a line break in a key is written
``\\n``, and the characters other readers split lines at (U+0085, U+2028, U+2029) are escaped
too. An absent value is an empty field in CSV and ``null`` in JSON. Text is UTF-8.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Literal, TextIO

from migrate.readmodel import ObjectReportRow
from migrate.redact import redact

ObjectFormat = Literal["csv", "jsonl"]
Value = str | int | None

COLUMNS: tuple[tuple[str, str], ...] = (
    ("service", "the service, as named in the inventory"),
    ("key", "the object's name (the blob name at the source, the key at the target)"),
    ("size", "bytes, as listed at the source"),
    (
        "status",
        "done (copied and checked), pending (not copied yet), copying (a run is at it, or "
        "died at it), failed (see reason), changed (the source changed while it was read; "
        "taken again after the next listing), deleted (gone from the source; see reason)",
    ),
    (
        "proof",
        "how the copy was checked: source-md5, target-md5, answer-md5 or parts-md5 "
        "(docs/apply.md); empty until a copy was checked",
    ),
    ("sha256", "SHA-256 of the bytes read, computed while copying (hex)"),
    ("md5", "MD5 of the bytes read, computed while copying (hex)"),
    ("source_md5", "the Content-MD5 the source listed (hex; empty when the blob has none)"),
    ("source_etag", "the source's ETag when listed"),
    ("target_etag", "the target's ETag seen by the write check"),
    ("target_version", "the target's version id (versioned buckets only)"),
    ("target_encryption", "the server-side encryption the write check saw"),
    ("source_last_modified", "the source's Last-Modified when listed (ISO 8601, UTC)"),
    ("target_last_modified", "the target's Last-Modified seen by the write check, to the second"),
    ("updated_at", "when the ledger's row last changed (ISO 8601, UTC)"),
    ("attempts", "copy attempts of the current source version"),
    ("retries", "requests retried on transient errors, over all attempts"),
    ("reason", "the last error, or why the row is deleted; empty for a clean done row"),
)
"""(name, meaning) of each column, in the order written; docs/observability.md says the same."""

NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""What json.dumps leaves as is but ``str.splitlines`` and some JSON Lines readers split at."""


def values(row: ObjectReportRow) -> tuple[Value, ...]:
    """The row's fields in the order of ``COLUMNS``; the reason redacted once more (it is
    already when recorded: a secret that reached an error text is never written again)."""
    return (
        row.service,
        row.key,
        row.size,
        row.status,
        row.proof,
        row.sha256,
        row.md5,
        row.source_md5,
        row.source_etag,
        row.target_etag,
        row.target_version,
        row.target_encryption,
        row.source_last_modified,
        row.target_last_modified,
        row.updated_at,
        row.attempts,
        row.retries,
        redact(row.last_error) if row.last_error else None,
    )


def write_objects(
    pages: Iterable[Sequence[ObjectReportRow]], out: TextIO, fmt: ObjectFormat
) -> int:
    """Write every page to ``out`` (opened with ``newline=""``) as it comes; the number of
    rows written. Holds one page at a time."""
    if fmt == "csv":
        return _write_csv(pages, out)
    return _write_jsonl(pages, out)


def _write_csv(pages: Iterable[Sequence[ObjectReportRow]], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(NAMES)
    written = 0
    for page in pages:
        writer.writerows(values(row) for row in page)
        written += len(page)
    return written


def _write_jsonl(pages: Iterable[Sequence[ObjectReportRow]], out: TextIO) -> int:
    written = 0
    for page in pages:
        out.write("".join(_json_line(row) for row in page))
        written += len(page)
    return written


def _json_line(row: ObjectReportRow) -> str:
    record = dict(zip(NAMES, values(row), strict=True))
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return line.translate(_LINE_BREAKS) + "\n"
