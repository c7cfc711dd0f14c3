"""Every class of inventory error: reported all at once, as file:line: message, exit 2."""

from __future__ import annotations

import pytest

from migrate.errors import ExitCode, InventoryError
from tests.support import BASE, inventory, messages, one, plan_of, problems_of

TEXT = b"""version: 1
name: hub
source: {provider: azure, account: devstoreaccount1}
target: {provider: s3, endpoint: "https://s3.example.fr", region: fr-par}
services:
  - name: net-core
    kind: network
  - name: claims
    kind: object-store
    criticality: urgent
    data: {container: claims, size_estimate: 12XB}
  - name: portal
    kind: workspace
    depends_on: [ghost]
    colour: blue
"""


def test_every_problem_is_reported_with_its_line() -> None:
    error = problems_of(TEXT)
    assert isinstance(error, InventoryError)
    assert error.exit_code == ExitCode.INVALID
    assert one(error, "criticality").line == 10
    assert one(error, "size_estimate").line == 11
    assert one(error, "unknown service 'ghost'").line == 14
    assert one(error, "unknown field 'colour'").line == 15
    assert all(str(p).startswith("inv.yaml:") for p in error.problems)


def test_messages_name_the_service() -> None:
    error = problems_of(TEXT)
    assert "service 'claims': criticality:" in str(one(error, "urgent"))
    assert "service 'portal'" in str(one(error, "ghost"))


def test_yaml_syntax_error_has_a_line() -> None:
    error = problems_of(b"version: 1\nservices:\n  - name: [a, b\n  - name: c\n")
    assert isinstance(error, InventoryError)
    assert "YAML syntax" in messages(error)[0]
    assert error.problems[0].line is not None


def test_tabs_and_bad_indentation_are_syntax_errors() -> None:
    error = problems_of(b"version: 1\nname: x\n\tsource: {}\n")
    assert "YAML syntax" in messages(error)[0]


@pytest.mark.parametrize("content", [b"", b"   \n# only a comment\n", b"---\n"])
def test_empty_file(content: bytes) -> None:
    error = problems_of(content)
    assert isinstance(error, InventoryError)
    assert "empty" in messages(error)[0]


def test_not_a_mapping() -> None:
    error = problems_of(b"- a\n- b\n")
    assert "not a mapping" in messages(error)[0]


def test_not_utf8() -> None:
    error = problems_of(b"version: 1\nname: caf\xe9\n")
    assert "UTF-8" in messages(error)[0]
    assert error.problems[0].line == 2


def test_unsupported_version() -> None:
    error = problems_of(inventory(version=2))
    assert "unsupported version 2" in str(one(error, "version"))


def test_duplicate_yaml_keys() -> None:
    error = problems_of(b"version: 1\nname: a\nname: b\n")
    assert one(error, "duplicate key 'name'").line == 3


@pytest.mark.parametrize("field", ["version", "name", "source", "target", "services"])
def test_missing_top_level_field(field: str) -> None:
    data = inventory()
    del data[field]
    error = problems_of(data)
    assert isinstance(error, InventoryError)
    one(error, f"missing required field '{field}'")


def test_missing_service_kind() -> None:
    error = problems_of(inventory(services=[{"name": "net-core"}]))
    assert "service 'net-core': kind: missing required field 'kind'" in messages(error)[0]


def test_no_services() -> None:
    error = problems_of(inventory(services=[]))
    one(error, "lists no services")


@pytest.mark.parametrize(
    "name", ["ab", "Net-Core", "net_core", "a" * 64, "réseau", "net core", 123]
)
def test_bad_service_names(name: object) -> None:
    error = problems_of(inventory(services=[{"name": name, "kind": "network"}]))
    assert isinstance(error, InventoryError)
    assert any("name" in m for m in messages(error))


def test_duplicate_service_names() -> None:
    services = [{"name": "net-core", "kind": "network"}, {"name": "net-core", "kind": "compute"}]
    one(problems_of(inventory(services=services)), "duplicate service name 'net-core'")


def test_unknown_kind_and_criticality() -> None:
    error = problems_of(
        inventory(services=[{"name": "net-core", "kind": "router", "criticality": "urgent"}])
    )
    one(error, "'router' is not one of")
    one(error, "'urgent' is not one of")


def test_wrong_types() -> None:
    services = [
        {"name": "net-core", "kind": "network", "depends_on": "claims"},
        {"name": "claims", "kind": "network", "max_downtime": [1]},
    ]
    error = problems_of(inventory(services=services))
    one(error, "depends_on")
    one(error, "max_downtime")


def test_unknown_fields_everywhere() -> None:
    data = inventory()
    data["source"] = {**data["source"], "acount": "x"}
    data["policy"] = {**data["policy"], "max_wave": 3}
    data["services"][0]["colour"] = "blue"
    data["flavour"] = 1
    error = problems_of(data)
    for field in ("acount", "max_wave", "colour", "flavour"):
        one(error, f"unknown field '{field}'")


@pytest.mark.parametrize("size", ["12XB", "lots", "TiB", "-1GiB"])
def test_unparseable_sizes(size: str) -> None:
    services = [
        {
            "name": "claims",
            "kind": "object-store",
            "data": {"container": "claims", "size_estimate": size},
        }
    ]
    one(problems_of(inventory(services=services)), "size")


@pytest.mark.parametrize("duration", ["15q", "soon", "m"])
def test_unparseable_durations(duration: str) -> None:
    services = [{"name": "net-core", "kind": "network", "max_downtime": duration}]
    one(problems_of(inventory(services=services)), "unparseable duration")


def test_unparseable_policy_values() -> None:
    data = inventory(
        policy={"max_bytes_per_wave": "big", "bandwidth": "fast", "max_services_per_wave": 0}
    )
    error = problems_of(data)
    one(error, "max_bytes_per_wave")
    one(error, "unparseable rate")
    one(error, "max_services_per_wave")


def test_dependency_errors() -> None:
    services = [
        {"name": "net-core", "kind": "network", "depends_on": ["net-core"]},
        {"name": "portal", "kind": "workspace", "depends_on": ["ghost", "net-core", "net-core"]},
    ]
    error = problems_of(inventory(services=services))
    one(error, "depends on itself")
    one(error, "unknown service 'ghost'")
    one(error, "lists dependency 'net-core' twice")


def test_object_store_needs_data_and_others_refuse_it() -> None:
    services = [
        {"name": "claims", "kind": "object-store"},
        {"name": "net-core", "kind": "network", "data": {"container": "x"}},
    ]
    error = problems_of(inventory(services=services))
    one(error, "needs 'data'")
    one(error, "only for object-store")


@pytest.mark.parametrize(
    ("bucket", "fragment"),
    [
        ("ab", "3 to 63"),
        ("Claims", "lower-case"),
        ("claims_2024", "lower-case"),
        ("claims..old", "'..'"),
        ("192.168.1.10", "IP address"),
        ("xn--claims", "reserved prefix"),
        ("claims-s3alias", "reserved suffix"),
        ("-claims", "start and end"),
    ],
)
def test_explicit_bucket_names_follow_s3_rules(bucket: str, fragment: str) -> None:
    services = [
        {
            "name": "claims",
            "kind": "object-store",
            "data": {"container": "claims", "bucket": bucket},
        }
    ]
    assert fragment in str(one(problems_of(inventory(services=services)), "bucket"))


def test_derived_bucket_names_are_checked() -> None:
    data = inventory()
    data["target"] = {**data["target"], "bucket_prefix": "xn--"}
    problem = one(problems_of(data), "derived from the container")
    assert "reserved prefix" in str(problem)


def test_azure_container_names_are_checked() -> None:
    services = [{"name": "claims", "kind": "object-store", "data": {"container": "Claims--2"}}]
    one(problems_of(inventory(services=services)), "not a valid Azure container name")


def test_missing_environment_variable() -> None:
    error = problems_of(inventory(), env={"S3_URL": "http://127.0.0.1:9000"})
    assert "environment variable 'AZURITE_URL' is not set" in str(one(error, "AZURITE_URL"))
    assert one(error, "AZURITE_URL").line is not None


def test_interpolation_default() -> None:
    data = inventory()
    data["source"] = {**data["source"], "endpoint": "${AZ_URL:-http://127.0.0.1:10000/dev}"}
    assert plan_of(data).inventory.source.endpoint == "http://127.0.0.1:10000/dev"


def test_endpoint_must_be_a_url() -> None:
    data = inventory()
    data["target"] = {**data["target"], "endpoint": "s3.example.fr"}
    one(problems_of(data), "not an http(s) URL")


def test_approval_and_hooks_must_name_steps() -> None:
    services = [
        {"name": "net-core", "kind": "network", "approval": ["replicate"]},
        {"name": "claims", "kind": "network", "hooks": {"teleport": "true"}},
    ]
    error = problems_of(inventory(services=services))
    one(error, "approval step 'replicate'")
    one(error, "unknown field 'teleport'")


def test_provider_specific_fields() -> None:
    data = inventory(
        source={"provider": "azure"},
        target={"provider": "s3", "encryption": "aws:kms", "endpoint": "https://s3.example.fr"},
    )
    error = problems_of(data)
    one(error, "needs 'account'")
    one(error, "needs 'region'")


def test_preset_rules() -> None:
    data = inventory(target={"provider": "s3", "preset": "scaleway", "region": "us-east-1"})
    one(problems_of(data), "unknown to preset 'scaleway'")
    data = inventory(target={"provider": "s3", "preset": "generic", "region": "eu-west-2"})
    one(problems_of(data), "needs an explicit 'endpoint'")


def test_base_inventory_is_valid() -> None:
    result = plan_of(BASE)
    assert [s.name for s in result.inventory.services] == ["net-core", "claims"]


def test_an_unknown_dependency_close_to_a_service_is_suggested() -> None:
    error = problems_of(TEXT.replace(b"depends_on: [ghost]", b"depends_on: [claim]"))
    assert "unknown service 'claim' (did you mean 'claims'?)" in str(one(error, "'claim'"))
    far = problems_of(TEXT)
    assert "did you mean" not in str(one(far, "unknown service 'ghost'"))
