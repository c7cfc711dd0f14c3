"""Universal rules of wave planning, on random inventories (hypothesis)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.planning import assert_continuity, make_inventory, plan_for, service

CRITICALITIES = ["critical", "high", "medium", "low"]
GiB = 1024**3


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=40))
    names = [f"svc-{i:03d}" for i in range(count)]
    specs = []
    for name in names:
        deps = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
        deps = [d for d in deps if d != name]
        size = draw(
            st.one_of(st.none(), st.integers(min_value=0, max_value=60).map(lambda g: g * GiB))
        )
        specs.append(
            service(name, deps, criticality=draw(st.sampled_from(CRITICALITIES)), size=size)
        )
    return {
        "services": specs,
        "max_services": draw(st.integers(min_value=1, max_value=8)),
        "max_bytes": draw(
            st.one_of(st.none(), st.integers(min_value=10, max_value=120).map(lambda g: g * GiB))
        ),
        "pilot": draw(st.booleans()),
    }


@settings(max_examples=300, deadline=None)
@given(inventories())
def test_every_continuity_rule_holds(case: dict[str, Any]) -> None:
    inventory = make_inventory(**case)
    assert_continuity(inventory, plan_for(inventory))


@settings(max_examples=100, deadline=None)
@given(inventories(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_order_of_the_file(case: dict[str, Any], rnd: Any) -> None:
    shuffled = dict(case, services=list(case["services"]))
    rnd.shuffle(shuffled["services"])
    first = plan_for(make_inventory(**case)).model_dump(exclude={"created_at"})
    second = plan_for(make_inventory(**shuffled)).model_dump(exclude={"created_at"})
    assert first == second


@settings(max_examples=100, deadline=None)
@given(inventories())
def test_never_more_waves_than_units_and_never_an_empty_wave(case: dict[str, Any]) -> None:
    plan = plan_for(make_inventory(**case))
    units = len(plan.services) - sum(len(u.services) - 1 for u in plan.units)
    assert len(plan.waves) <= units
    assert all(wave.services for wave in plan.waves)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=12))
def test_independent_services_meet_the_capacity_lower_bound(count: int, cap: int) -> None:
    specs = [service(f"svc-{i:03d}") for i in range(count)]
    plan = plan_for(make_inventory(specs, max_services=cap))
    assert len(plan.waves) == math.ceil(count / cap)


@settings(max_examples=200, deadline=None)
@given(inventories(), st.data())
def test_services_under_way_keep_their_waves_when_services_are_added(
    case: dict[str, Any], data: st.DataObject
) -> None:
    """Re-planning after adding services keeps every service with recorded work (here: all of
    the first k waves, as an apply leaves them) in the wave it was applied in."""
    before = plan_for(make_inventory(**case))
    k = data.draw(st.integers(min_value=0, max_value=len(before.waves)))
    recorded = {name: w.index for w in before.waves[:k] for name in w.services}
    old = [s["name"] for s in case["services"]]
    added: list[dict[str, Any]] = []
    for i in range(data.draw(st.integers(min_value=1, max_value=10))):
        deps = data.draw(st.lists(st.sampled_from(old + [a["name"] for a in added]), max_size=3))
        criticality = data.draw(st.sampled_from(CRITICALITIES))
        added.append(service(f"new-{i:03d}", sorted(set(deps)), criticality=criticality))
    inventory = make_inventory(**dict(case, services=[*case["services"], *added]))
    after = plan_for(inventory, recorded)
    assert_continuity(inventory, after)
    assert after.recorded_waves == recorded
    assert {name: after.services[name].wave for name in recorded} == recorded
    assert not [w for w in after.warnings if "placed anew" in w]


@settings(max_examples=200, deadline=None)
@given(inventories(), st.data())
def test_recorded_waves_never_break_continuity_or_order(
    case: dict[str, Any], data: st.DataObject
) -> None:
    """Any recorded waves at all (a ledger of another inventory, lowered limits, a new
    dependency of a done service): every continuity rule still holds, limits included, and
    the services that keep their place keep their order."""
    names = [s["name"] for s in case["services"]]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
    recorded = {n: data.draw(st.integers(min_value=1, max_value=10**9)) for n in chosen}
    inventory = make_inventory(**case)
    plan = plan_for(inventory, recorded)
    assert_continuity(inventory, plan)
    moved = {n for w in plan.warnings if "placed anew" in w for n in names if f"{n} " in w}
    kept = [n for n in recorded if n not in moved]
    for a in kept:
        for b in kept:
            if recorded[a] < recorded[b]:
                assert plan.services[a].wave < plan.services[b].wave, (a, b)
            if recorded[a] == recorded[b]:
                assert plan.services[a].wave == plan.services[b].wave, (a, b)
