"""The two sides of the migration as the plan records them: provider, the endpoint rebuilt
from its checked parts, region, encryption and the provider's declared optional features."""

from __future__ import annotations

from migrate.config import Inventory
from migrate.endpoints import parse_endpoint
from migrate.inventory.policy import resolved_target_endpoint
from migrate.model import PlannedEndpoint, PlannedTarget
from migrate.providers import target_provider


def _rebuilt(url: str | None) -> tuple[str | None, str | None]:
    if url is None:
        return None, None
    endpoint = parse_endpoint(url)  # the inventory checks refused anything else
    return endpoint.url, endpoint.host


def planned_source(inventory: Inventory) -> PlannedEndpoint:
    source = inventory.source
    url, host = _rebuilt(source.endpoint)
    return PlannedEndpoint(
        provider=source.provider, endpoint=url, host=host, account=source.account, path=source.path
    )


FEATURE_NAMES = {
    "bucket_tagging": "bucket tagging (buckets will not be tagged)",
    "bucket_encryption": "bucket default encryption (each object still carries its own)",
}


def feature_warnings(target: PlannedTarget) -> list[str]:
    """A warning per optional feature that apply would use and the provider declares absent
    (versioning is declared for the probe's report, apply does not use it)."""
    network = target_provider(target.provider).network
    which = f"preset '{target.preset}'" if network else f"provider '{target.provider}'"
    return [
        f"target {which} has no {FEATURE_NAMES[name]}"
        for name, present in target.features.items()
        if present is False and name in FEATURE_NAMES
    ]


def planned_target(inventory: Inventory) -> PlannedTarget:
    target = inventory.target
    url, host = _rebuilt(resolved_target_endpoint(inventory))
    provider = target_provider(target.provider)
    return PlannedTarget(
        provider=target.provider,
        endpoint=url,
        host=host,
        path=target.path,
        preset=target.preset,
        region=target.region,
        encryption=target.encryption,
        kms_key_id=target.kms_key_id,
        features=provider.features(target.preset).as_dict(),
    )
