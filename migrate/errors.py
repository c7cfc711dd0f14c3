"""The one error tree of hdh-migrate.

Foreign errors (PyYAML, pydantic, networkx, SDKs, SQLAlchemy) are translated into these at
the boundary where they occur; the CLI renders them once and maps them to exit codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the outside contract."""

    OK = 0
    FAILED = 1
    INVALID = 2
    REFUSED = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in an input file, rendered as ``file:line: message``."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class MigrateError(Exception):
    """Base of every error the tool raises on purpose.

    ``problems`` lists every problem found (all of them, not only the first) when the error
    is about an input file; the CLI prints them one per line as ``file:line: message``.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems: tuple[Problem, ...] = tuple(problems)


class InvalidInput(MigrateError):
    """Bad usage or invalid input: exit 2."""

    exit_code = ExitCode.INVALID


class RefusedForSafety(MigrateError):
    """Refused for safety (stale plan, lock held, insecure endpoint, policy): exit 3."""

    exit_code = ExitCode.REFUSED


class InventoryError(InvalidInput):
    """The inventory cannot be read or does not validate."""


class PolicyViolation(RefusedForSafety):
    """The inventory is well-formed but breaks a safety or compliance policy."""


class PlanFileError(InvalidInput):
    """A saved plan file cannot be read or does not validate."""


class StalePlan(RefusedForSafety):
    """The inventory changed since the plan was made."""


class EditedPlan(StalePlan, PlanFileError):
    """A plan file that ``migrate plan`` cannot have written (its waves and services disagree):
    edited by hand, so refused as an edited plan is (exit 3)."""


class StateLocked(RefusedForSafety):
    """Another run holds the state lock."""


class StateError(MigrateError):
    """The state database cannot be opened or is of an unknown schema."""


class NothingApplied(StateError):
    """The state database exists but holds no ledger yet: the first apply is creating it (or
    was stopped before its first transaction). Readers show an empty status."""


class StorageError(MigrateError):
    """A storage request failed."""


class ClusterError(MigrateError):
    """The dask cluster cannot be reached, has no worker, or runs another version."""


class TransientStorageError(StorageError):
    """A storage request failed in a way that retrying may fix (throttling, resets).

    ``retry_after`` carries the server's Retry-After (seconds) when it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentStorageError(StorageError):
    """A storage request failed in a way that retrying will not fix."""


class InvalidListing(PermanentStorageError):
    """An answer to a listing request that is not a complete listing of what was asked (an
    error document or a web page sent with status 200, another container or prefix, a missing
    continuation): never read as a listing, so never the cause of a deletion."""


class UnsupportedFeature(PermanentStorageError):
    """The server does not implement an optional feature (``NotImplemented``, HTTP 501)."""

    def __init__(self, message: str, feature: str) -> None:
        super().__init__(message)
        self.feature = feature


class ObjectNotFound(PermanentStorageError):
    """The object (or its container) does not exist."""


class ObjectChanged(StorageError):
    """The source object changed (or vanished) while it was read: this copy is void, and the
    object is taken again after the next listing. Not retried at once: the listing is stale."""
