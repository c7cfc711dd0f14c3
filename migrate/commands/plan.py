"""``migrate plan``: inventory bytes -> validated inventory -> Plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from migrate.config import Inventory
from migrate.inventory.loader import load_inventory
from migrate.model import Plan
from migrate.planner.build import build_plan


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    inventory: Inventory


def plan(
    raw: bytes,
    filename: str,
    env: Mapping[str, str],
    *,
    insecure: bool = False,
    now: datetime | None = None,
    recorded_waves: Mapping[str, int] | None = None,
) -> PlanResult:
    """Validate the inventory and compute its waves, keeping what the state database has
    under way (``recorded_waves``) where it is. Raises InventoryError/PolicyViolation."""
    loaded = load_inventory(raw, filename, env, insecure=insecure)
    return PlanResult(build_plan(loaded, now, recorded_waves), loaded.inventory)
