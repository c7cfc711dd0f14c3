"""Helpers shared by the tests: inventories written as Python data, loaded like files."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from migrate.commands.plan import PlanResult, plan
from migrate.errors import MigrateError, Problem

ENV = {
    "AZURITE_URL": "http://127.0.0.1:10000/devstoreaccount1",
    "S3_URL": "http://127.0.0.1:9000",
}

BASE: dict[str, Any] = {
    "version": 1,
    "name": "test-hub",
    "source": {"provider": "azure", "account": "devstoreaccount1", "endpoint": "${AZURITE_URL}"},
    "target": {
        "provider": "s3",
        "preset": "generic",
        "endpoint": "${S3_URL}",
        "region": "eu-west-2",
        "encryption": "AES256",
    },
    "policy": {"allowed_regions": ["eu-west-2"], "max_services_per_wave": 6, "pilot_wave": False},
    "services": [
        {"name": "net-core", "kind": "network", "criticality": "critical"},
        {
            "name": "claims",
            "kind": "object-store",
            "criticality": "high",
            "depends_on": ["net-core"],
            "data": {"container": "claims", "size_estimate": "2TiB"},
        },
    ],
}


def inventory(**changes: Any) -> dict[str, Any]:
    """A deep copy of BASE with top-level keys replaced."""
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode()


def plan_of(data: Any, env: dict[str, str] | None = None, **kwargs: Any) -> PlanResult:
    return plan(dump(data), "inv.yaml", ENV if env is None else env, **kwargs)


def problems_of(raw: bytes | Any, env: dict[str, str] | None = None, **kwargs: Any) -> MigrateError:
    """Run plan on invalid input and return the error it raised."""
    content = raw if isinstance(raw, bytes) else dump(raw)
    try:
        plan(content, "inv.yaml", ENV if env is None else env, **kwargs)
    except MigrateError as error:
        return error
    raise AssertionError("the inventory was accepted")


def messages(error: MigrateError) -> list[str]:
    return [str(problem) for problem in error.problems]


def one(error: MigrateError, fragment: str) -> Problem:
    """The single problem whose text holds ``fragment``."""
    found = [p for p in error.problems if fragment in str(p)]
    assert len(found) == 1, f"{fragment!r} in {messages(error)}"
    return found[0]
