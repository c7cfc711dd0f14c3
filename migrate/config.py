"""The inventory as typed, frozen configuration objects (pydantic v2).

Validation here is structural (types, enums, required fields, per-service rules). Checks that
span services (names, dependencies, buckets) live in ``migrate.inventory.checks``; safety
policy in ``migrate.inventory.policy``. No secret is ever a field of these models: only the
names of the environment variables that hold them.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from migrate.bandwidth import parse_limit
from migrate.filters import PatternError, check_patterns
from migrate.presets import PRESETS
from migrate.providers import REQUIRED_FOR, SOURCES, TARGETS, source_provider, target_provider
from migrate.units import Duration, Rate, Size

PRESET_NAMES = tuple(PRESETS)

Criticality = Literal["critical", "high", "medium", "low"]
COMMAND_HOOKS = ("rollback", "decommission")
CRITICALITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{3,63}$")]
ProjectName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def steps_for(kind: str) -> tuple[str, ...]:
    """The ordered steps a service of ``kind`` goes through at apply (its kind module says)."""
    from migrate.kinds import kind as service_kind  # the kinds' actions load the executor

    return service_kind(kind).steps


def kind_names() -> tuple[str, ...]:
    from migrate.kinds import kind_names as names

    return names()


def _one_of(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _require(model: BaseModel, side: str, fields: tuple[str, ...]) -> None:
    provider = getattr(model, "provider", "?")
    for name in fields:
        if not getattr(model, name, None):
            raise ValueError(
                f"{side} provider '{provider}' needs '{name}' "
                f"({REQUIRED_FOR.get(name, 'required')})"
            )


class SourceConfig(_Frozen):
    provider: Literal[tuple(SOURCES)]  # type: ignore[valid-type]
    account: str | None = None
    endpoint: str | None = None
    key_env: EnvName = "AZURE_STORAGE_KEY"
    path: str | None = None
    """Root folder of a ``local`` source: one sub-folder per container."""

    @model_validator(mode="after")
    def _provider_fields(self) -> Self:
        _require(self, "source", source_provider(self.provider).required)
        return self


class ProjectCredentials(_Frozen):
    access_key_env: EnvName
    secret_key_env: EnvName


class TargetConfig(_Frozen):
    provider: Literal[tuple(TARGETS)]  # type: ignore[valid-type]
    preset: Literal[PRESET_NAMES] = "generic"  # type: ignore[valid-type]
    endpoint: str | None = None
    region: str | None = None
    encryption: Literal["AES256", "aws:kms", "SSE-C", "none"] = "AES256"
    kms_key_id: str | None = None
    sse_c_key_env: EnvName | None = None
    """With SSE-C: the variable holding the base64 of the 256-bit customer key."""
    projects: dict[ProjectName, ProjectCredentials] = Field(default_factory=dict)
    """Credentials that are the only ones used for the buckets of a project."""
    access_key_env: EnvName = "AWS_ACCESS_KEY_ID"
    secret_key_env: EnvName = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name
    ca_bundle: str | None = None
    addressing: Literal["path", "virtual"] | None = None
    bucket_prefix: str = ""
    path: str | None = None
    """Root folder of a ``local`` target: one sub-folder per bucket."""

    @model_validator(mode="after")
    def _provider_fields(self) -> Self:
        _require(self, "target", target_provider(self.provider).required)
        if self.encryption == "aws:kms" and not self.kms_key_id:
            raise ValueError("encryption 'aws:kms' needs 'kms_key_id'")
        if self.encryption == "SSE-C" and not self.sse_c_key_env:
            raise ValueError("encryption 'SSE-C' needs 'sse_c_key_env' (the key's variable)")
        return self


class PolicyConfig(_Frozen):
    require_encryption: bool = True
    allowed_regions: list[str] | None = None
    allowed_endpoints: list[str] | None = None
    """Host patterns (``*.outscale.com``, ``127.0.0.1``) the target endpoint must match."""
    require_qualified: bool = False
    max_services_per_wave: PositiveInt = 10
    max_bytes_per_wave: Size | None = None
    pilot_wave: bool = True
    bandwidth: Rate = 100 * 1024**2
    bandwidth_limit: str | None = None
    """rclone's ``--bwlimit``: ``50M``, ``off`` or a timetable such as ``"08:00,50M 19:00,off"``:
    the most the copy reads per second (the estimates use ``bandwidth`` below it)."""
    decommission_notice: Duration = 21 * 86400
    max_delete_fraction: Annotated[float, Field(ge=0, le=1)] = 0.05
    """A sync that would delete more than this share of a service's objects asks first."""
    max_deletes: Annotated[int, Field(ge=0, le=10**12)] = 1000
    """A sync that would delete more objects than this asks first."""
    retry_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    retry_max_time: Duration = 600
    hook_timeout: Duration = 900
    hooks_env: list[EnvName] = Field(default_factory=list)
    """Variables of the tool's environment every hook gets (never one of the tool's secrets)."""

    @field_validator("bandwidth_limit")
    @classmethod
    def _limit(cls, text: str | None) -> str | None:
        if text is not None:
            parse_limit(text)  # ValueError: pydantic names the field and the line
        return text

    @property
    def estimate_rate(self) -> float:
        """What estimates assume: ``bandwidth``, or the limit's lowest rate when lower."""
        lowest = parse_limit(self.bandwidth_limit).lowest() if self.bandwidth_limit else None
        return min(self.bandwidth, lowest) if lowest is not None else self.bandwidth


SchemaName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_$]{0,62}$")]


class DatabaseConfig(_Frozen):
    """Where a database service's rows come from and go to: libpq URLs in the environment."""

    engine: Literal["postgresql"]
    source_url_env: EnvName
    target_url_env: EnvName
    method: Literal["logical", "dump", "auto"] = "auto"
    schemas: list[SchemaName] = Field(default_factory=list)
    size_estimate: Size | None = None
    """The database's size (``pg_database_size``): the plan's estimate of a dump's duration."""
    dump_rate: Rate | None = None
    """Bytes per second a dump and restore reached in a rehearsal (the sync step says it)."""


class DataConfig(_Frozen):
    container: str
    bucket: str | None = None
    prefix: str = ""
    size_estimate: Size = 0
    object_estimate: Annotated[int, Field(ge=0)] | None = None
    propagate_deletes: bool = False
    verify: Literal["listing", "hash", "deep"] = "hash"
    include: list[str] = Field(default_factory=list)
    """rclone globs: when given, only the objects matching one of them are copied."""
    exclude: list[str] = Field(default_factory=list)
    """rclone globs: the objects matching one of them are never copied (nor deleted)."""

    @model_validator(mode="before")
    @classmethod
    def _object_count(cls, data: object) -> object:
        """``object_count`` (what ``migrate discover`` writes) is ``object_estimate``."""
        if not isinstance(data, dict) or "object_count" not in data:
            return data
        data = dict(data)
        count = data.pop("object_count")
        if "object_estimate" in data and data["object_estimate"] != count:
            raise ValueError("'object_count' and 'object_estimate' disagree: give one")
        data["object_estimate"] = count
        return data

    @field_validator("include", "exclude")
    @classmethod
    def _globs(cls, patterns: list[str]) -> list[str]:
        try:
            return check_patterns(patterns)
        except PatternError as error:
            raise ValueError(str(error)) from None


class HooksConfig(_Frozen):
    prepare: str | None = None
    replicate: str | None = None
    verify: str | None = None
    freeze: str | None = None
    sync: str | None = None
    cutover: str | None = None
    validate_: str | None = Field(default=None, alias="validate")
    rollback: str | None = None
    decommission: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def for_step(self, step: str) -> str | None:
        value = getattr(self, "validate_" if step == "validate" else step, None)
        return value if isinstance(value, str) else None

    def by_step(self) -> dict[str, str]:
        """The hooks that are set, by step name (``validate``, not ``validate_``)."""
        return dict(sorted(self.model_dump(by_alias=True, exclude_none=True).items()))

    def named(self) -> list[str]:
        """The hooks that are set, by their inventory names."""
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        return sorted(dumped)


class ServiceConfig(_Frozen):
    name: ServiceName
    kind: str
    criticality: Criticality = "medium"
    max_downtime: Duration | None = None
    depends_on: list[str] = Field(default_factory=list)
    project: ProjectName | None = None
    data: DataConfig | None = None
    database: DatabaseConfig | None = None
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    approval: list[str] = Field(default_factory=list)
    on_budget_exceeded: Literal["hold", "rollback"] = "hold"
    hooks_env: list[EnvName] = Field(default_factory=list)
    """Variables of the tool's environment this service's hooks get, besides the policy's."""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        known = kind_names()
        if value not in known:
            raise ValueError(f"'{value}' is not one of {_one_of(known)}")
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> Self:
        from migrate.kinds import kind as service_kind

        spec = service_kind(self.kind)
        if spec.needs_data and self.data is None:
            raise ValueError(f"a {self.kind} service needs 'data' with at least 'container'")
        if not spec.needs_data and self.data is not None:
            with_data = [k for k in kind_names() if service_kind(k).needs_data]
            raise ValueError(f"'data' is only for {', '.join(with_data)} services, not {self.kind}")
        if not spec.takes_database and self.database is not None:
            with_db = [k for k in kind_names() if service_kind(k).takes_database]
            raise ValueError(f"'database' is only for {', '.join(with_db)} services")
        steps = spec.steps
        allowed = (*steps, *COMMAND_HOOKS)
        for gate in self.approval:
            if gate not in allowed:
                raise ValueError(
                    f"approval step '{gate}' is not a step of a {self.kind} service "
                    f"(steps: {', '.join(allowed)})"
                )
        for hook in self.hooks.named():
            if hook not in allowed:
                raise ValueError(
                    f"hook '{hook}' is not a step of a {self.kind} service "
                    f"(steps: {', '.join(allowed)})"
                )
        return self

    @property
    def steps(self) -> tuple[str, ...]:
        return steps_for(self.kind)

    @property
    def size_estimate(self) -> int:
        if self.database is not None:
            return self.database.size_estimate or 0
        return self.data.size_estimate if self.data is not None else 0


class Inventory(_Frozen):
    version: Literal[1]
    name: str
    source: SourceConfig
    target: TargetConfig
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    credentials_file: str | None = None
    """A NAME=value file (mode 0600) supplying the variables named by *_env, when set."""
    services: Annotated[list[ServiceConfig], Field(min_length=1)]

    def secret_variables(self) -> dict[str, str]:
        """The variables that hold the tool's own secrets, by the field that names them: never
        passed to a hook. (The audit key, the dashboard token and the state URL are in the
        tool's ``MIGRATE_`` namespace, which no hook gets either.)"""
        source, target = self.source, self.target
        named = {
            "source.key_env": source.key_env,
            "target.access_key_env": target.access_key_env,
            "target.secret_key_env": target.secret_key_env,
        }
        if target.sse_c_key_env:
            named["target.sse_c_key_env"] = target.sse_c_key_env
        for service in self.services:
            if service.database is not None:
                named[f"{service.name}.database.source_url_env"] = service.database.source_url_env
                named[f"{service.name}.database.target_url_env"] = service.database.target_url_env
        for project, keys in sorted(target.projects.items()):
            named[f"target.projects.{project}.access_key_env"] = keys.access_key_env
            named[f"target.projects.{project}.secret_key_env"] = keys.secret_key_env
        return named

    def bucket_of(self, service: ServiceConfig) -> str | None:
        """The target bucket of an object-store service, explicit or derived."""
        if service.data is None:
            return None
        return service.data.bucket or f"{self.target.bucket_prefix}{service.data.container}"
