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

Pins: a unit with work in the state database keeps the wave it was applied in (its place is
reserved before the others are packed around it), unless a dependency now lands in a later
wave; then it is placed anew and a warning says why. Waves left empty are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
        self.count(unit, 1)

    def count(self, unit: Unit, sign: int) -> None:
        self.services += sign * len(unit.services)
        self.bytes += sign * unit.bytes


@dataclass(frozen=True)
class Schedule:
    waves: list[WaveBuilder]
    warnings: list[str]


def schedule(
    condensed: Condensed, limits: Limits, pins: Mapping[int, int] | None = None
) -> Schedule:
    """``pins``: unit -> wave index (0-based) it must keep where its dependencies allow."""
    order = topological_units(condensed)
    packer = _Packer(condensed, limits)
    packer.reserve(pins or {})
    if limits.pilot and packer.pilot_possible:
        packer.fill_pilot(order)
    elif limits.pilot:
        packer.warnings.append(
            "no pilot wave: wave 1 already holds services under way that are not low-criticality"
        )
    for unit_id in order:
        if unit_id not in packer.wave_of:
            packer.place(unit_id)
    return Schedule([wave for wave in packer.waves if wave.units], packer.warnings)


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
        self.pins: dict[int, int] = {}
        self.pilot_possible = True

    def reserve(self, pins: Mapping[int, int]) -> None:
        """Hold the room of pinned units in their waves before anything else is packed."""
        self.pins = dict(pins)
        first = [unit_id for unit_id, index in pins.items() if index == 0]
        self.pilot_possible = all(self.units[unit_id].low_risk for unit_id in first)
        pilot = self.limits.pilot and self.pilot_possible
        last = max(pins.values(), default=-1)
        for index in range(last + 1):
            self._open(WaveBuilder(pilot=index == 0 and pilot))
        # Units that fit are reserved first: an oversized one must stand alone, so it gives
        # way to the others of its wave rather than pushing them all out.
        for unit_id, index in sorted(
            pins.items(), key=lambda item: (self._oversized(self.units[item[0]]), *item[::-1])
        ):
            unit, wave = self.units[unit_id], self.waves[index]
            if self._oversized(unit) and not wave.services:
                wave.alone = True
            elif wave.alone or not self._fits(wave, unit):
                del self.pins[unit_id]  # the limits were lowered since it was applied
                self.warnings.append(
                    f"{' <-> '.join(unit.services)} cannot stay in the wave it was applied in: "
                    "with it, that wave would exceed the policy limits. It is placed anew"
                )
                continue
            wave.count(unit, 1)
        for index, wave in enumerate(self.waves):
            if wave.alone or wave.services >= self.limits.max_services:
                self._close(index)

    def _keep_pin(self, unit_id: int) -> bool:
        """Put a pinned unit in its wave if its dependencies allow; else release its room."""
        index = self.pins.pop(unit_id)
        unit = self.units[unit_id]
        late = [p for p in self.predecessors[unit_id] if self.wave_of[p] > index]
        if not late:
            self.waves[index].units.append(unit_id)
            self.wave_of[unit_id] = index
            return True
        wave = self.waves[index]
        wave.count(unit, -1)
        wave.alone = wave.alone and wave.services > 0  # an oversized unit leaves no mark
        self._next_open[index] = index  # room again
        names = ", ".join(n for p in sorted(late) for n in self.units[p].services)
        self.warnings.append(
            f"{' <-> '.join(unit.services)} cannot stay in the wave it was applied in: its "
            f"dependency {names} now comes later. It is placed anew"
        )
        return False

    def fill_pilot(self, order: Iterable[int]) -> None:
        pilot = self.waves[0] if self.waves else WaveBuilder(pilot=True)
        for unit_id in order:
            unit = self.units[unit_id]
            if unit_id in self.pins:
                if self.pins[unit_id] == 0 and all(
                    self.wave_of.get(p) == 0 for p in self.predecessors[unit_id]
                ):
                    self._keep_pin(unit_id)
                continue  # else placed (or its pin released) with the others
            preds_in_pilot = all(self.wave_of.get(p) == 0 for p in self.predecessors[unit_id])
            if unit.low_risk and preds_in_pilot and self._fits(pilot, unit):
                pilot.add(unit_id, unit)
                self.wave_of[unit_id] = 0
        if self.waves:  # the pilot is the first of the reserved waves
            self._close(0)
            self._first_regular = 1
        elif pilot.units:
            self._close(self._open(pilot))
            self._first_regular = 1
        if not pilot.units:
            self.warnings.append(
                "no pilot wave: no low-criticality service has all its dependencies low-criticality"
            )

    def place(self, unit_id: int) -> None:
        if unit_id in self.pins and self._keep_pin(unit_id):
            return
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
