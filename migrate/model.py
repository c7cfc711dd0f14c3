"""The saved plan: data that ``migrate plan`` writes and ``migrate apply`` executes as is.

Pydantic models, frozen, so that the plan file is validated when read back and serialised
deterministically (the same inventory gives the same bytes apart from ``created_at``).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from migrate.filters import KeyFilter

FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PlannedWave(_Frozen):
    index: Annotated[int, Field(ge=1)]
    services: list[str]
    """In execution order: a dependency stands before its dependents."""
    estimated_bytes: Annotated[int, Field(ge=0)]
    estimated_seconds: Annotated[int, Field(ge=0)]
    estimated_objects: int | None = None
    pilot: bool = False
    alone: bool = False
    """True when one unit alone exceeds the per-wave limits and so stands alone."""


class PlannedUnit(_Frozen):
    services: list[str]
    reason: Literal["cycle"]


class PlannedDatabase(_Frozen):
    """A database service's settings: the variables holding its URLs, never the URLs."""

    engine: Literal["postgresql"] = "postgresql"
    source_url_env: str
    target_url_env: str
    method: Literal["logical", "dump", "auto"] = "auto"
    schemas: list[str] = Field(default_factory=list)
    """Empty: every schema that is not the system's."""
    size_estimate: int | None = None
    dump_rate: int | None = None
    """Bytes per second of a dump and restore measured in a rehearsal (None: assumed)."""
    dump_seconds_estimate: int | None = None
    """A dump and restore of ``size_estimate`` at that rate, made at plan time."""


class PlannedService(_Frozen):
    kind: str
    depends_on: list[str]
    steps: list[str]
    wave: Annotated[int, Field(ge=1)]
    criticality: str
    project: str | None = None
    container: str | None = None
    bucket: str | None = None
    prefix: str = ""
    estimated_bytes: int = 0
    estimated_objects: int | None = None
    max_downtime_seconds: int | None = None
    approval: list[str] = Field(default_factory=list)
    propagate_deletes: bool = False
    verify: str = "hash"
    include: list[str] = Field(default_factory=list)
    """``data.include``: rclone globs, relative to the prefix's folder (``migrate.filters``)."""
    exclude: list[str] = Field(default_factory=list)
    """``data.exclude``: an object matching one of them is never copied, nor deleted."""
    hooks: dict[str, str] = Field(default_factory=dict)
    """Step (or ``rollback``, ``decommission``) -> shell command."""
    hooks_env: list[str] = Field(default_factory=list)
    """The variables of the tool's environment the service's hooks get, beyond MIGRATE_*,
    PATH, HOME, LANG and TZ: ``policy.hooks_env`` and the service's own, sorted."""
    on_budget_exceeded: Literal["hold", "rollback"] = "hold"
    tags: dict[str, str] = Field(default_factory=dict)
    """The tags the service's bucket carries."""
    database: PlannedDatabase | None = None

    def hook(self, step: str) -> str | None:
        return self.hooks.get(step)

    @property
    def has_data(self) -> bool:
        return self.container is not None and self.bucket is not None

    @property
    def key_filter(self) -> KeyFilter:
        return KeyFilter.of(self.include, self.exclude, self.prefix)


class PlannedEndpoint(_Frozen):
    """One side of the migration as the plan resolved it (never a secret: variable names)."""

    provider: str
    endpoint: str | None = None
    """The URL rebuilt from its checked parts (None: the provider's default, or a folder)."""
    host: str | None = None
    account: str | None = None
    path: str | None = None


class PlannedTarget(PlannedEndpoint):
    preset: str = "generic"
    region: str | None = None
    encryption: str = "AES256"
    kms_key_id: str | None = None
    features: dict[str, bool | None] = Field(default_factory=dict)
    """Optional powers the provider declares (``bucket_tagging``, ``bucket_encryption``,
    ``versioning``): True, False, or None when only a probe can tell."""


class PlannedPolicy(_Frozen):
    hook_timeout_seconds: int = 900
    hooks_env: list[str] = Field(default_factory=list)
    """``policy.hooks_env``: what every hook gets (each service's list includes it)."""
    retry_attempts: int = 8
    retry_max_seconds: int = 600
    bandwidth: float = 100 * 1024**2
    """The rate estimates use: ``policy.bandwidth``, or the lowest rate of
    ``policy.bandwidth_limit`` when lower (an estimate never promises a shorter copy)."""
    bandwidth_limit: str | None = None
    """``policy.bandwidth_limit`` as written: a rate or a timetable (``migrate.bandwidth``)."""
    decommission_notice_seconds: int = 21 * 86400
    max_delete_fraction: float = 0.05
    max_deletes: int = 1000


class Plan(_Frozen):
    format_version: Literal[1] = 1
    inventory: str
    inventory_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    created_at: str
    tool_version: str
    name: str = ""
    waves: list[PlannedWave]
    units: list[PlannedUnit]
    services: dict[str, PlannedService]
    source: PlannedEndpoint | None = None
    target: PlannedTarget | None = None
    policy: PlannedPolicy = Field(default_factory=PlannedPolicy)
    warnings: list[str] = Field(default_factory=list)
    recorded_waves: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    """The services with work in the state database when the plan was made, and the wave it
    recorded for each: the plan keeps them there where their dependencies allow, and `apply`
    refuses a plan that disagrees with the state database it runs on."""

    def route_of(self, name: str) -> dict[str, str | None]:
        """What a service's work in a ledger is bound to: the platform and where its data
        comes from and goes to. Another route under the same name is another service."""
        service = self.services[name]
        route: dict[str, str | None] = {
            "inventory": self.name,
            "kind": service.kind,
            "container": service.container,
            "prefix": service.prefix if service.has_data else None,
            "bucket": service.bucket,
        }
        # Only when set: a route recorded before filters existed stays the same route; in
        # order, once each: the same patterns in another order keep the same objects.
        for field_name in ("include", "exclude"):
            patterns = getattr(service, field_name)
            if patterns and service.has_data:
                route[field_name] = json.dumps(sorted(set(patterns)))
        return route

    @property
    def total_bytes(self) -> int:
        return sum(wave.estimated_bytes for wave in self.waves)

    @property
    def total_seconds(self) -> int:
        return sum(wave.estimated_seconds for wave in self.waves)
