from __future__ import annotations

import json

import pytest

from migrate import planfile
from migrate.errors import PlanFileError
from migrate.model import Plan
from migrate.views.plan_graph import to_dot, to_mermaid
from migrate.views.plan_table import summary_line
from tests.planning import make_inventory, plan_for, service

TiB = 1024**4


def _plan() -> Plan:
    return plan_for(
        make_inventory(
            [
                service("net"),
                service("idp", ["kms", "net"]),
                service("kms", ["idp"]),
                service("claims", ["idp"], size=2 * TiB, criticality="critical"),
            ],
            max_services=2,
        )
    )


def test_round_trip() -> None:
    plan = _plan()
    assert planfile.loads(planfile.dumps(plan), "p.json") == plan


def test_invalid_json_names_the_line() -> None:
    with pytest.raises(PlanFileError) as caught:
        planfile.loads('{\n  "format_version": 1,\n  oops\n}', "p.json")
    assert caught.value.problems[0].line == 3
    assert str(caught.value.problems[0]).startswith("p.json:3: JSON")


def test_wrong_version_and_missing_fields() -> None:
    raw = json.loads(planfile.dumps(_plan()))
    raw["format_version"] = 9
    del raw["inventory_sha256"]
    with pytest.raises(PlanFileError) as caught:
        planfile.loads(json.dumps(raw), "p.json")
    text = " ".join(str(p) for p in caught.value.problems)
    assert "format_version" in text
    assert "inventory_sha256" in text


def test_inconsistent_waves_are_refused() -> None:
    raw = json.loads(planfile.dumps(_plan()))
    raw["waves"][0]["services"].append("ghost")
    with pytest.raises(PlanFileError, match="consistent"):
        planfile.loads(json.dumps(raw), "p.json")


def test_mermaid_has_waves_edges_and_cycles() -> None:
    text = to_mermaid(_plan())
    assert text.startswith("flowchart LR\n")
    assert 'subgraph w1["Wave 1"]' in text
    assert "s_idp --> s_kms" in text
    assert "s_claims --> s_idp" in text
    assert "class s_idp,s_kms cycle" in text


def test_dot_is_well_formed() -> None:
    text = to_dot(_plan())
    assert text.startswith("digraph plan {")
    assert text.count("{") == text.count("}")
    assert '"claims" -> "idp";' in text
    assert "subgraph cluster_w1" in text


def test_summary_line() -> None:
    line = summary_line(_plan())
    assert line.startswith("Plan: 4 services in ")
    assert "2 TiB" in line
