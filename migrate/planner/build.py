"""Build the saved plan from a validated inventory."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from migrate import __version__
from migrate.config import Inventory, ServiceConfig
from migrate.databases import dump_overrun, dump_seconds
from migrate.inventory.collector import paused_collector
from migrate.inventory.loader import LoadedInventory
from migrate.model import (
    Plan,
    PlannedDatabase,
    PlannedPolicy,
    PlannedService,
    PlannedUnit,
    PlannedWave,
)
from migrate.planner.graph import Condensed, condense, dependency_graph
from migrate.planner.sides import feature_warnings, planned_source, planned_target
from migrate.planner.waves import Limits, Schedule, schedule


def build_plan(
    loaded: LoadedInventory,
    now: datetime | None = None,
    recorded_waves: Mapping[str, int] | None = None,
) -> Plan:
    """``recorded_waves``: the services with work in the state database and the wave it
    recorded for each; they keep their place where their dependencies allow."""
    with paused_collector():  # the plan is a tree of new objects, cycle-free
        return _build_plan(loaded, now, recorded_waves or {})


def _build_plan(
    loaded: LoadedInventory, now: datetime | None, recorded_waves: Mapping[str, int]
) -> Plan:
    inventory = loaded.inventory
    condensed = condense(inventory, dependency_graph(inventory))
    policy = inventory.policy
    limits = Limits(policy.max_services_per_wave, policy.max_bytes_per_wave, policy.pilot_wave)
    names = {service.name for service in inventory.services}
    kept = {n: w for n, w in sorted(recorded_waves.items()) if n in names}
    pins, pin_warnings = unit_pins(condensed, kept)
    scheduled = schedule(condensed, limits, pins)
    waves = _waves(inventory, condensed, scheduled)
    wave_of = {name: wave.index for wave in waves for name in wave.services}
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = planned_target(inventory)
    return Plan(
        inventory=loaded.path,
        inventory_sha256=loaded.sha256,
        created_at=stamp,
        tool_version=__version__,
        name=inventory.name,
        waves=waves,
        units=_cycle_units(condensed),
        services={
            service.name: _planned_service(inventory, service, wave_of[service.name])
            for service in sorted(inventory.services, key=lambda s: s.name)
        },
        source=planned_source(inventory),
        target=target,
        policy=_planned_policy(inventory),
        warnings=[
            *loaded.warnings,
            *feature_warnings(target),
            *pin_warnings,
            *database_warnings(inventory),
            *scheduled.warnings,
        ],
        recorded_waves=kept,
    )


def unit_pins(
    condensed: Condensed, recorded: Mapping[str, int]
) -> tuple[dict[int, int], list[str]]:
    """Unit -> 0-based wave to keep. Only the order of the recorded waves matters (empty
    waves are dropped), so they are ranked: a wave number in a file never sizes the plan."""
    unit_of = {name: uid for uid, unit in condensed.units.items() for name in unit.services}
    by_unit: dict[int, set[int]] = {}
    for name, wave in recorded.items():
        by_unit.setdefault(unit_of[name], set()).add(wave)
    rank = {wave: index for index, wave in enumerate(sorted(set(recorded.values())))}
    pins: dict[int, int] = {}
    warnings = []
    for uid, waves in sorted(by_unit.items()):
        if len(waves) == 1:
            pins[uid] = rank[next(iter(waves))]
        else:
            members = " <-> ".join(condensed.units[uid].services)
            warnings.append(
                f"cycle {members} was applied across waves {sorted(waves)}: it now moves as "
                "one unit and is placed anew"
            )
    return pins, warnings


def _planned_policy(inventory: Inventory) -> PlannedPolicy:
    policy = inventory.policy
    return PlannedPolicy(
        hook_timeout_seconds=policy.hook_timeout,
        hooks_env=sorted(set(policy.hooks_env)),
        retry_attempts=policy.retry_attempts,
        retry_max_seconds=policy.retry_max_time,
        bandwidth=inventory.policy.estimate_rate,
        bandwidth_limit=policy.bandwidth_limit,
        decommission_notice_seconds=policy.decommission_notice,
        max_delete_fraction=policy.max_delete_fraction,
        max_deletes=policy.max_deletes,
    )


def _waves(inventory: Inventory, condensed: Condensed, scheduled: Schedule) -> list[PlannedWave]:
    by_name = {service.name: service for service in inventory.services}
    bandwidth = inventory.policy.estimate_rate
    waves: list[PlannedWave] = []
    for position, builder in enumerate(scheduled.waves, start=1):
        names = [name for unit in builder.units for name in condensed.units[unit].services]
        counts = [by_name[name].data for name in names]
        objects = [data.object_estimate for data in counts if data is not None]
        known = [count for count in objects if count is not None]
        waves.append(
            PlannedWave(
                index=position,
                services=names,
                estimated_bytes=builder.bytes,
                estimated_seconds=math.ceil(builder.bytes / bandwidth),
                estimated_objects=sum(known) if known and len(known) == len(objects) else None,
                pilot=builder.pilot,
                alone=builder.alone,
            )
        )
    return waves


def _cycle_units(condensed: Condensed) -> list[PlannedUnit]:
    cycles = [unit for unit in condensed.units.values() if unit.is_cycle]
    return [
        PlannedUnit(services=list(unit.services), reason="cycle")
        for unit in sorted(cycles, key=lambda u: u.key)
    ]


def _planned_service(inventory: Inventory, service: ServiceConfig, wave: int) -> PlannedService:
    data = service.data
    return PlannedService(
        kind=service.kind,
        depends_on=list(service.depends_on),
        steps=list(service.steps),
        wave=wave,
        criticality=service.criticality,
        project=service.project,
        container=data.container if data else None,
        bucket=inventory.bucket_of(service),
        prefix=data.prefix if data else "",
        estimated_bytes=service.size_estimate,
        estimated_objects=data.object_estimate if data else None,
        max_downtime_seconds=service.max_downtime,
        approval=list(service.approval),
        propagate_deletes=data.propagate_deletes if data else False,
        verify=data.verify if data else "hash",
        include=list(data.include) if data else [],
        exclude=list(data.exclude) if data else [],
        hooks=service.hooks.by_step() if service.hooks.model_fields_set else {},  # all unset
        hooks_env=sorted({*inventory.policy.hooks_env, *service.hooks_env}),
        on_budget_exceeded=service.on_budget_exceeded,
        tags=_tags(service) if data else {},
        database=_planned_database(service),
    )


def _planned_database(service: ServiceConfig) -> PlannedDatabase | None:
    config = service.database
    if config is None:
        return None
    estimate = (
        math.ceil(dump_seconds(config.size_estimate, config.dump_rate))
        if config.size_estimate is not None
        else None
    )
    return PlannedDatabase.model_validate(
        {**config.model_dump(), "dump_seconds_estimate": estimate}
    )


def database_warnings(inventory: Inventory) -> list[str]:
    """A database service with no ``database`` block moves no row; one whose dump would not
    fit its freeze depends on logical replication: say so at plan time."""
    warnings = []
    for service in inventory.services:
        config = service.database
        if service.kind == "database" and config is None:
            warnings.append(
                f"service '{service.name}' (database) has no 'database' block: only its hooks "
                "run and no row is moved; give engine, source_url_env and target_url_env to "
                "migrate it"
            )
        elif config is not None and config.method == "auto":
            late = dump_overrun(config.size_estimate, config.dump_rate, service.max_downtime)
            if late:
                warnings.append(
                    f"service '{service.name}': {late}, so method auto needs logical "
                    "replication; prepare refuses if the source cannot replicate"
                )
    return warnings


def _tags(service: ServiceConfig) -> dict[str, str]:
    tags = {"hdh-service": service.name, "hdh-managed-by": "hdh-migrate"}
    if service.project:
        tags["hdh-project"] = service.project
    return tags
