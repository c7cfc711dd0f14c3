"""Pack units into waves that preserve continuity.

Rules (docs/planning.md):
1. a dependency is cut over in an earlier wave than its dependent, or in the same wave and
   before it; a cycle is one unit and moves in one wave;
2. a wave holds at most ``max_services`` services and ``max_bytes`` bytes, unless one unit
   alone exceeds a limit: that unit then stands alone in its wave;
3. with a pilot, wave 1 holds only low-risk units whose dependencies are all in wave 1.

Algorithm: list scheduling over the condensation in a deterministic topological order
(ties broken by unit name). Each unit goes to the first open wave at or after the latest wave
of its dependencies where it fits (first fit), else to a new wave at the end. A skip-list of
full waves (union-find "next wave with room") keeps the search near-linear.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from migrate.planner.graph import Condensed, Unit, topological_units


@dataclass(frozen=True)
class Limits:
    max_services: int
    max_bytes: int | None
    pilot: bool


@dataclass
class WaveBuilder:
    units: list[int] = field(default_factory=list)
    services: int = 0
    bytes: int = 0
    pilot: bool = False
    alone: bool = False

    def add(self, unit_id: int, unit: Unit) -> None:
        self.units.append(unit_id)
        self.services += len(unit.services)
        self.bytes += unit.bytes


@dataclass(frozen=True)
class Schedule:
    waves: list[WaveBuilder]
    warnings: list[str]


def schedule(condensed: Condensed, limits: Limits) -> Schedule:
    order = topological_units(condensed)
    packer = _Packer(condensed, limits)
    if limits.pilot:
        packer.fill_pilot(order)
    for unit_id in order:
        if unit_id not in packer.wave_of:
            packer.place(unit_id)
    return Schedule(packer.waves, packer.warnings)


class _Packer:
    def __init__(self, condensed: Condensed, limits: Limits) -> None:
        self.predecessors = condensed.predecessors
        self.units = condensed.units
        self.limits = limits
        self.waves: list[WaveBuilder] = []
        self.wave_of: dict[int, int] = {}
        self.warnings: list[str] = []
        self._next_open: list[int] = []
        self._first_regular = 0

    def fill_pilot(self, order: Iterable[int]) -> None:
        pilot = WaveBuilder(pilot=True)
        for unit_id in order:
            unit = self.units[unit_id]
            preds_in_pilot = all(self.wave_of.get(p) == 0 for p in self.predecessors[unit_id])
            if unit.low_risk and preds_in_pilot and self._fits(pilot, unit):
                pilot.add(unit_id, unit)
                self.wave_of[unit_id] = 0
        if pilot.units:
            self._close(self._open(pilot))
            self._first_regular = 1
        else:
            self.warnings.append(
                "no pilot wave: no low-criticality service has all its dependencies low-criticality"
            )

    def place(self, unit_id: int) -> None:
        unit = self.units[unit_id]
        earliest = max((self.wave_of[p] for p in self.predecessors[unit_id]), default=0)
        earliest = max(earliest, self._first_regular)
        if self._oversized(unit):
            index = self._open(WaveBuilder(alone=True))
            self._close(index)
            self.warnings.append(self._oversize_warning(unit))
        else:
            index = self._first_fit(unit, earliest)
        self.waves[index].add(unit_id, unit)
        self.wave_of[unit_id] = index
        if self.waves[index].services >= self.limits.max_services:
            self._close(index)

    def _first_fit(self, unit: Unit, earliest: int) -> int:
        index = self._find(earliest)
        while index < len(self.waves):
            if self._fits(self.waves[index], unit):
                return index
            index = self._find(index + 1)
        return self._open(WaveBuilder())

    def _fits(self, wave: WaveBuilder, unit: Unit) -> bool:
        if wave.services + len(unit.services) > self.limits.max_services:
            return False
        cap = self.limits.max_bytes
        return cap is None or wave.bytes + unit.bytes <= cap

    def _oversized(self, unit: Unit) -> bool:
        cap = self.limits.max_bytes
        return len(unit.services) > self.limits.max_services or (
            cap is not None and unit.bytes > cap
        )

    def _oversize_warning(self, unit: Unit) -> str:
        what = "cycle " + " <-> ".join(unit.services) if unit.is_cycle else unit.services[0]
        return f"{what} alone exceeds the per-wave limits: it stands alone in its wave"

    def _open(self, wave: WaveBuilder) -> int:
        self.waves.append(wave)
        self._next_open.append(len(self.waves) - 1)
        return len(self.waves) - 1

    def _close(self, index: int) -> None:
        """Mark a wave as taking no more units: the search skips it from now on."""
        self._next_open[index] = index + 1

    def _find(self, index: int) -> int:
        """The first wave at or after ``index`` not closed (path-halving union-find)."""
        links = self._next_open
        while index < len(links) and links[index] != index:
            nxt = links[index]
            if nxt < len(links):
                links[index] = links[nxt]
            index = nxt
        return index
