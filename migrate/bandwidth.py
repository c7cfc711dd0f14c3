"""A bandwidth limit as rclone writes it (``--bwlimit``), and what it allows at a moment.

- a rate: ``50M`` (50 MiB/s), ``1.5G``, ``512K``; a bare number is KiB/s as in rclone
  (``10`` is 10 KiB/s); ``B``, ``K``, ``M``, ``G``, ``T``, ``P`` are binary multiples,
  ``50MiB`` and ``50MiB/s`` are taken too; ``off`` is no limit;
- a timetable: ``"08:00,50M 19:00,off"``: from each time on, each day, that rate, until the
  next entry (before the first entry of a day, the last one of the day before holds); an
  entry may name a day, ``Mon-08:00,50M``, for a weekly timetable (days then stand for
  themselves, and entries without a day are taken for every day). Times are the local time
  of the machine that runs apply (``TZ``), as in rclone.

The limit caps the bytes the copy reads from the source, across threads and dask workers
together (``migrate.executor.throttle``).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgtp]?)(i?)(b?)(?:/s)?$", re.IGNORECASE)
_FACTOR = {"": 1024, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_ENTRY = re.compile(r"^(?:(mon|tue|wed|thu|fri|sat|sun)-)?(\d{1,2}):(\d{2}),(.+)$", re.IGNORECASE)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_TEXT = 4096
MAX_ENTRIES = 7 * 24 * 4
MAX_RATE = 2**63 - 1
MIN_RATE = 1024
WEEK = 7 * 86400


def parse_limit_rate(text: str) -> float | None:
    """Bytes per second of one rate (None for ``off``); ValueError names the text."""
    value = text.strip()
    if value.lower() == "off":
        return None
    match = _RATE.match(value)
    if match is None or (match.group(3) and not match.group(2)):
        raise ValueError(
            f"unparseable bandwidth {value[:40]!r}: expected e.g. 50M (50 MiB/s), 512K, 1G or off"
        )
    rate = float(match.group(1)) * _FACTOR[match.group(2).lower()]
    if rate <= 0:
        raise ValueError(f"bandwidth {value!r} must be positive (or 'off')")
    if rate < MIN_RATE:
        raise ValueError(
            f"bandwidth {value!r} is under 1K (1 KiB/s): a copy would never end; give 1K or more"
        )
    if rate > MAX_RATE:
        raise ValueError(f"bandwidth {value!r} is out of range")
    return rate


@dataclass(frozen=True)
class Entry:
    minute: int
    """Minutes into the week (Monday 00:00 is 0), or into the day when ``day`` is None."""
    rate: float | None
    day: int | None = None


@dataclass(frozen=True)
class Limit:
    """A parsed ``--bwlimit`` or ``policy.bandwidth_limit``: one rate, or a timetable."""

    text: str
    entries: tuple[Entry, ...]
    points: tuple[tuple[int, float | None], ...] = ()
    """A timetable's entries as minutes into the week, in order (empty: one rate)."""

    @property
    def timetable(self) -> bool:
        return bool(self.points)

    def rate_at(self, moment: datetime) -> float | None:
        """The bytes per second allowed at ``moment`` (local time), None for no limit."""
        if not self.points:
            return self.entries[0].rate
        at = bisect.bisect_right([start for start, _ in self.points], _week_minute(moment))
        return self.points[at - 1][1]  # at 0: the week's last entry still holds

    def next_change(self, moment: datetime) -> datetime | None:
        """When the timetable next changes the rate after ``moment`` (None: never)."""
        if not self.points:
            return None
        now = _week_minute(moment)
        current = self.rate_at(moment)
        week = WEEK // 60
        ahead = sorted(((start - now - 1) % week + 1, rate) for start, rate in self.points)
        for minutes, rate in ahead:
            if rate != current:
                return moment.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
        return None

    def lowest(self) -> float | None:
        """The lowest rate the limit ever allows (None: it never limits)."""
        rates = [entry.rate for entry in self.entries if entry.rate is not None]
        return min(rates) if rates else None


def _expanded(entries: tuple[Entry, ...]) -> list[tuple[int, float | None]]:
    """Every entry as minutes into the week: an entry without a day stands for each day,
    except where an entry of that day at the same time says otherwise."""
    points: dict[int, float | None] = {}
    for entry in entries:
        if entry.day is None:
            for day in range(7):
                points.setdefault(day * 1440 + entry.minute, entry.rate)
    for entry in entries:
        if entry.day is not None:
            points[entry.day * 1440 + entry.minute] = entry.rate
    return list(points.items())


def _week_minute(moment: datetime) -> int:
    return moment.weekday() * 1440 + moment.hour * 60 + moment.minute


def parse_limit(text: str) -> Limit:
    """A rate or a timetable, checked whole (ValueError says which entry is wrong)."""
    if not isinstance(text, str):
        raise ValueError("a bandwidth limit is text: a rate such as 50M, or a timetable")
    if len(text) > MAX_TEXT:
        raise ValueError(f"a bandwidth limit is at most {MAX_TEXT} characters")
    parts = text.split()
    if not parts:
        raise ValueError("an empty bandwidth limit: give a rate such as 50M, or off")
    if len(parts) == 1 and "," not in parts[0]:
        return Limit(text, (Entry(-1, parse_limit_rate(parts[0])),))
    if len(parts) > MAX_ENTRIES:
        raise ValueError(f"a timetable has at most {MAX_ENTRIES} entries")
    entries = tuple(_entry(part) for part in parts)
    _no_twins(entries)
    return Limit(text, entries, tuple(sorted(_expanded(entries))))


def _entry(part: str) -> Entry:
    match = _ENTRY.match(part)
    if match is None:
        raise ValueError(
            f"timetable entry {part[:40]!r}: expected HH:MM,RATE (or Mon-HH:MM,RATE), "
            "e.g. 08:00,50M"
        )
    day, hour, minute, rate = match.groups()
    if int(hour) > 23 or int(minute) > 59:
        raise ValueError(f"timetable entry {part!r}: {hour}:{minute} is not a time of day")
    try:
        value = parse_limit_rate(rate)
    except ValueError as error:
        raise ValueError(f"timetable entry {part!r}: {error}") from None
    return Entry(int(hour) * 60 + int(minute), value, _DAYS.index(day.lower()) if day else None)


def _no_twins(entries: tuple[Entry, ...]) -> None:
    seen: set[tuple[int | None, int]] = set()
    for entry in entries:
        if (entry.day, entry.minute) in seen:
            hour, minute = divmod(entry.minute, 60)
            raise ValueError(f"timetable: two entries for {hour:02d}:{minute:02d}")
        seen.add((entry.day, entry.minute))


def describe_rate(rate: float | None) -> str:
    if rate is None:
        return "off"
    from migrate.units import format_bytes

    return f"{format_bytes(rate)}/s"


def describe_change(iso: str, today: datetime | None = None) -> str:
    """``at 19:00`` today, ``on Sat at 00:00`` another day (a timetable's next change)."""
    moment = datetime.fromisoformat(iso)
    day = (today or datetime.now()).date()
    if moment.date() == day:
        return f"at {moment:%H:%M}"
    return f"on {moment:%a} at {moment:%H:%M}"
