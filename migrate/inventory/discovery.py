"""SOURCE.yaml, the input of ``migrate discover``: the head of an inventory (``version``,
``name``, ``source``, optionally ``target``, ``policy`` and ``credentials_file``) and the
PostgreSQL databases to look at (``databases: [{name, url_env}]``).

It is read exactly as an inventory is (``loader``): bounded size, UTF-8, the event reader
with its lines and duplicate keys, inline secrets refused, ``${VAR}`` interpolation, the same
models; every problem is reported as ``file:line: message``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from migrate.config import EnvName, PolicyConfig, SourceConfig, TargetConfig
from migrate.errors import InventoryError, PolicyViolation, Problem
from migrate.inventory.checks import endpoint_refusal

# The inventory loader's own steps, shared so that both files are read the same way.
from migrate.inventory.loader import _check_size, _decode, _Findings, _interpolated, _scan_secrets
from migrate.inventory.policy import is_loopback_host
from migrate.inventory.translate import translate_validation_error
from migrate.inventory.yamlsrc import LineIndex, Path, load_yaml

MAX_DATABASES = 1000
HEAD_FIELDS = ("version", "name", "source", "target", "policy", "credentials_file")
"""What the written inventory keeps of SOURCE.yaml, as written there."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSpec(_Frozen):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    """What the database is called; its service's name is derived from it."""
    url_env: EnvName
    """The variable holding the source database's libpq URL (never the URL itself)."""


class DiscoverySource(_Frozen):
    version: Literal[1]
    name: str
    source: SourceConfig
    target: TargetConfig | None = None
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    credentials_file: str | None = None
    databases: Annotated[list[DatabaseSpec], Field(max_length=MAX_DATABASES)] = Field(
        default_factory=list
    )


@dataclass(frozen=True)
class LoadedSource:
    spec: DiscoverySource
    path: str
    written: dict[str, Any]
    """The document as written (``${VAR}`` not replaced): what the inventory keeps of it."""
    lines: LineIndex

    def problem(self, path: Path, message: str) -> Problem:
        """A problem at ``path`` of the file, with its line."""
        return Problem(self.path, self.lines.line_of(path), message)

    def head(self) -> dict[str, Any]:
        """The fields the written inventory keeps, in the order an inventory has them."""
        return {key: self.written[key] for key in HEAD_FIELDS if key in self.written}


def load_discovery_source(
    raw: bytes, filename: str, env: Mapping[str, str], *, insecure: bool = False
) -> LoadedSource:
    """Validate SOURCE.yaml's bytes. Raises InventoryError (exit 2) or PolicyViolation (3)."""
    _check_size(raw, filename)
    document = load_yaml(_decode(raw, filename), filename)
    if document.problems and document.data is None:
        what = "not a valid source description" if document.refused else "not valid YAML"
        raise InventoryError(f"{filename} is {what}", document.problems)
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else "not a mapping of fields"
        raise InventoryError(f"{filename} is {what}", [Problem(filename, 1, f"the file is {what}")])
    found = _Findings(filename, document.lines, document.data, invalid=list(document.problems))
    secret_paths = _scan_secrets(found, document)
    data = _interpolated(found, env)
    if "services" in data:
        data.pop("services")
        found.add(
            found.invalid,
            [
                (
                    ("services",),
                    "migrate discover writes the services itself: give only "
                    "version, name, source, target, policy, credentials_file and databases",
                )
            ],
        )
    spec = _validate(found, data, secret_paths)
    found.add(found.invalid, _endpoint_form(data))
    if secret_paths:
        raise PolicyViolation(
            f"{filename} is refused by policy", sorted(found.refused + found.invalid)
        )
    if found.invalid or spec is None:
        raise InventoryError(f"{filename} is not a valid source description", sorted(found.invalid))
    found.add(found.refused, _plain_http(spec, insecure))
    if found.refused:
        raise PolicyViolation(f"{filename} is refused by policy", sorted(found.refused))
    return LoadedSource(spec, filename, document.data, document.lines)


def _validate(
    found: _Findings, data: dict[str, Any], secret_paths: set[Path]
) -> DiscoverySource | None:
    try:
        spec = DiscoverySource.model_validate(data)
    except ValidationError as exc:
        for path, message in translate_validation_error(exc, data):
            if path not in secret_paths:
                found.add(found.invalid, [(path, message)])
        return None
    seen: dict[str, int] = {}
    for index, database in enumerate(spec.databases):
        if database.name in seen:
            found.add(
                found.invalid,
                [
                    (
                        ("databases", index, "name"),
                        f"database '{database.name}' is listed twice "
                        f"(also databases[{seen[database.name]}])",
                    )
                ],
            )
        seen.setdefault(database.name, index)
    return spec


def _endpoint_form(data: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    for side in ("source", "target"):
        block = data.get(side)
        url = block.get("endpoint") if isinstance(block, dict) else None
        problem = endpoint_refusal(url) if isinstance(url, str) else None
        if problem is not None:
            yield (side, "endpoint"), problem


def _plain_http(spec: DiscoverySource, insecure: bool) -> Iterator[tuple[Path, str]]:
    """Discovery reads the source: its endpoint is held to the inventory's rule (plain http
    for loopback emulators only, unless ``--insecure``). The target is checked by ``plan``."""
    url = spec.source.endpoint
    if url is None or insecure:
        return
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        yield (
            ("source", "endpoint"),
            f"plain-http endpoint '{url}' is refused: only loopback emulators may use http; "
            "use https, or --insecure",
        )
