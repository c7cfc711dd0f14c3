"""Wave rules on hand-made graphs: continuity, cycles, caps, pilot, determinism."""

from __future__ import annotations

import math

from tests.planning import assert_continuity, make_inventory, plan_for, service

TiB = 1024**4


def test_dependencies_cut_over_first_within_a_wave() -> None:
    inventory = make_inventory([service("app", ["dbs"]), service("dbs", ["net"]), service("net")])
    plan = plan_for(inventory)
    assert plan.waves[0].services == ["net", "dbs", "app"]
    assert_continuity(inventory, plan)


def test_dependency_chain_over_the_service_cap() -> None:
    names = [f"svc-{i:02d}" for i in range(7)]
    specs = [service(n, [names[i - 1]] if i else []) for i, n in enumerate(names)]
    inventory = make_inventory(specs, max_services=3)
    plan = plan_for(inventory)
    assert [len(w.services) for w in plan.waves] == [3, 3, 1]
    assert_continuity(inventory, plan)


def test_cycles_become_units_in_one_wave() -> None:
    inventory = make_inventory(
        [
            service("idp", ["kms", "net"]),
            service("kms", ["idp"]),
            service("net"),
            service("portal", ["reqs"]),
            service("reqs", ["portal", "idp"]),
        ],
        max_services=3,
    )
    plan = plan_for(inventory)
    assert [u.services for u in plan.units] == [["idp", "kms"], ["portal", "reqs"]]
    assert all(u.reason == "cycle" for u in plan.units)
    assert plan.services["idp"].wave == plan.services["kms"].wave
    assert plan.services["portal"].wave == plan.services["reqs"].wave
    assert_continuity(inventory, plan)


def test_a_cycle_larger_than_the_cap_stands_alone_with_a_warning() -> None:
    ring = [service(f"ring-{i}", [f"ring-{(i + 1) % 4}"]) for i in range(4)]
    inventory = make_inventory([*ring, service("other")], max_services=3)
    plan = plan_for(inventory)
    alone = [w for w in plan.waves if w.alone]
    assert len(alone) == 1
    assert sorted(alone[0].services) == ["ring-0", "ring-1", "ring-2", "ring-3"]
    assert any("ring-0 <-> ring-1" in w and "stands alone" in w for w in plan.warnings)
    assert_continuity(inventory, plan)


def test_byte_cap_packs_services() -> None:
    specs = [service(f"data-{i}", size=15 * TiB) for i in range(5)]
    inventory = make_inventory(specs, max_bytes=40 * TiB)
    plan = plan_for(inventory)
    assert [len(w.services) for w in plan.waves] == [2, 2, 1]
    assert all(w.estimated_bytes <= 40 * TiB for w in plan.waves)
    assert_continuity(inventory, plan)


def test_an_oversized_service_stands_alone() -> None:
    specs = [service("huge", size=120 * TiB), service("small", size=TiB), service("app", ["huge"])]
    inventory = make_inventory(specs, max_bytes=40 * TiB)
    plan = plan_for(inventory)
    huge_wave = plan.waves[plan.services["huge"].wave - 1]
    assert huge_wave.services == ["huge"]
    assert huge_wave.alone
    assert plan.services["app"].wave > huge_wave.index
    assert any("huge alone exceeds" in w for w in plan.warnings)
    assert_continuity(inventory, plan)


def test_pilot_wave_holds_only_low_risk_services_whose_deps_allow() -> None:
    inventory = make_inventory(
        [
            service("net", criticality="critical"),
            service("logs", criticality="low"),
            service("docs", ["logs"], criticality="low"),
            service("dash", ["net"], criticality="low"),
            service("app", ["net"]),
        ],
        pilot=True,
    )
    plan = plan_for(inventory)
    assert plan.waves[0].pilot
    assert plan.waves[0].services == ["logs", "docs"]
    assert plan.services["dash"].wave > 1
    assert_continuity(inventory, plan)


def test_pilot_respects_the_caps() -> None:
    specs = [service(f"low-{i}", criticality="low") for i in range(5)]
    inventory = make_inventory(specs, max_services=2, pilot=True)
    plan = plan_for(inventory)
    assert plan.waves[0].pilot
    assert len(plan.waves[0].services) == 2
    assert not plan.waves[1].pilot
    assert_continuity(inventory, plan)


def test_no_pilot_candidate_is_a_warning() -> None:
    inventory = make_inventory([service("net", criticality="high")], pilot=True)
    plan = plan_for(inventory)
    assert not plan.waves[0].pilot
    assert any("no pilot wave" in w for w in plan.warnings)


def test_independent_services_fill_waves_to_the_lower_bound() -> None:
    specs = [service(f"svc-{i:03d}") for i in range(100)]
    plan = plan_for(make_inventory(specs, max_services=7))
    assert len(plan.waves) == math.ceil(100 / 7)


def test_estimates_use_the_bandwidth() -> None:
    inventory = make_inventory([service("data", size=TiB)])
    plan = plan_for(inventory)
    bandwidth = inventory.policy.bandwidth
    assert plan.waves[0].estimated_seconds == math.ceil(TiB / bandwidth)
    assert plan.total_bytes == TiB


def test_same_inventory_same_plan() -> None:
    specs = [
        service("bbb", ["aaa"]),
        service("aaa"),
        service("ccc", ["aaa", "bbb"]),
        service("ddd"),
    ]
    first = plan_for(make_inventory(specs, max_services=2))
    second = plan_for(make_inventory(list(reversed(specs)), max_services=2))
    assert first.model_dump(exclude={"created_at"}) == second.model_dump(exclude={"created_at"})


def test_an_oversized_service_gives_way_to_the_others_recorded_in_its_wave() -> None:
    """Found by the property test: an oversized service and its dependency recorded in one
    wave. The oversized one is placed anew; the wave it leaves takes other services again and
    is not marked as standing alone."""
    gib = 1024**3
    specs = [
        service("svc-000", criticality="critical"),
        service("svc-030", ["svc-000"], criticality="critical", size=11 * gib),
        service("svc-040"),
        service("svc-041"),
    ]
    inventory = make_inventory(specs, max_services=2, max_bytes=10 * gib)
    plan = plan_for(inventory, {"svc-000": 3, "svc-030": 3})
    assert_continuity(inventory, plan)
    assert plan.services["svc-000"].wave == 1
    assert [w.services for w in plan.waves if w.alone] == [["svc-030"]]
    moved = [w for w in plan.warnings if "placed anew" in w]
    assert moved == [
        "svc-030 cannot stay in the wave it was applied in: with it, that wave would exceed "
        "the policy limits. It is placed anew"
    ]
