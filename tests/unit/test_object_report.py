"""The object report without a process: the writer (CSV quoting that round-trips any key, JSON
Lines), the ledger read page by page from an index, the flags, the atomic file, and memory
that stays flat however many rows are written."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from migrate.cli.object_report import (
    ObjectReportArguments,
    atomic_text,
    parse_report,
)
from migrate.commands.object_report import object_pages
from migrate.errors import InvalidInput
from migrate.ledger import CopyResult
from migrate.ports import ObjectInfo
from migrate.readmodel import ObjectReportRow
from migrate.redact import redactor
from migrate.views.object_report import COLUMNS, NAMES, write_objects
from state.object_report import page_query
from state.store import Store
from tests.planning import one_store_plan

AWKWARD_KEYS = [
    "plain/file.csv",
    "comma,in,name",
    'quote"inside"',
    '"starts with a quote',
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\nin the middle",
    " leading and trailing space ",
    "tab\there",
    "=SUM(A1:A9)",
    "accents/éàü/日本語",
    "nul\x00byte",
    "separators\u2028\u2029\x85",
    "",
]


def _row(key: str, **changes: object) -> ObjectReportRow:
    row = ObjectReportRow(
        service="svc-data",
        key=key,
        size=12,
        status="done",
        proof="source-md5",
        sha256="a" * 64,
        md5="b" * 32,
        source_md5="b" * 32,
        source_etag='"0x8DC"',
        target_etag='"bbbb"',
        target_version=None,
        target_encryption="AES256",
        source_last_modified="2026-11-30T10:00:00+00:00",
        target_last_modified="2026-12-01T09:00:00Z",
        updated_at="2026-12-01T09:00:01.000000Z",
        attempts=1,
        retries=0,
        last_error=None,
    )
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def _csv(rows: list[ObjectReportRow], pages: int = 3) -> str:
    out = io.StringIO(newline="")
    chunk = max(1, len(rows) // pages)
    written = write_objects([rows[n : n + chunk] for n in range(0, len(rows), chunk)], out, "csv")
    assert written == len(rows)
    return out.getvalue()


# The writer -----------------------------------------------------------------------------------


def test_csv_round_trips_every_awkward_key() -> None:
    rows = [_row(key) for key in AWKWARD_KEYS]
    document = _csv(rows)
    read = list(csv.reader(io.StringIO(document, newline="")))
    assert read[0] == list(NAMES)
    assert [r[1] for r in read[1:]] == AWKWARD_KEYS
    assert all(len(r) == len(NAMES) for r in read)


def test_csv_quotes_only_what_needs_it_and_writes_absent_values_empty() -> None:
    document = _csv([_row("a,b", target_version=None), _row('q"x')], pages=1)
    lines = document.split("\r\n")
    assert lines[1].startswith('svc-data,"a,b",12,done,source-md5,')
    assert lines[2].startswith('svc-data,"q""x",12,done,')
    record = dict(zip(NAMES, next(csv.reader([lines[1]])), strict=True))
    assert record["target_version"] == ""
    assert record["reason"] == ""
    assert record["size"] == "12"
    assert record["target_etag"] == '"bbbb"'


def test_csv_of_no_row_is_its_header() -> None:
    assert _csv([]) == ",".join(NAMES) + "\r\n"


def test_jsonl_is_one_object_per_line_with_every_key_intact() -> None:
    rows = [_row(key) for key in AWKWARD_KEYS]
    out = io.StringIO(newline="")
    assert write_objects([rows[:5], rows[5:]], out, "jsonl") == len(rows)
    lines = out.getvalue().splitlines()  # splits at U+2028 and U+0085 too: none is left raw
    assert len(lines) == len(AWKWARD_KEYS)
    records = [json.loads(line) for line in lines]
    assert [r["key"] for r in records] == AWKWARD_KEYS
    assert list(records[0]) == list(NAMES)
    assert records[0]["size"] == 12
    assert records[0]["target_version"] is None
    assert records[0]["reason"] is None
    assert "日本語" in out.getvalue()  # UTF-8 as it is, readable


def test_reason_is_the_last_error_redacted() -> None:
    redactor.register("s3cr3t-value-123")
    rows = [
        _row("a", status="failed", proof=None, last_error="AccessDenied for s3cr3t-value-123"),
        _row("b", status="failed", last_error="GET ...?sv=1&sig=abcdef0123 refused"),
        _row("c", status="deleted", last_error="deleted at the source; deleted on the target"),
    ]
    out = io.StringIO(newline="")
    write_objects([rows], out, "jsonl")
    reasons = [json.loads(line)["reason"] for line in out.getvalue().splitlines()]
    assert reasons == [
        "AccessDenied for ***",
        "GET ...?sv=1&sig=*** refused",
        "deleted at the source; deleted on the target",
    ]


def test_every_column_is_documented() -> None:
    assert all(meaning for _, meaning in COLUMNS)
    documented = Path(__file__).parents[2].joinpath("docs", "observability.md").read_text()
    for name in NAMES:
        assert f"`{name}`" in documented, name


# The ledger, page by page ---------------------------------------------------------------------


def _info(key: str, size: int = 10) -> ObjectInfo:
    return ObjectInfo(
        key=key, size=size, etag=f"etag-{size}", last_modified=datetime(2026, 11, 30, tzinfo=UTC)
    )


def _fill(store: Store, service: str, count: int) -> None:
    if service != "svc-data":
        store.register_services(one_store_plan(service))
    for start in range(0, count, 5000):
        listed = [_info(f"k{n:06d}", n) for n in range(start, min(count, start + 5000))]
        store.ingest_listing(service, 1, listed, None)


def test_pages_are_every_row_once_in_service_then_key_order(store: Store) -> None:
    _fill(store, "zeta-data", 7)
    _fill(store, "svc-data", 25)
    _fill(store, "alpha-data", 3)
    pages = list(object_pages(store, page_rows=10))
    assert [len(p) for p in pages] == [3, 10, 10, 5, 7]  # alpha, svc (3 pages), zeta
    rows = [(r.service, r.key) for page in pages for r in page]
    assert rows == sorted(rows)
    assert len(set(rows)) == 35


def test_one_service_and_the_exact_page_boundary(store: Store) -> None:
    _fill(store, "svc-data", 20)
    _fill(store, "other-data", 4)
    pages = list(object_pages(store, "svc-data", page_rows=10))
    assert [len(p) for p in pages] == [10, 10]
    assert [r.key for r in pages[1]] == [f"k{n:06d}" for n in range(10, 20)]
    assert next(object_pages(store, "svc-data", page_rows=1000))[19].size == 19


def test_rows_carry_what_the_copy_recorded(store: Store) -> None:
    _fill(store, "svc-data", 3)
    done, failed, _ = store.claim("svc-data", 3)
    store.record_results(
        [
            CopyResult(
                done.id,
                "done",
                1,
                sha256="c" * 64,
                md5="d" * 32,
                target_etag='"dd"',
                target_version="v1",
                proof="target-md5",
                retries=2,
                target_modified="2026-12-01T10:00:00Z",
                target_sse="aws:kms",
            ),
            CopyResult(failed.id, "failed", 3, error="SlowDown: reduce your request rate"),
        ]
    )
    rows = {r.key: r for page in object_pages(store, "svc-data") for r in page}
    first = rows["k000000"]
    assert (first.status, first.proof, first.sha256, first.md5) == (
        "done",
        "target-md5",
        "c" * 64,
        "d" * 32,
    )
    assert (first.target_etag, first.target_version, first.target_encryption) == (
        '"dd"',
        "v1",
        "aws:kms",
    )
    assert (first.attempts, first.retries, first.last_error) == (1, 2, None)
    assert first.target_last_modified == "2026-12-01T10:00:00Z"
    assert first.source_last_modified == "2026-11-30T00:00:00+00:00"
    assert first.source_etag == "etag-0"
    assert rows["k000001"].status == "failed"
    assert rows["k000001"].last_error == "SlowDown: reduce your request rate"
    assert rows["k000002"].status == "copying"


def test_keyset_pages_on_each_database(ledger_url: str) -> None:
    """SQLite and PostgreSQL (whose collation may order keys otherwise than Python does): the
    pages are every row once, in the database's own key order, from one read transaction."""
    writer = Store.open(ledger_url)
    writer.register_services(one_store_plan())
    keys = [*AWKWARD_KEYS[:-1], "B", "a", "a b", "a-b", "ab", "A", "_x", "Zz", "z"]
    keys = [key.replace("\x00", "") for key in keys]  # PostgreSQL text holds no NUL
    writer.ingest_listing("svc-data", 1, [_info(key) for key in keys], None)
    writer.close()
    store = Store.open(ledger_url, readonly=True)
    try:
        with store.consistent_reads():
            pages = list(object_pages(store, page_rows=4))
            with store.tx() as c:
                ordered = list(
                    c.execute(text("SELECT key FROM objects ORDER BY service, key")).scalars()
                )
    finally:
        store.close()
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 2]
    assert [r.key for page in pages for r in page] == ordered
    assert sorted(ordered) == sorted(keys)


def test_a_page_reads_from_the_service_key_index_without_sorting(store: Store) -> None:
    """Keyset pagination on the (service, key) unique index: a page costs the same at the
    end of a million rows as at the start, and nothing is sorted or loaded whole."""
    _fill(store, "svc-data", 50)
    query = page_query("svc-data", "k000010", 16).compile(
        store.engine, compile_kwargs={"literal_binds": True}
    )
    with store.tx() as c:
        plan = " ".join(str(row) for row in c.execute(text(f"EXPLAIN QUERY PLAN {query}")).all())
    assert "USING INDEX sqlite_autoindex_objects" in plan
    assert "key>?" in plan.replace(" ", "")
    assert "TEMP B-TREE" not in plan.upper()


def test_an_unknown_service_is_named_with_some_that_exist(store: Store) -> None:
    for n in range(7):
        store.register_services(one_store_plan(f"s{n}-data"))
    with pytest.raises(InvalidInput) as raised:
        object_pages(store, "svc-dta")  # refused when asked, before any page is read
    message = raised.value.message
    assert "service 'svc-dta' is not in the state database" in message
    assert "(did you mean 'svc-data'?)" in message
    assert "s0-data, s1-data, s2-data, s3-data, s4-data and 3 more" in message


def test_a_service_without_objects_has_no_page(store: Store) -> None:
    assert list(object_pages(store, "svc-data")) == []
    assert list(object_pages(store)) == []


# Memory ---------------------------------------------------------------------------------------


def _peak(work: Callable[[], object]) -> int:
    """Peak bytes traced while ``work()`` runs (what it allocates beyond what was there)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_while_writing_10000_rows(store: Store, tmp_path: Path) -> None:
    """Measured with tracemalloc, the same way for both: writing 10,000 rows page by page
    peaks far below holding them, and no higher than writing 1,000 rows."""
    for service, count in (("svc-data", 10_000), ("small-data", 1_000)):
        _fill(store, service, count)
        copied = store.claim(service, count)
        store.record_results(
            [CopyResult(t.id, "done", 1, sha256="e" * 64, md5="f" * 32, proof="x") for t in copied]
        )

    def write(service: str) -> None:
        with open(os.devnull, "w", encoding="utf-8", newline="") as out:
            write_objects(object_pages(store, service, page_rows=500), out, "csv")

    write("small-data")  # warm up: statements compiled and cached once, as in any process
    small = _peak(lambda: write("small-data"))
    streamed = _peak(lambda: write("svc-data"))
    held = _peak(lambda: list(object_pages(store, "svc-data", page_rows=10_000)))
    print(f"peak: 1,000 rows {small} B, 10,000 rows {streamed} B, all held {held} B")
    assert streamed < held / 4  # 10,000 rows: about 8 times less; a million: 800 times
    assert streamed < small * 1.25  # ten times the rows, the same peak: one page's worth
    assert streamed < 2_000_000


# The flags ------------------------------------------------------------------------------------


def test_the_html_form_is_as_it_was() -> None:
    assert parse_report(html=Path("r.html"), objects=False, fmt=None, arguments=()) == Path(
        "r.html"
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["out.csv"], ObjectReportArguments("csv", "out.csv")),
        (["svc-data", "out.csv"], ObjectReportArguments("csv", "out.csv", "svc-data")),
        (["-"], ObjectReportArguments("csv", "-")),
    ],
)
def test_object_report_arguments(arguments: list[str], expected: ObjectReportArguments) -> None:
    assert parse_report(html=None, objects=True, fmt="csv", arguments=arguments) == expected
    assert expected.to_stdout is (expected.output == "-")


@pytest.mark.parametrize(
    ("html", "objects", "fmt", "arguments", "fragment"),
    [
        (None, True, "csv", [], "--objects needs a FILE"),
        (None, True, None, ["out.csv"], "--objects needs --format csv or --format jsonl"),
        (None, True, "xml", ["out.csv"], "--format xml: give csv or jsonl"),
        (None, True, "csv", ["a", "b", "c"], "not 3 arguments"),
        (None, True, "csv", [""], "FILE is empty"),
        (None, False, "csv", [], "--format is for the object report"),
        (None, False, None, ["out.csv"], "unexpected argument 'out.csv'"),
        (None, False, None, [], "say which report"),
        (Path("r.html"), True, "csv", ["out.csv"], "--html and --objects are two reports"),
    ],
)
def test_misuse_is_refused_with_the_usage(
    html: Path | None, objects: bool, fmt: str | None, arguments: list[str], fragment: str
) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse_report(html=html, objects=objects, fmt=fmt, arguments=arguments)


# The file -------------------------------------------------------------------------------------


def test_the_file_appears_only_complete_and_private(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "objects.csv"
    path.parent.mkdir()
    with atomic_text(path) as out:
        out.write("a\r\nb")
        assert not path.exists()
        assert [p.name.startswith(".objects.csv.") for p in path.parent.iterdir()] == [True]
    assert path.read_bytes() == b"a\r\nb"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["objects.csv"]


def test_a_report_that_fails_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "objects.csv"
    path.write_text("the previous report")

    def pages() -> Iterator[list[ObjectReportRow]]:
        yield [_row("a")]
        raise KeyboardInterrupt  # Ctrl-C half-way

    with pytest.raises(KeyboardInterrupt), atomic_text(path) as out:
        write_objects(pages(), out, "csv")
    assert path.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["objects.csv"]


def test_a_folder_that_cannot_be_written_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInput, match="does not exist"), atomic_text(blocker / "x.csv"):
        pass
    missing = tmp_path / "no" / "such" / "x.csv"
    with pytest.raises(InvalidInput, match="does not exist"), atomic_text(missing):
        pass
    assert not (tmp_path / "no").exists()  # a typo in the path never makes folders
