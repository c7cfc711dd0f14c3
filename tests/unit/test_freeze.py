"""The freeze step: sync rounds toward the downtime budget, and none without a budget."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from migrate.executor.copy import Copier, Route
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import NullProgress
from migrate.executor.steps import StepHandlers
from migrate.ports import Encryption, ListingPage, TargetCapabilities
from state.store import Store
from tests.fakes import FakeSource, FakeTarget
from tests.planning import make_inventory, one_store_plan, service, step_context

ROUTE = Route("svc-data", "src", "dst", Encryption("AES256"))


class CountingSource(FakeSource):
    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        self.listings += 1
        return super().list_page(container, prefix, marker)


def _freeze(tmp_path: Path, **options: Any) -> tuple[str, CountingSource]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.register_services(one_store_plan())
    source = CountingSource()
    source.containers["src"] = {}
    source.add("src", "k", b"bytes")
    target = FakeTarget(TargetCapabilities())
    target.buckets["dst"] = {}
    inventory = make_inventory([{**service("svc-data", size=1000), **options}])
    with ThreadPoolExecutor(2) as pool:
        mover = ObjectMover(
            source, store, Copier(source, target, store), pool, NullProgress(), workers=2
        )
        context = step_context(inventory, "svc-data", "freeze", ROUTE)
        detail = StepHandlers(store, target, mover).run(context)
    return detail, source


def test_without_a_downtime_budget_the_freeze_lists_nothing(tmp_path: Path) -> None:
    detail, source = _freeze(tmp_path)
    assert source.listings == 0
    assert "no downtime budget" in detail


def test_with_a_budget_the_freeze_measures_what_is_left(tmp_path: Path) -> None:
    detail, source = _freeze(tmp_path, max_downtime="60s")
    assert source.listings == 1
    assert "0 sync rounds before the freeze" in detail
    assert "left, about" in detail
    assert "(budget 60 s)" in detail
