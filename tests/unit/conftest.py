"""Fixtures of the copy tests: a ledger with one object-store service (``svc-data``, container
``src``, bucket ``dst``) and in-memory fakes of both sides."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.ports import TargetCapabilities
from state.store import Store
from tests.fakes import FakeSource, FakeTarget
from tests.planning import one_store_plan


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.register_services(one_store_plan())
    return store


@pytest.fixture
def source() -> FakeSource:
    fake = FakeSource()
    fake.containers["src"] = {}
    return fake


@pytest.fixture
def target() -> FakeTarget:
    fake = FakeTarget(TargetCapabilities(min_part_size=1024, max_parts=10_000))
    fake.buckets["dst"] = {}
    return fake
