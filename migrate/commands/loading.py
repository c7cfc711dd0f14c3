"""Load what `apply` and the commands after it need: the saved plan and its inventory.

The plan is the whole truth: the plan is built again from the inventory it names, and a plan
file that differs from that in anything but ``created_at`` (a bucket, container, prefix, step,
wave, hook, gate, verify level or deletion setting edited by hand) is refused before anything
is recorded. What runs is the plan as rebuilt; a field an older plan file lacks is taken from
the rebuild, a field the rebuild does not know is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from migrate import planfile
from migrate.config import Inventory
from migrate.errors import Problem, StalePlan
from migrate.inventory.loader import load_inventory
from migrate.model import Plan
from migrate.planner.build import build_plan

NOT_COMPARED = ("created_at", "warnings")
"""``warnings`` are commentary on the inventory (``--insecure`` adds one), never executed."""


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    plan_sha256: str
    plan_text: str
    inventory: Inventory
    inventory_text: str | None = None
    """The inventory as read (UTF-8), recorded with the plan when it is applied."""


class PlanEdited(StalePlan):
    """The plan file is not the plan its inventory gives."""


def load_plan(
    plan_text: str,
    plan_name: str,
    inventory_raw: bytes,
    inventory_name: str,
    env: Mapping[str, str],
    *,
    insecure: bool = False,
) -> LoadedPlan:
    saved = planfile.loads(plan_text, plan_name)
    actual = hashlib.sha256(inventory_raw).hexdigest()
    if actual != saved.inventory_sha256:
        raise StalePlan(
            f"saved plan {plan_name} is stale: {inventory_name} changed since the plan was made "
            f"(sha256 {actual[:12]}..., the plan has {saved.inventory_sha256[:12]}...). Run "
            f"`migrate plan {inventory_name} -o {plan_name}` again, review it, then apply it"
        )
    loaded = load_inventory(inventory_raw, inventory_name, env, insecure=insecure)
    rebuilt = build_plan(loaded, recorded_waves=saved.recorded_waves).model_copy(
        update={"created_at": saved.created_at, "inventory": saved.inventory}
    )
    refuse_differences(json.loads(plan_text), rebuilt, plan_name, inventory_name)
    text = planfile.dumps(rebuilt)
    try:
        inventory_text: str | None = inventory_raw.decode("utf-8")
    except UnicodeDecodeError:
        inventory_text = None
    return LoadedPlan(
        rebuilt,
        hashlib.sha256(text.encode()).hexdigest(),
        text,
        loaded.inventory,
        inventory_text,
    )


def refuse_differences(saved: Any, rebuilt: Plan, plan_name: str, inventory_name: str) -> None:
    """Raise PlanEdited naming the first field where the saved plan is not the rebuilt one."""
    expected = rebuilt.model_dump(mode="json")
    for key in NOT_COMPARED:
        expected.pop(key, None)
        if isinstance(saved, dict):
            saved.pop(key, None)
    difference = next(_differences(saved, expected, ()), None)
    if difference is None:
        return
    path, in_file, from_inventory = difference
    raise PlanEdited(
        f"{plan_name} is not the plan {inventory_name} gives: {_dotted(path)} is "
        f"{_shown(in_file)} in the plan file but {_shown(from_inventory)} from the inventory. "
        f"A plan edited by hand is never run: change {inventory_name} instead, then "
        f"`migrate plan {inventory_name} -o {plan_name}` and review it",
        [
            Problem(
                plan_name, None, f"{_dotted(path)}: {_shown(in_file)} != {_shown(from_inventory)}"
            )
        ],
    )


_ABSENT = object()


def _differences(
    saved: Any, expected: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Any, Any]]:
    if isinstance(expected, dict) and isinstance(saved, dict):
        for key in expected:
            if key in saved:
                yield from _differences(saved[key], expected[key], (*path, key))
        for key in saved:
            if key not in expected:
                yield (*path, key), saved[key], _ABSENT
        return
    if isinstance(expected, list) and isinstance(saved, list):
        for index, (a, b) in enumerate(zip(saved, expected, strict=False)):
            yield from _differences(a, b, (*path, index))
        if len(saved) != len(expected):
            yield path, saved, expected
        return
    retyped = type(saved) is not type(expected) and not _same_number(saved, expected)
    if saved != expected or retyped:
        yield path, saved, expected


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the plan"


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
