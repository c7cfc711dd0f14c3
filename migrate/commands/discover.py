"""``migrate discover``: list the source account and say, per container and database, what an
inventory needs and what would stop a copy.

Every container is listed page by page and only counted: the memory a listing takes is one
page, whatever the number of objects. Per container it keeps exact counts (objects, bytes,
access tiers, blob types), and for each kind of problem the count and the first few names:
names the target would refuse, blobs over its largest object, Archive blobs (unreadable before
rehydration), metadata it cannot hold. The rules are ``migrate.objectrules``, the ones apply
uses, with the target's limits. Each database is read in a read-only session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from migrate.databases import DatabaseSurvey
from migrate.errors import MigrateError
from migrate.executor.retry import RetryPolicy, retrying
from migrate.inventory.discovery import DiscoverySource
from migrate.naming import (
    SERVICE_NAME,
    azure_container_problem,
    bucket_problem,
    derive_bucket,
    derive_service_name,
)
from migrate.objectrules import key_problem, metadata_problem
from migrate.ports import ListingPage, ObjectInfo, SourceStore, TargetCapabilities
from migrate.providers import source_provider, target_provider

EXAMPLES = 5
"""Names kept per kind of problem (the count is exact)."""
MAX_LABELS = 16
"""Distinct access tiers or blob types counted by name; any beyond is counted as 'other'."""

NAME, SIZE, ARCHIVE, METADATA = "refused-name", "too-large", "archive", "metadata"
PROBLEM_KINDS = (NAME, SIZE, ARCHIVE, METADATA)
PROBLEM_WORDS = {
    NAME: ("names the target refuses", "rename them at the source"),
    SIZE: ("blobs over the target's largest object", "split or leave them at the source"),
    ARCHIVE: ("Archive blobs", "rehydrate them first: they cannot be read"),
    METADATA: ("metadata the target cannot hold", "trim it at the source"),
}
"""Kind of problem -> what it is, and what to do."""
PROBLEM_TAGS = {NAME: "refused names", SIZE: "too large", ARCHIVE: "Archive", METADATA: "metadata"}


@dataclass(frozen=True)
class Reason:
    """Why a container or database is not ready: a few words, and the sentence that says
    what to do."""

    tag: str
    text: str


def problem_line(problems: Problems) -> str:
    """``names the target refuses: 2 (rename them at the source)``."""
    label, advice = PROBLEM_WORDS[problems.kind]
    return f"{label}: {problems.count:,} ({advice})"


@dataclass
class Problems:
    """One kind of problem in one container: how many objects, and the first few."""

    kind: str
    count: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)
    """(name, why) of the first ``EXAMPLES`` objects."""

    def add(self, key: str, why: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((key, why))


@dataclass
class Tally:
    """What a container's listing adds up to so far."""

    objects: int = 0
    bytes: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    blob_types: dict[str, int] = field(default_factory=dict)
    problems: dict[str, Problems] = field(
        default_factory=lambda: {kind: Problems(kind) for kind in PROBLEM_KINDS}
    )

    def add(self, info: ObjectInfo, capabilities: TargetCapabilities) -> None:
        self.objects += 1
        self.bytes += info.size
        # page and append blobs have no access tier: counted, so that the tiers add up
        _count(self.tiers, info.tier or ("no tier" if info.blob_type else None))
        _count(self.blob_types, info.blob_type)
        refused = key_problem(info.key, capabilities)
        if refused:
            self.problems[NAME].add(info.key, refused)
        if info.size > capabilities.max_object_size:
            self.problems[SIZE].add(
                info.key, f"{info.size} bytes, over the target's {capabilities.max_object_size}"
            )
        if info.tier is not None and info.tier.lower() == "archive":
            self.problems[ARCHIVE].add(info.key, "Archive tier: rehydrate it before it is copied")
        metadata = metadata_problem(info.attributes.metadata, capabilities)
        if metadata:
            self.problems[METADATA].add(info.key, metadata)


def _count(counts: dict[str, int], label: str | None) -> None:
    if label is None:
        return
    if label not in counts and len(counts) >= MAX_LABELS:
        label = "other"
    counts[label] = counts.get(label, 0) + 1


@dataclass(frozen=True)
class ContainerReport:
    container: str
    service: str
    renamed: str | None
    """Why the service is not named as the container (None: it is)."""
    bucket: str | None
    """An explicit ``data.bucket``, when the one derived from the container breaks S3 rules."""
    bucket_note: str | None
    excluded: str | None
    """Why the container cannot be a service of the inventory (it is written commented out)."""
    tally: Tally
    error: str | None = None
    """The listing failed: the figures are what was listed before."""

    @property
    def problems(self) -> list[Problems]:
        return [p for p in self.tally.problems.values() if p.count]

    @property
    def reasons(self) -> list[Reason]:
        """What must be done before this container can be copied whole (empty: ready)."""
        reasons = [Reason("listing failed", f"listing failed: {self.error}")] if self.error else []
        if self.excluded:
            reasons.append(Reason("not a service", self.excluded))
        reasons += [Reason(PROBLEM_TAGS[p.kind], problem_line(p)) for p in self.problems]
        if self.bucket_note:
            reasons.append(Reason("bucket name", self.bucket_note))
        return reasons


@dataclass(frozen=True)
class DatabaseReport:
    name: str
    service: str
    renamed: str | None
    url_env: str
    survey: DatabaseSurvey | None
    error: str | None = None

    @property
    def reasons(self) -> list[Reason]:
        if self.survey is None:
            return [Reason("not read", f"not read: {self.error}")]
        survey, reasons = self.survey, []
        missing = survey.without_identity
        if missing:
            reasons.append(
                Reason(
                    "no key",
                    f"tables without a primary key or replica identity: {len(missing):,} "
                    "(add a key, or ALTER TABLE ... REPLICA IDENTITY FULL)",
                )
            )
        if survey.large_objects:
            reasons.append(
                Reason(
                    "large objects",
                    f"large objects: {survey.large_objects:,} (logical replication does not "
                    "copy them: method dump)",
                )
            )
        if not survey.logical_source:
            reasons.append(Reason("cannot publish", f"cannot publish: {survey.why_not_logical}"))
        return reasons


@dataclass(frozen=True)
class Discovery:
    name: str
    source: str
    """The account or folder listed, as a person names it."""
    limits: str
    """Whose limits the names and sizes were checked against."""
    containers: tuple[ContainerReport, ...]
    databases: tuple[DatabaseReport, ...]

    @property
    def failed(self) -> bool:
        """Something could not be read: a listing or a database."""
        return any(c.error for c in self.containers) or any(d.error for d in self.databases)

    @property
    def ready(self) -> bool:
        reports: Sequence[ContainerReport | DatabaseReport] = (*self.containers, *self.databases)
        return not any(report.reasons for report in reports)


class DiscoveryProgress(Protocol):
    def listing(self, container: str, objects: int, size: int) -> None:
        """After each page: the container's figures so far."""
        ...

    def listed(self, report: ContainerReport) -> None: ...


class _Silent:
    def listing(self, container: str, objects: int, size: int) -> None:
        return None

    def listed(self, report: ContainerReport) -> None:
        return None


def target_limits(spec: DiscoverySource) -> tuple[TargetCapabilities, str]:
    """The limits names and sizes are checked against, and whose they are."""
    target = spec.target
    if target is None:
        return TargetCapabilities(), "the default S3 limits (no target given)"
    provider = target_provider(target.provider)
    capabilities = provider.capabilities(target.preset)
    named = f"preset '{target.preset}'" if provider.network else f"a {target.provider} target"
    return capabilities, f"the limits of {named}"


DatabaseReader = Callable[[str, str], DatabaseSurvey]
"""(variable holding the URL, what to call it) -> the database's figures."""


def discover(
    spec: DiscoverySource,
    source: SourceStore,
    read_database: DatabaseReader | None = None,
    *,
    capabilities: TargetCapabilities | None = None,
    progress: DiscoveryProgress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Discovery:
    """List every container of ``source`` and read every database ``spec`` names, checking
    names and sizes against ``capabilities`` (default: ``target_limits(spec)``).

    A container whose listing fails and a database that cannot be read are reported (their
    ``error``), never raised; the listing of the containers themselves raises (nothing can
    be said then)."""
    if capabilities is None:
        capabilities, limits = target_limits(spec)
    else:
        limits = f"given limits (largest object {capabilities.max_object_size:,} bytes)"
    shown = progress or _Silent()
    policy = RetryPolicy(spec.policy.retry_attempts, float(spec.policy.retry_max_time))
    containers = list(source.list_containers())
    databases = [d.name for d in spec.databases]
    names = service_names([*containers, *databases], len(containers))
    buckets = _buckets(spec, containers, names[: len(containers)])
    container_reports = []
    for index, container in enumerate(containers):
        service, renamed = names[index]
        bucket, note = buckets[index]
        tally, error = _list(source, container, capabilities, policy, shown, sleep)
        report = ContainerReport(
            container, service, renamed, bucket, note, _excluded(spec, container), tally, error
        )
        shown.listed(report)
        container_reports.append(report)
    database_reports = [
        _read(entry.name, entry.url_env, names[len(containers) + i], read_database)
        for i, entry in enumerate(spec.databases)
    ]
    return Discovery(
        spec.name,
        _described(spec),
        limits,
        tuple(container_reports),
        tuple(database_reports),
    )


def service_names(wanted: Sequence[str], containers: int) -> list[tuple[str, str | None]]:
    """A unique service name for each of ``wanted`` (containers first, then databases), with
    why it differs from what it is named after. Names that are valid service names keep them
    first, so that a derived name never takes a real one."""
    taken: set[str] = set()
    chosen: list[str | None] = [None] * len(wanted)
    for index, text in enumerate(wanted):
        if SERVICE_NAME.match(text) and text not in taken:
            chosen[index] = text
            taken.add(text)
    result: list[tuple[str, str | None]] = []
    for index, text in enumerate(wanted):
        name = chosen[index]
        if name is not None:
            result.append((name, None))
            continue
        filler = "data" if index < containers else "database"
        name = derive_service_name(text, taken, filler)
        taken.add(name)
        why = (
            "another service has its name"
            if SERVICE_NAME.match(text)
            else "service names are 3 to 63 characters of a-z, 0-9 and '-'"
        )
        result.append((name, f"named '{name}', not {text!r}: {why}"))
    return result


def _buckets(
    spec: DiscoverySource, containers: Sequence[str], names: Sequence[tuple[str, str | None]]
) -> list[tuple[str | None, str | None]]:
    """Per container: an explicit bucket where the derived one is not a valid S3 name."""
    prefix = spec.target.bucket_prefix if spec.target is not None else ""
    taken = {derive_bucket(c, prefix) for c in containers}
    result: list[tuple[str | None, str | None]] = []
    for container, (service, _) in zip(containers, names, strict=True):
        derived = derive_bucket(container, prefix)
        problem = bucket_problem(derived)
        if problem is None:
            result.append((None, None))
            continue
        bucket = derive_service_name(f"{prefix}{service}", taken, "bucket")
        taken.add(bucket)
        if bucket_problem(bucket) is None:
            result.append((bucket, None))
        else:
            result.append((None, f"{problem}: set data.bucket"))
    return result


def _excluded(spec: DiscoverySource, container: str) -> str | None:
    if not source_provider(spec.source.provider).azure_container_names:
        return None
    problem = azure_container_problem(container)
    return f"{problem}: the inventory cannot name it" if problem else None


def _pages(
    source: SourceStore,
    container: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> Iterator[ListingPage]:
    marker: str | None = None
    while True:
        page = _page(source, container, marker, policy, sleep)
        yield page
        if page.next_marker is None:
            return
        marker = page.next_marker


def _page(
    source: SourceStore,
    container: str,
    marker: str | None,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> ListingPage:
    """One page, retried on transient errors in the executor's one retry layer."""
    for attempt in retrying(policy, sleep=sleep):
        with attempt:
            return source.list_page(container, "", marker)
    raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises


def _list(
    source: SourceStore,
    container: str,
    capabilities: TargetCapabilities,
    policy: RetryPolicy,
    progress: DiscoveryProgress,
    sleep: Callable[[float], None],
) -> tuple[Tally, str | None]:
    tally = Tally()
    try:
        for page in _pages(source, container, policy, sleep):
            for info in page.objects:
                tally.add(info, capabilities)
            progress.listing(container, tally.objects, tally.bytes)
    except MigrateError as error:
        return tally, error.message
    return tally, None


def _read(
    name: str,
    url_env: str,
    service: tuple[str, str | None],
    read_database: DatabaseReader | None,
) -> DatabaseReport:
    what = f"database '{name}' ({url_env})"
    if read_database is None:
        return DatabaseReport(name, *service, url_env, None, "no database reader")
    try:
        survey = read_database(url_env, what)
    except MigrateError as error:
        return DatabaseReport(name, *service, url_env, None, error.message)
    return DatabaseReport(name, *service, url_env, survey)


def _described(spec: DiscoverySource) -> str:
    source = spec.source
    if source.account:
        return f"{source.provider} account '{source.account}'"
    return f"{source.provider} folder {source.path}"
