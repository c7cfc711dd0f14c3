"""Load what `apply` and the commands after it need: the saved plan and its inventory,
refusing a plan whose inventory changed since it was made."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from migrate import planfile
from migrate.config import Inventory
from migrate.errors import PlanFileError, Problem, StalePlan
from migrate.inventory.loader import load_inventory
from migrate.model import Plan


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    plan_sha256: str
    plan_text: str
    inventory: Inventory


def load_plan(
    plan_text: str,
    plan_name: str,
    inventory_raw: bytes,
    inventory_name: str,
    env: Mapping[str, str],
    *,
    insecure: bool = False,
) -> LoadedPlan:
    plan = planfile.loads(plan_text, plan_name)
    actual = hashlib.sha256(inventory_raw).hexdigest()
    if actual != plan.inventory_sha256:
        raise StalePlan(
            f"saved plan {plan_name} is stale: {inventory_name} changed since the plan was made "
            f"(sha256 {actual[:12]}..., the plan has {plan.inventory_sha256[:12]}...). Run "
            f"`migrate plan {inventory_name} -o {plan_name}` again, review it, then apply it"
        )
    loaded = load_inventory(inventory_raw, inventory_name, env, insecure=insecure)
    names = {s.name for s in loaded.inventory.services}
    if names != set(plan.services):
        raise PlanFileError(
            f"{plan_name} does not match {inventory_name}",
            [Problem(plan_name, None, "the plan and the inventory list different services")],
        )
    return LoadedPlan(
        plan, hashlib.sha256(plan_text.encode()).hexdigest(), plan_text, loaded.inventory
    )
