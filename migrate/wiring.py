"""Build the adapters from the inventory and the environment: the only place secrets are
read. Used by the command line and by the dask workers, which build their own clients from the
inventory (it names environment variables, never holds a secret) and their own environment."""

from __future__ import annotations

import base64
import binascii
import stat
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.config import Inventory, SourceConfig
from migrate.endpoints import parse_endpoint
from migrate.errors import InvalidInput, RefusedForSafety
from migrate.inventory.policy import resolved_target_endpoint
from migrate.ports import SourceStore, TargetCapabilities, TargetStore
from migrate.presets import PRESETS
from migrate.providers import target_provider
from migrate.redact import redactor

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters.s3 import S3Settings
    from migrate.databases import DatabaseConnector, DatabasePair, DatabaseSurvey
    from migrate.model import PlannedDatabase


def _secret(env: Mapping[str, str], name: str, field: str) -> str:
    value = env.get(name)
    if not value:
        raise InvalidInput(
            f"environment variable {name} (named by {field} in the inventory) is not set: "
            "secrets come only from the environment or the inventory's credentials_file"
        )
    redactor.register(value)
    return value


def secrets_environment(inventory: Inventory, env: Mapping[str, str]) -> dict[str, str]:
    """The environment, completed by the inventory's credentials file (mode 0600 only)."""
    return credentials_environment(inventory.credentials_file, env)


def credentials_environment(path: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """The environment, completed by the credentials file ``path`` (mode 0600 only)."""
    merged = dict(env)
    if path is None:
        return merged
    file = Path(path)
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        raise InvalidInput(f"credentials_file {file}: cannot be read ({exc.strerror})") from None
    if stat.S_IMODE(mode) & 0o077:
        raise RefusedForSafety(
            f"credentials_file {file} has mode {stat.S_IMODE(mode):04o}: other users could "
            f"read it; chmod 600 {file}"
        )
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, value = text.partition("=")
        if not sep or not name.strip().isidentifier():
            raise InvalidInput(f"{file}:{number}: expected NAME=value")
        merged.setdefault(name.strip(), value.strip().strip("'\""))
    return merged


DATABASE_ENGINES = {"postgresql": "adapters.postgres"}
"""Engine -> the adapter module that connects a service's pair (its ``connect_pair``)."""


def database_connector(env: Mapping[str, str]) -> DatabaseConnector:
    """Connect a database service's source and target, from the variables the plan names."""
    import importlib

    from migrate.redact import register_url_password

    def connect(service: str, settings: PlannedDatabase) -> DatabasePair:
        urls = []
        for side in ("source", "target"):
            name = getattr(settings, f"{side}_url_env")
            url = _secret(env, name, f"services.{service}.database.{side}_url_env")
            register_url_password(url)
            urls.append(url)
        module = importlib.import_module(DATABASE_ENGINES[settings.engine])
        pair: DatabasePair = module.connect_pair(service, urls[0], urls[1])
        return pair

    return connect


def database_surveyor(
    env: Mapping[str, str], engine: str = "postgresql"
) -> Callable[[str, str], DatabaseSurvey]:
    """``migrate discover``: (variable holding a source database's URL, what to call it in
    messages) -> the database's figures, read in a read-only session."""
    import importlib

    from migrate.redact import register_url_password

    module = importlib.import_module(DATABASE_ENGINES[engine])

    def survey(url_env: str, what: str) -> DatabaseSurvey:
        url = _secret(env, url_env, f"{what}: url_env")
        register_url_password(url)
        found: DatabaseSurvey = module.survey(url, what)
        return found

    return survey


def _required(value: str | None, field: str) -> str:
    if not value:
        raise InvalidInput(f"the inventory gives no {field}")
    return value


def build_source(inventory: Inventory, env: Mapping[str, str]) -> SourceStore:
    return build_source_from(inventory.source, env)


def build_source_from(source: SourceConfig, env: Mapping[str, str]) -> SourceStore:
    """The source adapter of a ``source`` section (an inventory's, or SOURCE.yaml's)."""
    return _SOURCE_BUILDERS[source.provider](source, env)


def _local_source(source: SourceConfig, env: Mapping[str, str]) -> SourceStore:
    from adapters.local import LocalSource

    return LocalSource(Path(_required(source.path, "source.path")))


def _azure_source(source: SourceConfig, env: Mapping[str, str]) -> SourceStore:
    from adapters.azure import AzureSource

    return AzureSource(
        _required(source.account, "source.account"),
        _account_key(env, source.key_env),
        _rebuilt_endpoint(source.endpoint),
    )


def _account_key(env: Mapping[str, str], name: str) -> str:
    """The Azure account key: base64 (bad input otherwise, exit 2, before any request)."""
    key = _secret(env, name, "source.key_env")
    try:
        base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{name} (named by source.key_env) is not base64: an Azure account key is the "
            "base64 string the portal shows under Access keys"
        ) from None
    return key


def _rebuilt_endpoint(url: str | None) -> str | None:
    """What is checked is what is used: the URL rebuilt from its checked parts."""
    return None if url is None else parse_endpoint(url).url


def target_capabilities(inventory: Inventory) -> TargetCapabilities:
    target = inventory.target
    return target_provider(target.provider).capabilities(target.preset)


def build_target(inventory: Inventory, env: Mapping[str, str], workers: int) -> TargetStore:
    return _TARGET_BUILDERS[inventory.target.provider](inventory, env, workers)


def _local_target(inventory: Inventory, env: Mapping[str, str], workers: int) -> TargetStore:
    from adapters.local import LocalTarget

    return LocalTarget(Path(_required(inventory.target.path, "target.path")))


def _s3_target(inventory: Inventory, env: Mapping[str, str], workers: int) -> TargetStore:
    from adapters.s3 import S3Target

    target = inventory.target

    capabilities = target_capabilities(inventory)
    default = S3Target(s3_settings(inventory, env, workers), capabilities)
    if not target.projects:
        return default
    from adapters.routing import ProjectRoutedTarget

    by_project: dict[str, TargetStore] = {}
    for project, keys in target.projects.items():
        settings = replace(
            s3_settings(inventory, env, workers),
            access_key=_secret(env, keys.access_key_env, f"target.projects.{project}"),
            secret_key=_secret(env, keys.secret_key_env, f"target.projects.{project}"),
        )
        by_project[project] = S3Target(settings, capabilities)
    by_bucket = {
        bucket: by_project[service.project]
        for service in inventory.services
        if service.project in by_project and (bucket := inventory.bucket_of(service)) is not None
    }
    return ProjectRoutedTarget(default, by_bucket)


def s3_settings(inventory: Inventory, env: Mapping[str, str], workers: int) -> S3Settings:
    from adapters.s3 import S3Settings

    target = inventory.target
    path_style = (
        target.addressing == "path" if target.addressing else PRESETS[target.preset].path_style
    )
    return S3Settings(
        endpoint=_rebuilt_endpoint(resolved_target_endpoint(inventory)),
        region=_required(target.region, "target.region"),
        access_key=_secret(env, target.access_key_env, "target.access_key_env"),
        secret_key=_secret(env, target.secret_key_env, "target.secret_key_env"),
        path_style=path_style,
        ca_bundle=target.ca_bundle,
        # the copies, the parts in flight and a verify step's HEADs: a request beyond the pool
        # opens a connection that is then closed (a TLS handshake each) with a warning
        max_connections=2 * workers + 4,
        sse_c_key=customer_key(inventory, env),
    )


def customer_key(inventory: Inventory, env: Mapping[str, str]) -> bytes | None:
    """The SSE-C key: base64 of 32 bytes, from the variable the inventory names."""
    name = inventory.target.sse_c_key_env
    if inventory.target.encryption != "SSE-C" or name is None:
        return None
    encoded = _secret(env, name, "target.sse_c_key_env")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{name} is not base64 (it must hold a 256-bit SSE-C key)") from None
    if len(key) != 32:
        raise InvalidInput(f"{name} holds {len(key)} bytes; an SSE-C key has 32")
    return key


# One builder per provider name of migrate.providers (the adapters are imported lazily).
_SOURCE_BUILDERS = {"azure": _azure_source, "local": _local_source}
_TARGET_BUILDERS = {"s3": _s3_target, "local": _local_target}
