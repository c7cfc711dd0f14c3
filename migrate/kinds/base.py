"""What a service kind is: its steps, what each does, and what must be true before its write
freeze may start. The order rule shared by every kind (no freeze before the dependencies are
cut over and the cutover gate is open) lives once, in the runner; a kind adds only its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from migrate.model import PlannedPolicy, PlannedService

if TYPE_CHECKING:
    from migrate.databases import DatabaseConnector
    from migrate.executor.copy import Route
    from migrate.executor.objects import ObjectMover
    from migrate.executor.retry import RetryPolicy
    from migrate.filters import KeyFilter
    from migrate.ledger import Ledger
    from migrate.ports import TargetStore


DATA_STEPS = ("prepare", "replicate", "verify", "freeze", "sync", "cutover", "validate")
"""The steps of a kind that moves data (object stores, databases)."""


@dataclass(frozen=True)
class StepContext:
    """One step of one service, as the plan describes it: the executor's only input."""

    name: str
    service: PlannedService
    step: str
    wave: int
    run_id: str
    state_url: str
    route: Route | None
    hook_timeout: float
    target_features: Mapping[str, bool | None] | None = None
    policy: PlannedPolicy = field(default_factory=PlannedPolicy)

    @property
    def prefix(self) -> str:
        return self.service.prefix

    @property
    def key_filter(self) -> KeyFilter:
        """``data.include`` and ``data.exclude``, applied to every listing of the source."""
        return self.service.key_filter

    @property
    def tags(self) -> dict[str, str]:
        return self.service.tags

    @property
    def verify_level(self) -> str:
        return self.service.verify

    @property
    def propagate_deletes(self) -> bool:
        return self.service.propagate_deletes

    @property
    def max_downtime(self) -> int | None:
        return self.service.max_downtime_seconds


class StepFailed(Exception):
    """The step did not succeed; the message says why and what to do."""


class ApprovalNeeded(StepFailed):
    """The step stopped before doing something that needs a person's approval (a mass
    deletion): the service waits at this step for ``migrate approve SERVICE STEP``."""


Action = Callable[[StepContext], str]


class KindSteps(Protocol):
    """The actions of one kind's steps, built for one run."""

    def actions(self) -> Mapping[str, Action]:
        """Step name -> what the step does before its hook (steps absent: hook only)."""
        ...

    def freeze_blocker(self, ctx: StepContext) -> str | None:
        """Why the write freeze may not start yet, beyond the shared rule; None when it may."""
        ...


class KindRollback(Protocol):
    """What a kind does around the rollback hook (a database: bring the source up to date
    before clients go back to it, then remove the replication)."""

    def before(self, name: str, service: PlannedService) -> str: ...

    def after(self, name: str, service: PlannedService) -> str: ...

    def retire(self, name: str, service: PlannedService) -> str:
        """Before the decommission hook: check the target against the source once more and
        remove what still ties them (a database's replication). Raises StepFailed."""
        ...


@dataclass(frozen=True)
class StepResources:
    """What the kinds' actions work with in one run."""

    ledger: Ledger
    target: TargetStore
    mover: ObjectMover
    policy: RetryPolicy
    bandwidth: float
    databases: DatabaseConnector | None = None


@dataclass(frozen=True)
class ServiceKind:
    names: tuple[str, ...]
    """The ``kind:`` values of the inventory that this module serves."""
    steps: tuple[str, ...]
    needs_data: bool
    """The service gives ``data`` (container, bucket); others must not."""
    build: Callable[[StepResources], KindSteps]
    takes_database: bool = False
    """The service may give ``database`` (engine, URLs in the environment)."""
    build_rollback: Callable[[Ledger, DatabaseConnector | None], KindRollback] | None = None
    freeze_step: str = "freeze"
    freeze_ends: str | None = None
    """The step after which the write freeze is over (None: the last). A database's writers
    resume at the target with its cutover hook; an object store's freeze lasts to validate."""
    cutover_step: str = "cutover"
    redo_from: str = "freeze"
    """After a rollback, the steps from this one on are done again."""
    copy_steps: tuple[str, ...] = ()
    """The steps during which the service copies data (status shows a rate and an ETA)."""
    description: str = ""

    def steps_to_redo(self) -> list[str]:
        return list(self.steps[self.steps.index(self.redo_from) :])


class NoActions:
    """A kind whose steps only run their hooks."""

    def actions(self) -> Mapping[str, Action]:
        return {}

    def freeze_blocker(self, ctx: StepContext) -> str | None:
        return None
