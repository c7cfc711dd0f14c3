"""Inventory bytes -> validated ``Inventory``, or every problem as ``file:line: message``.

Order: YAML syntax, inline secrets, ``${VAR}`` interpolation, schema, checks across services,
then (only on a valid inventory) safety policy. Inline secrets and policy findings are
refusals (exit 3); everything else is invalid input (exit 2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from migrate.config import Inventory
from migrate.errors import InventoryError, PolicyViolation, Problem
from migrate.inventory import checks, policy
from migrate.inventory.collector import paused_collector
from migrate.inventory.interpolate import (
    INTERPOLATED_FIELDS,
    TOP_LEVEL_INTERPOLATED,
    MissingVariable,
    interpolate,
)
from migrate.inventory.secrets import find_inline_secrets, may_hold_secrets
from migrate.inventory.translate import translate_validation_error
from migrate.inventory.yamlsrc import LineIndex, Path, YamlDocument, load_yaml
from migrate.providers import target_provider

MAX_INVENTORY_BYTES = 10 * 1024 * 1024
"""An inventory larger than this is refused before it is parsed (about 70,000 services)."""
MAX_SERVICES = 20_000
"""More services are refused before validation, so that any inventory accepted plans in under
10 s and 300 MiB. Measured (bench/plan_scale.py, two cores): 20,000 services plan in about
5 s and 240 MiB, and 280 MiB when their hooks fill the file to 10 MiB; 25,000 took 337 MiB."""
MAX_MESSAGE = 1000
"""No problem's message is longer (values are echoed cut; this catches any that is not)."""


@dataclass(frozen=True)
class LoadedInventory:
    inventory: Inventory
    path: str
    sha256: str
    warnings: tuple[str, ...] = field(default=())


@dataclass
class _Findings:
    filename: str
    lines: LineIndex
    data: Any
    invalid: list[Problem] = field(default_factory=list)
    refused: list[Problem] = field(default_factory=list)

    def add(self, bucket: list[Problem], findings: Iterable[tuple[Path, str]]) -> None:
        for path, message in findings:
            text = _where(path, self.data) + message
            if len(text) > MAX_MESSAGE:  # a hostile value echoed by a check: cut it
                text = f"{text[: MAX_MESSAGE - 40]}... ({len(text):,} characters)"
            bucket.append(Problem(self.filename, self.lines.line_of(path), text))


def load_inventory(
    raw: bytes, filename: str, env: Mapping[str, str], *, insecure: bool = False
) -> LoadedInventory:
    """Validate an inventory file's bytes. Raises InventoryError or PolicyViolation."""
    _check_size(raw, filename)
    with paused_collector():
        return _load(raw, filename, env, insecure)


def _load(raw: bytes, filename: str, env: Mapping[str, str], insecure: bool) -> LoadedInventory:
    sha256 = hashlib.sha256(raw).hexdigest()
    text = _decode(raw, filename)
    document = load_yaml(text, filename)
    if document.problems and document.data is None:
        what = "not a valid inventory" if document.refused else "not valid YAML"
        raise InventoryError(f"{filename} is {what}", document.problems)
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else "not a mapping of inventory fields"
        raise InventoryError(
            f"{filename} is {what}", [Problem(filename, 1, f"the inventory is {what}")]
        )
    _check_services(document, filename)
    found = _Findings(filename, document.lines, document.data, invalid=list(document.problems))
    secret_paths = _scan_secrets(found, document)
    data = _interpolated(found, env)
    inventory = _validate(found, data, secret_paths)
    found.add(found.invalid, checks.raw_checks(data))
    if inventory is not None and not found.invalid:
        found.add(found.invalid, checks.model_checks(inventory))
    if secret_paths:
        raise PolicyViolation(
            f"{filename} is refused by policy", sorted(found.refused + found.invalid)
        )
    if found.invalid or inventory is None:
        raise InventoryError(f"{filename} is not a valid inventory", sorted(found.invalid))
    found.add(found.refused, policy.policy_findings(inventory, insecure))
    if found.refused:
        raise PolicyViolation(f"{filename} is refused by policy", sorted(found.refused))
    return LoadedInventory(inventory, filename, sha256, tuple(_warnings(inventory, insecure)))


def _check_size(raw: bytes, filename: str) -> None:
    if len(raw) > MAX_INVENTORY_BYTES:
        raise InventoryError(
            f"{filename} is too large to be an inventory",
            [
                Problem(
                    filename,
                    None,
                    f"the file is {len(raw):,} bytes; an inventory may be at most "
                    f"{MAX_INVENTORY_BYTES // 1024 // 1024} MiB ({MAX_INVENTORY_BYTES:,} bytes)",
                )
            ],
        )


def _check_services(document: YamlDocument, filename: str) -> None:
    services = document.data.get("services")
    if isinstance(services, list) and len(services) > MAX_SERVICES:
        raise InventoryError(
            f"{filename} lists too many services",
            [
                Problem(
                    filename,
                    document.lines.line_of(("services",)),
                    f"services: {len(services):,} services; an inventory may list at most "
                    f"{MAX_SERVICES:,} (split the platform into several inventories)",
                )
            ],
        )


def _decode(raw: bytes, filename: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InventoryError(
            f"{filename} is not UTF-8 text", [Problem(filename, line, "the file is not UTF-8 text")]
        ) from None


def _scan_secrets(found: _Findings, document: YamlDocument) -> set[Path]:
    if document.scalars is not None and not may_hold_secrets(document.scalars, document.keys):
        return set()
    secrets = list(find_inline_secrets(found.data))
    found.add(
        found.refused,
        (
            (
                path,
                f"{what}: secrets are never written in the inventory; name an environment "
                "variable (key_env, access_key_env, secret_key_env) instead",
            )
            for path, what in secrets
        ),
    )
    return {path for path, _ in secrets}


def _interpolated(found: _Findings, env: Mapping[str, str]) -> dict[str, Any]:
    """The document with ``${VAR}`` replaced; the blocks it changes are copies (the original
    document stays as written: its lines and secret findings refer to it)."""
    data: dict[str, Any] = dict(found.data)
    copies: dict[int, dict[str, Any]] = {}  # one copy of a block aliased by both sections
    for section, key in INTERPOLATED_FIELDS:
        block = data.get(section)
        if not isinstance(block, dict) or not isinstance(block.get(key), str):
            continue
        if id(block) not in copies:
            copied = dict(block)
            copies[id(block)] = copies[id(copied)] = copied
        block = data[section] = copies[id(block)]
        try:
            block[key] = interpolate(block[key], env)
        except MissingVariable as missing:
            found.add(
                found.invalid,
                [((section, key), f"environment variable '{missing.name}' is not set")],
            )
            block[key] = None
    for key in TOP_LEVEL_INTERPOLATED:
        if isinstance(data.get(key), str):
            try:
                data[key] = interpolate(data[key], env)
            except MissingVariable as missing:
                found.add(
                    found.invalid, [((key,), f"environment variable '{missing.name}' is not set")]
                )
                data[key] = None
    return data


def _validate(found: _Findings, data: dict[str, Any], secret_paths: set[Path]) -> Inventory | None:
    try:
        return Inventory.model_validate(data)
    except ValidationError as exc:
        for path, message in translate_validation_error(exc, data):
            if path in secret_paths:
                continue
            found.add(found.invalid, [(path, message)])
        return None


def _where(path: Path, data: Any) -> str:
    """Name the place of a finding: ``service 'snds-extracts': data.bucket: ``."""
    if len(path) >= 2 and path[0] == "services" and isinstance(path[1], int):
        services = data.get("services") if isinstance(data, dict) else None
        entry = (
            services[path[1]] if isinstance(services, list) and path[1] < len(services) else None
        )
        name = entry.get("name") if isinstance(entry, dict) else None
        named = isinstance(name, str) and len(name) <= 80  # a longer name is refused anyway
        head = f"service '{name}'" if named else f"services[{path[1]}]"
        rest = _dotted(path[2:])
        return f"{head}: {rest}: " if rest else f"{head}: "
    dotted = _dotted(path)
    return f"{dotted}: " if dotted else ""


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _warnings(inventory: Inventory, insecure: bool) -> list[str]:
    warnings: list[str] = []
    network = target_provider(inventory.target.provider).network
    if network and inventory.policy.allowed_regions is None:
        warnings.append("policy.allowed_regions is not set: the target location is not checked")
    if insecure:
        warnings.append("--insecure: plain-http endpoints outside loopback are accepted")
    for service in inventory.services:
        bucket = inventory.bucket_of(service)
        if bucket and "." in bucket:
            warnings.append(
                f"service '{service.name}': bucket '{bucket}' has dots; TLS with "
                "virtual-hosted addressing fails on such names (path style is used)"
            )
    return warnings
