"""Policy refusals: exit 3 with the reason; secrets never echoed."""

from __future__ import annotations

from typing import Any

import pytest

from migrate.errors import ExitCode, PolicyViolation
from tests.support import BASE, ENV, inventory, messages, one, plan_of, problems_of


def _target(**changes: object) -> dict[str, object]:
    return {**BASE["target"], **changes}


def _refused(data: object, **kwargs: Any) -> PolicyViolation:
    error = problems_of(data, **kwargs)
    assert isinstance(error, PolicyViolation), messages(error)
    assert error.exit_code == ExitCode.REFUSED
    return error


def test_region_outside_allowed_regions() -> None:
    error = _refused(inventory(target=_target(region="us-east-1")))
    assert "target region 'us-east-1' is not in policy.allowed_regions" in messages(error)[0]


def test_encryption_none_while_required() -> None:
    one(_refused(inventory(target=_target(encryption="none"))), "encryption 'none' is refused")


def test_encryption_none_allowed_when_not_required() -> None:
    data = inventory(target=_target(encryption="none"))
    data["policy"] = {**data["policy"], "require_encryption": False}
    assert plan_of(data).inventory.target.encryption == "none"


@pytest.mark.parametrize(
    "url", ["http://s3.example.fr", "http://10.0.0.5:9000", "http://192.168.1.2"]
)
def test_plain_http_outside_loopback_is_refused(url: str) -> None:
    error = _refused(inventory(), env={**ENV, "S3_URL": url})
    assert "plain-http endpoint" in messages(error)[0]
    assert "--insecure" in messages(error)[0]


def test_plain_http_source_outside_loopback_is_refused() -> None:
    one(_refused(inventory(), env={**ENV, "AZURITE_URL": "http://blob.example.fr"}), "source")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000", "http://127.8.9.1"],
)
def test_plain_http_on_loopback_is_accepted(url: str) -> None:
    plan_of(inventory(), env={**ENV, "S3_URL": url})


def test_insecure_overrides_and_warns() -> None:
    result = plan_of(inventory(), env={**ENV, "S3_URL": "http://s3.example.fr"}, insecure=True)
    assert any("--insecure" in w for w in result.plan.warnings)


def test_two_services_one_bucket() -> None:
    services = [
        {"name": "claims", "kind": "object-store", "data": {"container": "claims"}},
        {
            "name": "claims-bis",
            "kind": "object-store",
            "data": {"container": "other", "bucket": "claims"},
        },
    ]
    one(_refused(inventory(services=services)), "also the target of 'claims'")


def test_projects_never_share_a_bucket() -> None:
    services = [
        {
            "name": "covid-data",
            "kind": "object-store",
            "project": "covid",
            "data": {"container": "covid", "bucket": "shared-space"},
        },
        {
            "name": "asthma-data",
            "kind": "object-store",
            "project": "asthma",
            "data": {"container": "asthma", "bucket": "shared-space"},
        },
    ]
    problem = one(_refused(inventory(services=services)), "projects never share a bucket")
    assert "covid" in str(problem)
    assert "asthma" in str(problem)


AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("source", "key", AZURE_KEY),
        ("source", "sas_token", "sv=2024&sig=abcdefghijklmnopqrstuvwx"),
        ("target", "secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("target", "access_key", "AKIAIOSFODNN7EXAMPLE"),
        ("source", "password", "hunter2"),
    ],
)
def test_inline_secrets_are_refused_and_never_echoed(section: str, field: str, value: str) -> None:
    data = inventory()
    data[section] = {**data[section], field: value}
    error = _refused(data)
    problem = one(error, "never written in the inventory")
    assert f"{section}.{field}" in str(problem)
    assert value not in str(error)
    assert all(value not in m for m in messages(error))


@pytest.mark.parametrize(
    "hook",
    [
        f"curl 'https://acct.blob.core.windows.net/c?sv=1&sig={'A' * 30}'",
        "AWS_SECRET_ACCESS_KEY=abc123 aws s3 ls",
        f"az storage copy --connection-string 'AccountKey={AZURE_KEY}'",
        "mc alias set t https://admin:s3cret@s3.example.fr",
    ],
)
def test_secrets_inside_hook_commands(hook: str) -> None:
    data = inventory()
    data["services"][0]["hooks"] = {"cutover": hook}
    error = _refused(data)
    problem = one(error, "hooks.cutover")
    assert "secret" in str(problem) or "password" in str(problem) or "key" in str(problem)


def test_secret_refusal_wins_over_invalid_input() -> None:
    data = inventory(version=7)
    data["source"] = {**data["source"], "key": AZURE_KEY}
    error = _refused(data)
    one(error, "unsupported version")


def test_key_env_names_are_not_secrets() -> None:
    data = inventory()
    data["source"] = {**data["source"], "key_env": "HDH_AZURE_KEY"}
    data["target"] = {
        **data["target"],
        "access_key_env": "HDH_S3_ID",
        "secret_key_env": "HDH_S3_SECRET",
    }
    assert plan_of(data).inventory.target.secret_key_env == "HDH_S3_SECRET"


def test_endpoint_allowlist() -> None:
    data = inventory()
    data["policy"] = {**data["policy"], "allowed_endpoints": ["*.outscale.com", "s3.example.fr"]}
    one(_refused(data), "matches none of policy.allowed_endpoints")
    data["policy"]["allowed_endpoints"] = ["127.0.0.1"]
    plan_of(data)


def test_require_qualified_refuses_unqualified_presets_and_regions() -> None:
    data = inventory(target={"provider": "s3", "preset": "scaleway", "region": "fr-par"})
    data["policy"] = {"require_qualified": True}
    one(_refused(data), "not known to be SecNumCloud-qualified")
    data = inventory(target={"provider": "s3", "preset": "outscale", "region": "eu-west-2"})
    data["policy"] = {"require_qualified": True}
    one(_refused(data), "qualified only in cloudgouv-eu-west-1")
    data = inventory(
        target={"provider": "s3", "preset": "outscale", "region": "cloudgouv-eu-west-1"}
    )
    data["policy"] = {"require_qualified": True, "allowed_regions": ["cloudgouv-eu-west-1"]}
    assert plan_of(data).inventory.target.preset == "outscale"
