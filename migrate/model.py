"""The saved plan: data that ``migrate plan`` writes and ``migrate apply`` executes as is.

Pydantic models, frozen, so that the plan file is validated when read back and serialised
deterministically (the same inventory gives the same bytes apart from ``created_at``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    warnings: list[str] = Field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(wave.estimated_bytes for wave in self.waves)

    @property
    def total_seconds(self) -> int:
        return sum(wave.estimated_seconds for wave in self.waves)
