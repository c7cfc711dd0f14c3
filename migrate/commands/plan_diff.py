"""The plan as a difference against what the state database applied (Terraform's "1 to add,
1 to change"): which services are new, changed (and in what), gone from the inventory, or
unchanged, and what state each is in. Pure: the CLI reads the ledger and prints."""

from __future__ import annotations

from dataclasses import dataclass

from migrate.model import Plan

ADD, CHANGE, REMOVE, SAME = "to add", "changed", "to remove", "unchanged"


@dataclass(frozen=True)
class ServiceChange:
    name: str
    change: str
    state: str | None
    """What the ledger says of the service (None: it has no row)."""
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanDiff:
    changes: tuple[ServiceChange, ...]

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    @property
    def summary(self) -> str:
        return (
            f"{self.count(SAME)} unchanged, {self.count(ADD)} to add, "
            f"{self.count(CHANGE)} changed, {self.count(REMOVE)} to remove"
        )


def diff_plans(new: Plan, applied: Plan, states: dict[str, str]) -> PlanDiff:
    changes = []
    for name, planned in new.services.items():
        before = applied.services.get(name)
        if before is None:
            changes.append(ServiceChange(name, ADD, states.get(name)))
            continue
        details = _fields_changed(before.model_dump(mode="json"), planned.model_dump(mode="json"))
        if new.route_of(name) != applied.route_of(name):
            details = ["route", *(d for d in details if d not in ("container", "bucket", "prefix"))]
        changes.append(
            ServiceChange(name, CHANGE if details else SAME, states.get(name), tuple(details))
        )
    changes += [
        ServiceChange(name, REMOVE, states.get(name))
        for name in applied.services
        if name not in new.services
    ]
    return PlanDiff(tuple(changes))


def _fields_changed(before: dict[str, object], after: dict[str, object]) -> list[str]:
    found = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        if key == "wave":
            found.append(f"wave {before.get(key)} -> {after.get(key)}")
        else:
            found.append(key)
    return found


def consequence(change: ServiceChange) -> str:
    """What the change means for a service in its state, as an operator needs to know it."""
    if change.change == ADD:
        return "new: apply takes it through every step"
    if change.change == REMOVE:
        return "no longer in the inventory: apply leaves it (its records stay in the ledger)"
    if change.change == SAME:
        return ""
    if "route" in change.details and change.state not in (None, "pending"):
        return "another route for a service with work recorded: apply refuses it (exit 3)"
    if change.state == "done":
        return "done: apply skips it; the change takes effect only after a rollback"
    return "apply runs it as changed"
