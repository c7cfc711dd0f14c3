"""The inventory as typed, frozen configuration objects (pydantic v2).

Validation here is structural (types, enums, required fields, per-service rules). Checks that
span services (names, dependencies, buckets) live in ``migrate.inventory.checks``; safety
policy in ``migrate.inventory.policy``. No secret is ever a field of these models: only the
names of the environment variables that hold them.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StringConstraints, model_validator

from migrate.units import Duration, Rate, Size

Kind = Literal[
    "object-store", "database", "compute", "identity", "network", "analytics", "workspace"
]
Criticality = Literal["critical", "high", "medium", "low"]
Step = Literal["prepare", "replicate", "verify", "freeze", "sync", "cutover", "validate"]

OBJECT_STORE_STEPS: tuple[Step, ...] = (
    "prepare",
    "replicate",
    "verify",
    "freeze",
    "sync",
    "cutover",
    "validate",
)
SERVICE_STEPS: tuple[Step, ...] = ("prepare", "freeze", "cutover", "validate")
COMMAND_HOOKS = ("rollback", "decommission")
CRITICALITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{3,63}$")]
ProjectName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def steps_for(kind: str) -> tuple[Step, ...]:
    """The ordered steps a service of ``kind`` goes through at apply."""
    return OBJECT_STORE_STEPS if kind == "object-store" else SERVICE_STEPS


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Frozen):
    provider: Literal["azure", "local"]
    account: str | None = None
    endpoint: str | None = None
    key_env: EnvName = "AZURE_STORAGE_KEY"
    path: str | None = None
    """Root folder of a ``local`` source: one sub-folder per container."""

    @model_validator(mode="after")
    def _provider_fields(self) -> Self:
        if self.provider == "azure" and not self.account:
            raise ValueError("an azure source needs 'account' (the storage account name)")
        if self.provider == "local" and not self.path:
            raise ValueError("a local source needs 'path' (a folder with one folder per container)")
        return self


class ProjectCredentials(_Frozen):
    access_key_env: EnvName
    secret_key_env: EnvName


class TargetConfig(_Frozen):
    provider: Literal["s3", "local"]
    preset: Literal["generic", "outscale", "ovhcloud", "scaleway", "cloud-temple"] = "generic"
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
        if self.provider == "local" and not self.path:
            raise ValueError("a local target needs 'path' (a folder that receives one per bucket)")
        if self.provider == "s3" and not self.region:
            raise ValueError("an s3 target needs 'region'")
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
    decommission_notice: Duration = 21 * 86400
    retry_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    retry_max_time: Duration = 600
    hook_timeout: Duration = 900


class DataConfig(_Frozen):
    container: str
    bucket: str | None = None
    prefix: str = ""
    size_estimate: Size = 0
    object_estimate: Annotated[int, Field(ge=0)] | None = None
    propagate_deletes: bool = False
    verify: Literal["listing", "hash", "deep"] = "hash"


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

    def named(self) -> list[str]:
        """The hooks that are set, by their inventory names."""
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        return sorted(dumped)


class ServiceConfig(_Frozen):
    name: ServiceName
    kind: Kind
    criticality: Criticality = "medium"
    max_downtime: Duration | None = None
    depends_on: list[str] = Field(default_factory=list)
    project: ProjectName | None = None
    data: DataConfig | None = None
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    approval: list[str] = Field(default_factory=list)
    on_budget_exceeded: Literal["hold", "rollback"] = "hold"

    @model_validator(mode="after")
    def _kind_rules(self) -> Self:
        if self.kind == "object-store" and self.data is None:
            raise ValueError("an object-store service needs 'data' with at least 'container'")
        if self.kind != "object-store" and self.data is not None:
            raise ValueError(f"'data' is only for object-store services, not {self.kind}")
        steps = steps_for(self.kind)
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
    def steps(self) -> tuple[Step, ...]:
        return steps_for(self.kind)

    @property
    def size_estimate(self) -> int:
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

    def bucket_of(self, service: ServiceConfig) -> str | None:
        """The target bucket of an object-store service, explicit or derived."""
        if service.data is None:
            return None
        return service.data.bucket or f"{self.target.bucket_prefix}{service.data.container}"
