"""One route per service in a state database: a plan whose service has the same name as one
the ledger holds work for, but another platform, container, prefix or bucket, is refused
rather than reported "done" for work that was never done on the new route."""

from __future__ import annotations

from collections.abc import Mapping

from migrate.errors import RefusedForSafety
from migrate.ledger import RecordedRoute
from migrate.model import Plan

LEGACY_FIELDS = ("container", "bucket")
"""What a ledger of schema 4 knew of a route."""


def route_changes(plan: Plan, recorded: Mapping[str, RecordedRoute]) -> list[str]:
    """One sentence per service whose route differs from the one its recorded work is on."""
    changes = []
    for name in plan.services:
        held = recorded.get(name)
        if held is None or not held.worked:
            continue  # nothing done under the old route: the new one simply replaces it
        new = plan.route_of(name)
        if held.route is None:
            old: dict[str, str | None] = {"container": held.container, "bucket": held.bucket}
            same = all(new.get(field) == old[field] for field in LEGACY_FIELDS)
        else:
            old = held.route
            same = old == new
        if not same:
            changes.append(
                f"service '{name}': recorded {_shown(old)}, the plan gives {_shown(new)}"
            )
    return changes


def refuse_route_changes(plan: Plan, recorded: Mapping[str, RecordedRoute]) -> None:
    changes = route_changes(plan, recorded)
    if changes:
        raise RefusedForSafety(
            "this state database holds work for "
            + ("a service" if len(changes) == 1 else f"{len(changes)} services")
            + " of the same name on another route: "
            + "; ".join(changes)
            + ". A state database serves one platform: apply the other inventory with its "
            "own --state, or give the service another name. Nothing was recorded"
        )


def moved_work(plan: Plan, recorded: Mapping[str, RecordedRoute]) -> list[str]:
    """Services with work recorded in a wave the plan neither keeps nor was made from: the
    plan was made without this state database (or before another plan was applied to it)."""
    moved = []
    for name, planned in plan.services.items():
        held = recorded.get(name)
        if held is None or not held.worked or held.wave is None:
            continue
        if held.wave not in (planned.wave, plan.recorded_waves.get(name)):
            moved.append(f"'{name}' (recorded in wave {held.wave}, the plan gives {planned.wave})")
    return moved


def refuse_moved_work(plan: Plan, recorded: Mapping[str, RecordedRoute]) -> None:
    moved = moved_work(plan, recorded)
    if moved:
        shown = "; ".join(moved[:5]) + (f"; and {len(moved) - 5} more" if len(moved) > 5 else "")
        raise RefusedForSafety(
            "this plan was not made against this state database: it moves services whose work "
            f"is recorded in another wave: {shown}. Run `migrate plan INVENTORY -o PLAN` with "
            "the same --state, so that what is under way keeps its place, review it, then "
            "apply it. Nothing was recorded"
        )


def refuse_conflicts(plan: Plan, recorded: Mapping[str, RecordedRoute]) -> None:
    """What a state database holds that a plan must agree with: routes, then waves."""
    refuse_route_changes(plan, recorded)
    refuse_moved_work(plan, recorded)


def _shown(route: Mapping[str, str | None]) -> str:
    parts = [f"{key} {value!r}" for key, value in sorted(route.items()) if value is not None]
    return "(" + ", ".join(parts) + ")"
