"""Safety and compliance policy over a validated inventory: refusals are exit 3."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterator
from urllib.parse import urlsplit

from migrate.config import Inventory
from migrate.inventory.yamlsrc import Path
from migrate.presets import PRESETS
from migrate.providers import target_provider

Finding = tuple[Path, str]


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolved_target_endpoint(inventory: Inventory) -> str | None:
    """The explicit target endpoint, or the one the preset derives from the region."""
    target = inventory.target
    if not target_provider(target.provider).network:
        return None
    return target.endpoint or PRESETS[target.preset].endpoint_for(target.region)


def endpoint_findings(inventory: Inventory, insecure: bool) -> Iterator[Finding]:
    """Plain http is accepted only for loopback emulators, unless ``insecure``."""
    endpoints: list[tuple[Path, str | None]] = [
        (("source", "endpoint"), inventory.source.endpoint),
        (("target", "endpoint"), resolved_target_endpoint(inventory)),
    ]
    for path, url in endpoints:
        if url is None:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue  # reported as invalid input by the semantic checks
        if parts.scheme == "http" and not is_loopback_host(parts.hostname) and not insecure:
            yield (
                path,
                (
                    f"plain-http endpoint '{url}' is refused: only loopback emulators may use "
                    "http; use https, or --insecure (recorded in the audit log)"
                ),
            )


def policy_findings(inventory: Inventory, insecure: bool) -> Iterator[Finding]:
    yield from endpoint_findings(inventory, insecure)
    yield from _allowlist_findings(inventory)
    yield from _qualification_findings(inventory)
    yield from _region_findings(inventory)
    yield from _encryption_findings(inventory)
    yield from _bucket_sharing_findings(inventory)


def _region_findings(inventory: Inventory) -> Iterator[Finding]:
    allowed = inventory.policy.allowed_regions
    region = inventory.target.region
    if not target_provider(inventory.target.provider).network or allowed is None or not region:
        return
    if region not in allowed:
        yield (
            ("target", "region"),
            (
                f"target region '{region}' is not in policy.allowed_regions "
                f"({', '.join(allowed) or 'empty'})"
            ),
        )


def _encryption_findings(inventory: Inventory) -> Iterator[Finding]:
    if inventory.policy.require_encryption and inventory.target.encryption == "none":
        yield (
            ("target", "encryption"),
            ("encryption 'none' is refused while policy.require_encryption is true"),
        )


def _bucket_sharing_findings(inventory: Inventory) -> Iterator[Finding]:
    owners: dict[str, tuple[int, str, str | None]] = {}
    for index, service in enumerate(inventory.services):
        bucket = inventory.bucket_of(service)
        if bucket is None:
            continue
        if bucket not in owners:
            owners[bucket] = (index, service.name, service.project)
            continue
        _, other, other_project = owners[bucket]
        where = ("services", index, "data")
        if other_project != service.project:
            yield (
                where,
                (
                    f"bucket '{bucket}' would be shared by '{other}' (project "
                    f"{other_project or 'none'}) and '{service.name}' (project "
                    f"{service.project or 'none'}): projects never share a bucket"
                ),
            )
        else:
            yield (
                where,
                f"bucket '{bucket}' is also the target of '{other}': one bucket per service",
            )


def _allowlist_findings(inventory: Inventory) -> Iterator[Finding]:
    patterns = inventory.policy.allowed_endpoints
    url = resolved_target_endpoint(inventory)
    if patterns is None or url is None:
        return
    host = (urlsplit(url).hostname or "").lower()
    if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in patterns):
        yield (
            ("target", "endpoint"),
            (
                f"target endpoint host '{host}' matches none of policy.allowed_endpoints "
                f"({', '.join(patterns)})"
            ),
        )


def _qualification_findings(inventory: Inventory) -> Iterator[Finding]:
    target = inventory.target
    if not inventory.policy.require_qualified or not target_provider(target.provider).network:
        return
    preset = PRESETS[target.preset]
    regions = preset.qualified_regions
    if not preset.qualified:
        yield (
            ("target", "preset"),
            (
                f"preset '{preset.name}' is not known to be SecNumCloud-qualified and "
                "policy.require_qualified is true"
            ),
        )
    elif regions is not None and target.region not in regions:
        yield (
            ("target", "region"),
            (
                f"preset '{preset.name}' is qualified only in {', '.join(sorted(regions))}, not in "
                f"'{target.region}' (policy.require_qualified)"
            ),
        )
    yield from _provider_host_findings(inventory)


def _provider_host_findings(inventory: Inventory) -> Iterator[Finding]:
    """A qualified preset is only as good as the host the data really goes to: an explicit
    endpoint must be one of the preset provider's hosts (where the preset knows them)."""
    preset = PRESETS[inventory.target.preset]
    url = resolved_target_endpoint(inventory)
    if not preset.qualified or not preset.endpoint_hosts or url is None:
        return
    host = (urlsplit(url).hostname or "").lower()
    if is_loopback_host(host):
        return  # an emulator on this machine, for rehearsals
    if not any(fnmatch.fnmatchcase(host, pattern) for pattern in preset.endpoint_hosts):
        yield (
            ("target", "endpoint"),
            (
                f"target endpoint host '{host}' is not a host of preset '{preset.name}' "
                f"({', '.join(preset.endpoint_hosts)}): policy.require_qualified asks that the "
                "data go to the qualified provider itself"
            ),
        )
