"""``migrate report --objects [SERVICE]``: every object row of the ledger, page by page, in
(service, key) order. A generator of pages: the caller writes each page out before the next
is read, so a million rows take the memory of one page."""

from __future__ import annotations

from collections.abc import Iterator

from migrate.errors import InvalidInput
from migrate.readmodel import ObjectReportRow
from migrate.repositories import ObjectReportRecords
from migrate.suggest import did_you_mean

PAGE_ROWS = 1000
"""Rows read per query: large enough that the queries cost little, small enough that a page
weighs about a megabyte."""
NAMES_SHOWN = 5


def check_service(store: ObjectReportRecords, name: str) -> None:
    """Refuse (exit 2) a service the ledger has no row for, naming a few it has."""
    known = store.service_names()
    if name in known:
        return
    if not known:
        raise InvalidInput(f"service '{name}' is not in the state database: it has no service yet")
    shown = ", ".join(known[:NAMES_SHOWN])
    more = f" and {len(known) - NAMES_SHOWN} more" if len(known) > NAMES_SHOWN else ""
    raise InvalidInput(
        f"service '{name}' is not in the state database{did_you_mean(name, known)}; "
        f"it has {shown}{more}"
    )


def object_pages(
    store: ObjectReportRecords, service: str | None = None, page_rows: int = PAGE_ROWS
) -> Iterator[list[ObjectReportRow]]:
    """The object rows of ``service`` (None: of every service), one non-empty page at a
    time. The service is checked now, before anything is read or written; the pages are
    read as they are asked for. Iterate inside ``store.consistent_reads()`` for pages that
    all come from one moment of the ledger."""
    if page_rows < 1:
        raise ValueError("page_rows must be at least 1")
    if service is not None:
        check_service(store, service)
        return _pages_of(store, service, page_rows)
    return _every_service(store, page_rows)


def _every_service(store: ObjectReportRecords, page_rows: int) -> Iterator[list[ObjectReportRow]]:
    current = store.next_object_service(None)
    while current is not None:
        yield from _pages_of(store, current, page_rows)
        current = store.next_object_service(current)


def _pages_of(
    store: ObjectReportRecords, service: str, page_rows: int
) -> Iterator[list[ObjectReportRow]]:
    after: str | None = None
    while True:
        page = store.object_page(service, after, page_rows)
        if page:
            yield page
        if len(page) < page_rows:
            return
        after = page[-1].key
