"""The registries: service kinds, providers and presets declare what the rest reads; the plan
carries the resolved sides; endpoints are parsed once and rebuilt from their checked parts."""

from __future__ import annotations

import re

import pytest

from migrate.config import kind_names, steps_for
from migrate.endpoints import EndpointRefused, parse_endpoint
from migrate.kinds import KINDS, kind
from migrate.presets import PRESETS
from migrate.providers import SOURCES, TARGETS, target_provider
from tests.planning import make_inventory, plan_for, service


def test_every_kind_is_registered_once_with_its_steps() -> None:
    assert set(kind_names()) == {
        "object-store",
        "database",
        "compute",
        "identity",
        "network",
        "analytics",
        "workspace",
    }
    assert steps_for("object-store") == kind("object-store").steps
    for spec in KINDS.values():
        assert spec.freeze_step in spec.steps
        assert spec.cutover_step in spec.steps
        assert spec.steps.index(spec.freeze_step) < spec.steps.index(spec.cutover_step)
        assert spec.steps_to_redo()[0] == spec.redo_from


def test_presets_are_one_module_each_and_declare_their_features() -> None:
    assert set(PRESETS) == {"generic", "outscale", "ovhcloud", "scaleway", "cloud-temple"}
    assert PRESETS["generic"].features.bucket_tagging is None  # only a probe can tell
    assert PRESETS["outscale"].qualified_regions == frozenset({"cloudgouv-eu-west-1"})
    assert target_provider("s3").capabilities("scaleway").max_parts == 1_000
    assert not target_provider("local").network
    assert set(SOURCES) == {"azure", "local"}
    assert set(TARGETS) == {"s3", "local"}


def test_the_plan_carries_what_apply_executes() -> None:
    inventory = make_inventory(
        [
            {
                **service("claims", size=10),
                "approval": ["cutover"],
                "max_downtime": "5m",
                "hooks": {"cutover": "repoint claims", "rollback": "unfreeze claims"},
            }
        ]
    )
    plan = plan_for(inventory)
    claims = plan.services["claims"]
    assert claims.hooks == {"cutover": "repoint claims", "rollback": "unfreeze claims"}
    assert claims.tags == {"hdh-service": "claims", "hdh-managed-by": "hdh-migrate"}
    assert claims.max_downtime_seconds == 300
    assert plan.target is not None
    assert (plan.target.provider, plan.target.path) == ("local", "/tmp/dst")
    assert plan.target.features["bucket_encryption"] is False
    assert "target provider 'local' has no bucket default encryption" in " ".join(plan.warnings)
    assert plan.route_of("claims") == {
        "inventory": "generated",
        "kind": "object-store",
        "container": "claims",
        "prefix": "",
        "bucket": "claims",
    }


@pytest.mark.parametrize(
    ("text", "rebuilt"),
    [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        (
            "https://OOS.cloudgouv-eu-west-1.outscale.com/",
            "https://oos.cloudgouv-eu-west-1.outscale.com",
        ),
        ("http://[::1]:10000/devstoreaccount1", "http://[::1]:10000/devstoreaccount1"),
    ],
)
def test_an_endpoint_is_rebuilt_from_its_checked_parts(text: str, rebuilt: str) -> None:
    assert parse_endpoint(text).url == rebuilt


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("http://evil.invalid\\@127.0.0.1:9000", "backslash"),
        ("http://user:secret@127.0.0.1:9000", "user info"),
        ("http://127.0.0.1:9000 /x", "whitespace"),
        ("http://127.0.0.1:9000\x00", "control character"),
        ("ftp://127.0.0.1", "not an http(s) URL"),
        ("http://127.0.0.1:99999", "port"),
        ("https://host/?a=b", "query"),
        ("s3.example.fr", "not an http(s) URL"),
    ],
)
def test_an_ambiguous_endpoint_is_refused(text: str, why: str) -> None:
    with pytest.raises(EndpointRefused, match=re.escape(why)):
        parse_endpoint(text)
