"""The secret scan's first look never misses what the full scan finds; the patterns and the
interpolation stay linear on hostile text; the planner's graph gives networkx's units and
order; plan files out of shape are refused naming the file."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate import planfile
from migrate.errors import EditedPlan, PlanFileError
from migrate.inventory.interpolate import MissingVariable, interpolate
from migrate.inventory.secrets import find_inline_secrets, may_hold_secrets
from migrate.planner.graph import condense, dependency_graph, topological_units
from tests.planning import make_inventory, plan_for, service

_PIECES = st.sampled_from(
    ["a", "Z", "0", "+", ".", "-", ":", "/", "@", " ", "?", "&", "=", "sig=", "AKIA", "K",
     "AccountKey=", "accountkey=", "://", "u:p@", "-----BEGIN RSA PRIVATE KEY-----", "==",
     "AWS_SECRET_ACCESS_KEY=x", "A" * 86, "0123456789ABCDEF"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=8).map("".join), max_size=5), st.booleans())
def test_the_first_look_never_misses_a_secret(texts: list[str], as_key: bool) -> None:
    data: dict[str, object] = dict.fromkeys(texts, "v") if as_key else {"x": texts}
    keys = list(data) + (["x"] if not as_key else [])
    found = list(find_inline_secrets(data))
    if found:
        assert may_hold_secrets([*texts, "v", "x"], keys)


@pytest.mark.parametrize(
    "text",
    ["a" * 2_000_000, "a://" + "b:" * 500_000, "a." * 1_000_000, "-----BEGIN " + "A" * 10**6],
)
def test_hostile_values_are_scanned(text: str) -> None:
    assert list(find_inline_secrets({"hook": text})) == []


def test_secrets_are_still_found() -> None:
    found = dict(find_inline_secrets({"endpoint": "https://u:p@h", "password": "x"}))
    assert found == {
        ("endpoint",): "the value holds a password in a URL",
        ("password",): "'password' holds a secret",
    }
    assert may_hold_secrets(["https://u:p@h"], [])
    assert may_hold_secrets([], ["Password"])
    assert not may_hold_secrets(["svc-0001", "compute"], ["name", "kind"])


def test_unclosed_defaults_are_interpolated_in_one_pass() -> None:
    text = "${A:-" * 200_000
    assert interpolate(text, {}) == text
    assert interpolate("${A:-x}${B}", {"B": "b"}) == "xb"
    with pytest.raises(MissingVariable):
        interpolate("${A}" + "${A:-" * 1000, {})


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**32))
def test_units_are_the_cycles_and_the_order_follows_dependencies(count: int, seed: int) -> None:
    rnd = random.Random(seed)
    names = [f"svc-{i:03d}" for i in rnd.sample(range(1000), count)]
    deps = {n: sorted({rnd.choice(names) for _ in range(rnd.randint(0, 3))} - {n}) for n in names}
    inventory = make_inventory([service(n, deps[n]) for n in names])
    graph = dependency_graph(inventory)
    condensed = condense(inventory, graph)
    unit_of = {name: u for u, unit in condensed.units.items() for name in unit.services}
    reach = {name: nx.descendants(graph, name) | {name} for name in names}
    for name in names:  # a unit holds exactly the services that depend on each other
        for other in names:
            mutual = other in reach[name] and name in reach[other]
            assert (unit_of[name] == unit_of[other]) == mutual
    position = {u: i for i, u in enumerate(topological_units(condensed))}
    for name in names:
        for dependency in deps[name]:
            assert position[unit_of[dependency]] <= position[unit_of[name]]


def test_a_long_chain_needs_no_recursion() -> None:
    names = [f"svc-{i:05d}" for i in range(5_001)]
    chain = [service(n, [names[i - 1]] if i else []) for i, n in enumerate(names)]
    inventory = make_inventory(chain, max_services=10)
    condensed = condense(inventory, dependency_graph(inventory))
    assert len(condensed.units) == 5_001
    assert [condensed.units[u].key for u in topological_units(condensed)] == names


def _plan_text() -> str:
    plan = plan_for(make_inventory([service("net-core"), service("app", ["net-core"])]))
    return planfile.dumps(plan)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda t: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (lambda t: t.replace('"estimated_bytes": 0', '"estimated_bytes": ' + "9" * 5000, 1),
         "a number of thousands of digits"),
        (lambda t: t.replace('"index": 1', '"index": ' + "1" * 30, 1), "out of range (1 to"),
        (lambda t: t + " " * planfile.MAX_PLAN_CHARS, "at most 64 MiB"),
    ],
)  # fmt: skip
def test_plan_files_out_of_shape_are_refused(change: Callable[[str], str], fragment: str) -> None:
    with pytest.raises(PlanFileError) as refused:
        planfile.loads(change(_plan_text()), "p.json")
    assert any(fragment in str(p) and str(p).startswith("p.json") for p in refused.value.problems)


def test_a_service_in_another_wave_than_its_own_is_refused() -> None:
    data = json.loads(_plan_text())
    data["services"]["app"]["wave"] = 7
    with pytest.raises(EditedPlan, match="consistent"):
        planfile.loads(json.dumps(data), "p.json")
