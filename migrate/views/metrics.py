"""Prometheus metrics from a status snapshot (prometheus-client's text format)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from migrate.commands.status import StatusReport, frozen_since
from migrate.timeutil import parse_iso


def _seconds_between(start: str, end: str) -> float:
    return (parse_iso(end) - parse_iso(start)).total_seconds()


STATES = ("pending", "running", "waiting-approval", "done", "failed", "rolled-back")


class SnapshotCollector(Collector):
    """Reads the ledger at each scrape (through ``snapshot``), never caches stale numbers."""

    def __init__(self, snapshot: Callable[[], StatusReport]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        report = self._snapshot()
        labels = ["service"]
        copied = CounterMetricFamily(
            "migrate_objects_copied", "Objects copied and checked.", labels=labels
        )
        copied_bytes = CounterMetricFamily(
            "migrate_bytes_copied", "Bytes copied and checked.", labels=labels
        )
        total = GaugeMetricFamily("migrate_objects", "Objects listed at the source.", labels=labels)
        total_bytes = GaugeMetricFamily(
            "migrate_bytes", "Bytes listed at the source.", labels=labels
        )
        failed = GaugeMetricFamily("migrate_objects_failed", "Objects that failed.", labels=labels)
        retries = CounterMetricFamily("migrate_retries", "Requests retried.", labels=labels)
        state = GaugeMetricFamily(
            "migrate_service_state",
            "1 for the state the service is in.",
            labels=["service", "state"],
        )
        freeze = GaugeMetricFamily(
            "migrate_freeze_seconds", "Length of the last write freeze.", labels=labels
        )
        budget = GaugeMetricFamily(
            "migrate_freeze_budget_seconds", "Write-freeze budget.", labels=labels
        )
        frozen = GaugeMetricFamily(
            "migrate_write_frozen_seconds",
            "How long the write freeze in progress has lasted (absent when not frozen).",
            labels=labels,
        )
        verify_diffs = GaugeMetricFamily(
            "migrate_last_verify_differences",
            "Differences the last verification found.",
            labels=["service", "level", "against"],
        )
        verify_at = GaugeMetricFamily(
            "migrate_last_verify_timestamp_seconds",
            "When the last verification ran (Unix time).",
            labels=labels,
        )
        rate = GaugeMetricFamily(
            "migrate_copy_rate_bytes_per_second",
            "Bytes per second over the running copy step (absent when not copying).",
            labels=labels,
        )
        for s in report.services:
            since = frozen_since(s)
            if since is not None and report.taken_at:
                frozen.add_metric([s.name], max(0.0, _seconds_between(since, report.taken_at)))
            if s.last_verify is not None:
                level, against = str(s.last_verify["level"]), str(s.last_verify["against"])
                verify_diffs.add_metric(
                    [s.name, level, against], float(str(s.last_verify["differences"]))
                )
                verify_at.add_metric([s.name], parse_iso(str(s.last_verify["at"])).timestamp())
            if (speed := report.rate(s)) is not None:
                rate.add_metric([s.name], speed)
            copied.add_metric([s.name], s.objects_done)
            copied_bytes.add_metric([s.name], s.bytes_done)
            total.add_metric([s.name], s.objects_total)
            total_bytes.add_metric([s.name], s.bytes_total)
            failed.add_metric([s.name], s.objects_failed)
            retries.add_metric([s.name], report.retries.get(s.name, 0))
            for value in STATES:
                state.add_metric([s.name, value], 1.0 if s.state == value else 0.0)
            if s.freeze_seconds is not None:
                freeze.add_metric([s.name], s.freeze_seconds)
            if s.freeze_budget_seconds is not None:
                budget.add_metric([s.name], s.freeze_budget_seconds)
        locked = GaugeMetricFamily("migrate_lock_held", "1 while an apply holds the state lock.")
        locked.add_metric([], 1.0 if report.lock else 0.0)
        age = GaugeMetricFamily("migrate_lock_heartbeat_age_seconds", "Age of the lock heartbeat.")
        age.add_metric([], report.heartbeat_age() or 0.0)
        yield from (
            copied,
            copied_bytes,
            total,
            total_bytes,
            failed,
            retries,
            state,
            freeze,
            budget,
            frozen,
            verify_diffs,
            verify_at,
            rate,
            locked,
            age,
        )
        yield from _database_metrics(report)
        limit = GaugeMetricFamily(
            "migrate_bandwidth_limit_bytes_per_second",
            "The bandwidth limit the running apply holds (absent when none is held).",
        )
        if report.limit is not None:
            limit.add_metric([], report.limit)
        yield limit


def _database_metrics(report: StatusReport) -> Iterator[GaugeMetricFamily]:
    """Database services: rows at the target, and how far replication is behind."""
    rows = GaugeMetricFamily(
        "migrate_database_rows", "Rows at the target at the last count.", labels=["service"]
    )
    lag = GaugeMetricFamily(
        "migrate_replication_lag_bytes",
        "WAL the subscriber has not confirmed (absent when unknown).",
        labels=["service"],
    )
    behind = GaugeMetricFamily(
        "migrate_replication_lag_seconds",
        "How long the subscriber has been behind (absent when unknown).",
        labels=["service"],
    )
    for s in report.services:
        if s.database is None:
            continue
        rows.add_metric([s.name], float(str(s.database.get("rows") or 0)))
        if (value := s.database.get("lag_bytes")) is not None:
            lag.add_metric([s.name], float(str(value)))
        if (seconds := s.database.get("lag_seconds")) is not None:
            behind.add_metric([s.name], float(str(seconds)))
    yield from (rows, lag, behind)


def render_metrics(snapshot: Callable[[], StatusReport]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)
