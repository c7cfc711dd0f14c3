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
