"""Checks that span services: names, dependencies, containers and buckets.

They run on the raw document so that they still report when some service failed schema
validation (every problem is reported, not only the first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migrate.audit import HMAC_KEY_ENV
from migrate.config import Inventory
from migrate.databases import dump_overrun
from migrate.endpoints import EndpointRefused, parse_endpoint, shown
from migrate.inventory.yamlsrc import Path
from migrate.naming import azure_container_problem, bucket_problem, derive_bucket
from migrate.presets import PRESETS
from migrate.providers import SOURCES, target_provider
from migrate.suggest import did_you_mean

SUGGESTIONS = 20

Finding = tuple[Path, str]


def raw_checks(data: dict[str, Any]) -> Iterator[Finding]:
    services = data.get("services")
    if not isinstance(services, list):
        return
    entries = [(i, s) for i, s in enumerate(services) if isinstance(s, dict)]
    names = _names(entries)
    yield from _duplicate_names(entries)
    yield from _dependency_findings(entries, names)
    yield from _container_findings(data, entries)
    yield from _bucket_findings(data, entries)


def _names(entries: list[tuple[int, dict[str, Any]]]) -> set[str]:
    return {s["name"] for _, s in entries if isinstance(s.get("name"), str)}


def _duplicate_names(entries: list[tuple[int, dict[str, Any]]]) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, service in entries:
        name = service.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            yield (
                ("services", index, "name"),
                f"duplicate service name '{name}' (also services[{first[name]}])",
            )
        else:
            first[name] = index


def _dependency_findings(
    entries: list[tuple[int, dict[str, Any]]], names: set[str]
) -> Iterator[Finding]:
    unknown = 0
    for index, service in entries:
        deps = service.get("depends_on")
        if not isinstance(deps, list):
            continue
        seen: set[str] = set()
        for position, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            where = ("services", index, "depends_on", position)
            if dep == service.get("name"):
                yield where, f"depends on itself ('{dep}')"
            elif dep not in names:
                unknown += 1  # a suggestion costs a scan of every name: the first ones only
                hint = did_you_mean(dep, names) if unknown <= SUGGESTIONS else ""
                yield where, f"depends on unknown service '{dep}'{hint}"
            elif dep in seen:
                yield where, f"lists dependency '{dep}' twice"
            seen.add(dep)


def _container_findings(
    data: dict[str, Any], entries: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    source = data.get("source")
    name = source.get("provider") if isinstance(source, dict) else None
    provider = SOURCES.get(name) if isinstance(name, str) else None  # never str() of a list
    if provider is None or not provider.azure_container_names:
        return
    for index, container in _containers(entries):
        problem = azure_container_problem(container)
        if problem:
            yield ("services", index, "data", "container"), problem


def _bucket_findings(
    data: dict[str, Any], entries: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    target = data.get("target")
    prefix = target.get("bucket_prefix", "") if isinstance(target, dict) else ""
    if not isinstance(prefix, str):
        return
    for index, service in entries:
        spec = service.get("data")
        if not isinstance(spec, dict):
            continue
        explicit = spec.get("bucket")
        if isinstance(explicit, str):
            problem = bucket_problem(explicit)
            if problem:
                yield ("services", index, "data", "bucket"), problem
        elif explicit is None and isinstance(spec.get("container"), str):
            derived = derive_bucket(spec["container"], prefix)
            problem = bucket_problem(derived)
            if problem:
                yield (
                    ("services", index, "data", "container"),
                    f"{problem}; it is derived from the container: set data.bucket",
                )


def _containers(entries: list[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, str]]:
    for index, service in entries:
        spec = service.get("data")
        if isinstance(spec, dict) and isinstance(spec.get("container"), str):
            yield index, spec["container"]


def model_checks(inventory: Inventory) -> Iterator[Finding]:
    """Checks on the validated inventory that are about correctness, not policy."""
    yield from _endpoint_form(inventory)
    yield from _preset_findings(inventory)
    yield from _hooks_env_findings(inventory)
    yield from _dump_findings(inventory)


def endpoint_refusal(url: str) -> str | None:
    """Why an endpoint is not one absolute URL of the contract's form (None: it is)."""
    try:
        parse_endpoint(url)
    except EndpointRefused as refused:
        return (
            f"endpoint {shown(url)!r} is refused: {refused}; give one absolute URL such as "
            "https://host:443"
        )
    return None


def _endpoint_form(inventory: Inventory) -> Iterator[Finding]:
    for side, url in (("source", inventory.source.endpoint), ("target", inventory.target.endpoint)):
        problem = endpoint_refusal(url) if url is not None else None
        if problem is not None:
            yield (side, "endpoint"), problem


def _preset_findings(inventory: Inventory) -> Iterator[Finding]:
    target = inventory.target
    if not target_provider(target.provider).network:
        if target.encryption != "none":
            yield (
                ("target", "encryption"),
                (
                    f"a {target.provider} target writes plain files and cannot encrypt at rest: "
                    f"'{target.encryption}' would be claimed, never applied; set encryption: none "
                    "(with policy.require_encryption: false), or use an S3 target"
                ),
            )
        return
    preset = PRESETS[target.preset]
    if target.endpoint is None and preset.endpoint_template is None:
        yield ("target", "endpoint"), f"preset '{preset.name}' needs an explicit 'endpoint'"
    elif (
        target.endpoint is None
        and preset.regions is not None
        and target.region not in preset.regions
    ):
        yield (
            ("target", "region"),
            (
                f"region '{target.region}' is unknown to preset '{preset.name}' "
                f"({', '.join(sorted(preset.regions))}); "
                "give an explicit 'endpoint' or fix the region"
            ),
        )
    if target.encryption != "none" and target.encryption not in preset.encryption_modes:
        yield (
            ("target", "encryption"),
            (
                f"preset '{preset.name}' does not offer encryption '{target.encryption}' "
                f"({', '.join(sorted(preset.encryption_modes))})"
            ),
        )


def _hooks_env_findings(inventory: Inventory) -> Iterator[Finding]:
    """``hooks_env`` may not name the tool's own secrets: a hook never gets them."""
    secrets = {name: field for field, name in inventory.secret_variables().items()}
    lists: list[tuple[Path, list[str]]] = [(("policy", "hooks_env"), inventory.policy.hooks_env)]
    lists += [
        (("services", index, "hooks_env"), service.hooks_env)
        for index, service in enumerate(inventory.services)
    ]
    for where, names in lists:
        for position, name in enumerate(names):
            if name in secrets:
                why = f"it holds a secret of the tool (named by {secrets[name]})"
            elif name == HMAC_KEY_ENV:
                why = "it holds the audit log's signing key"
            elif name.startswith("MIGRATE_"):
                why = (
                    "MIGRATE_ is the tool's own namespace (the audit key, the dashboard token, "
                    "the state URL); hooks get MIGRATE_SERVICE, _STEP, _WAVE, _RUN and "
                    "_STATE_URL (without its password) anyway"
                )
            else:
                continue
            yield (
                (*where, position),
                f"'{name}' cannot be passed to hooks: {why}. A hook gets only what it needs: "
                "take it out of hooks_env and give the hook its own credentials",
            )


def _dump_findings(inventory: Inventory) -> Iterator[Finding]:
    """``method: dump`` copies the rows during the freeze: refused where the plan's estimate
    cannot fit ``max_downtime``."""
    for index, service in enumerate(inventory.services):
        config = service.database
        if config is None or config.method != "dump":
            continue
        late = dump_overrun(config.size_estimate, config.dump_rate, service.max_downtime)
        if late:
            yield (
                ("services", index, "database", "method"),
                f"{late}. Use method logical (or auto), raise max_downtime, or "
                "rehearse and set database.dump_rate to the rate the sync step measured",
            )
