"""--bwlimit and policy.bandwidth_limit: rclone's syntax, timetables, and the token bucket the
copy threads share."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate.audit import AuditEvent
from migrate.bandwidth import parse_limit, parse_limit_rate
from migrate.executor.throttle import (
    CURRENT_SETTING,
    OVERRIDE_SETTING,
    Governor,
    RateLimiter,
    resolve,
)

MiB = 1024**2


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10", 10 * 1024),  # a bare number is KiB/s, as in rclone
        ("512K", 512 * 1024),
        ("50M", 50 * MiB),
        ("50MiB", 50 * MiB),
        ("50MiB/s", 50 * MiB),
        ("1.5G", 1.5 * 1024**3),
        ("2048B", 2048),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates_in_rclone_syntax(text: str, rate: float | None) -> None:
    assert parse_limit_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fast", "unparseable bandwidth"),
        ("0", "must be positive"),
        ("0.0001", "under 1K"),
        ("100B", "under 1K"),
        ("-5M", "unparseable"),
        ("08:00", "unparseable"),
        ("25:00,1M", "not a time of day"),
        ("08:61,1M", "not a time of day"),
        ("08:00,1M 08:00,2M", "two entries for 08:00"),
        ("08:00,1M 19:00,fast", "timetable entry '19:00,fast'"),
        ("Xyz-08:00,1M", "expected HH:MM,RATE"),
        ("", "empty"),
        ("1M " * 5000, "at most"),
    ],
)
def test_bad_limits_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_limit(text)


def test_a_daily_timetable() -> None:
    limit = parse_limit("08:00,50M 19:00,off")
    day = datetime(2026, 12, 2)
    assert limit.rate_at(day.replace(hour=3)) is None  # before 08:00: the day before's 19:00
    assert limit.rate_at(day.replace(hour=8)) == 50 * MiB
    assert limit.rate_at(day.replace(hour=18, minute=59)) == 50 * MiB
    assert limit.rate_at(day.replace(hour=19)) is None
    assert limit.next_change(day.replace(hour=12)) == day.replace(hour=19)
    assert limit.next_change(day.replace(hour=20)) == datetime(2026, 12, 3, 8)
    assert limit.lowest() == 50 * MiB


def test_a_weekly_timetable() -> None:
    limit = parse_limit("Mon-08:00,10M Sat-00:00,off")
    wednesday = datetime(2026, 12, 2, 3)  # a Wednesday
    assert limit.rate_at(wednesday) == 10 * MiB
    assert limit.next_change(wednesday) == datetime(2026, 12, 5, 0, 0)
    assert limit.rate_at(datetime(2026, 12, 6, 12)) is None  # Sunday


def test_a_single_rate_never_changes() -> None:
    limit = parse_limit("4M")
    assert not limit.timetable
    assert limit.rate_at(datetime(2026, 1, 1)) == 4 * MiB
    assert limit.next_change(datetime(2026, 1, 1)) is None


@given(st.integers(0, 23), st.integers(0, 59), st.integers(0, 23), st.integers(0, 59))
def test_a_timetable_rate_is_the_last_entry_at_or_before(
    h1: int, m1: int, h2: int, m2: int
) -> None:
    if (h1, m1) == (h2, m2):
        return
    limit = parse_limit(f"{h1:02d}:{m1:02d},1M {h2:02d}:{m2:02d},2M")
    for hour in range(24):
        moment = datetime(2026, 12, 2, hour, 30)
        minute = hour * 60 + 30
        starts = {h1 * 60 + m1: 1 * MiB, h2 * 60 + m2: 2 * MiB}
        before = [start for start in starts if start <= minute]
        expected = starts[max(before)] if before else starts[max(starts)]
        assert limit.rate_at(moment) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_starts_empty_and_readers_wait_for_their_debt() -> None:
    clock = Clock()
    limiter = RateLimiter(100.0, clock=clock)
    done = threading.Event()

    def reader() -> None:
        limiter.take(50)  # no burst at the start: 50 bytes at 100 B/s is half a second
        done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert not done.wait(0.3)
    clock.now = 0.4
    assert not done.wait(0.3)  # 10 bytes still owed
    clock.now = 0.5
    assert done.wait(2.0)
    thread.join()
    clock.now = 10.0  # idle: the bucket fills up to one second, no more
    limiter.take(100)
    blocked = threading.Thread(target=limiter.take, args=(1,))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()
    clock.now = 10.02
    blocked.join(2.0)
    assert not blocked.is_alive()


def test_readers_are_served_in_the_order_they_took_their_bytes() -> None:
    """A reader that came later never gets through before an earlier one: no copy starves
    (an Azure read left idle too long is dropped by the server)."""
    clock = Clock()
    limiter = RateLimiter(100.0, clock=clock)
    first, second = threading.Event(), threading.Event()
    one = threading.Thread(target=lambda: (limiter.take(100), first.set()))  # type: ignore[func-returns-value]
    one.start()
    assert not first.wait(0.1)
    two = threading.Thread(target=lambda: (limiter.take(10), second.set()))  # type: ignore[func-returns-value]
    two.start()
    clock.now = 0.5
    assert not first.wait(0.3)
    assert not second.is_set()
    clock.now = 1.0  # the first reader's 100 bytes are allowed, not the second's 10
    assert first.wait(2.0)
    assert not second.wait(0.3)
    clock.now = 1.1
    assert second.wait(2.0)
    one.join()
    two.join()


def test_lifting_the_limit_frees_waiting_readers_at_once() -> None:
    clock = Clock()
    limiter = RateLimiter(10.0, clock=clock)
    finished = threading.Event()

    def reader() -> None:
        limiter.take(10_000)
        finished.set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert not finished.wait(0.3)
    limiter.set_rate(None)
    assert finished.wait(2.0)
    thread.join()


def test_a_stop_ends_the_wait() -> None:
    limiter = RateLimiter(1.0, clock=Clock())
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    limiter.take(1_000_000, stop)
    assert time.monotonic() - started < 5  # not the 11 days the debt would take


def test_reads_through_the_bucket_are_counted_whole() -> None:
    clock = Clock()
    limiter = RateLimiter(None, clock=clock)
    chunks = [b"x" * 10] * 5
    assert b"".join(limiter.throttled(iter(chunks))) == b"x" * 50


class Settings:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.events: list[AuditEvent] = []

    def setting(self, name: str) -> str | None:
        return self.values.get(name)

    def set_setting(self, name: str, value: str | None) -> None:
        if value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = value

    def audit(self, events: Sequence[AuditEvent]) -> None:
        self.events += events


def test_the_governor_follows_the_timetable_and_the_operator() -> None:
    settings = Settings()
    moment = [datetime(2026, 12, 2, 7, 59, 59)]
    limiter = RateLimiter()
    governor = Governor(
        settings,
        limiter,
        parse_limit("08:00,4M 19:00,off"),
        "--bwlimit",
        "run-1",
        now=lambda: moment[0],
    )
    assert governor.refresh().rate is None
    moment[0] = datetime(2026, 12, 2, 8, 0, 0)
    assert governor.refresh().rate == 4 * MiB
    assert limiter.rate == 4 * MiB
    held = json.loads(settings.values[CURRENT_SETTING])
    assert held == {
        "run_id": "run-1",
        "bytes_per_s": 4 * MiB,
        "source": "--bwlimit",
        "text": "08:00,4M 19:00,off",
        "next_change": "2026-12-02T19:00:00",
    }
    settings.values[OVERRIDE_SETTING] = json.dumps({"limit": "1M", "run_id": "run-0"})
    assert governor.refresh().source == "--bwlimit"  # made for another run: not this one's
    settings.values[OVERRIDE_SETTING] = json.dumps({"limit": "1M", "run_id": "run-1"})
    setting = governor.refresh()
    assert (setting.rate, setting.source) == (1 * MiB, "migrate bwlimit")
    assert limiter.rate == 1 * MiB
    changes = [(e.detail["bytes_per_s"], e.detail["source"]) for e in settings.events]
    assert changes == [(None, "--bwlimit"), (4 * MiB, "--bwlimit"), (1 * MiB, "migrate bwlimit")]


def test_no_limit_anywhere_is_no_limit() -> None:
    setting = resolve(None, "none", None, datetime(2026, 12, 2))
    assert (setting.rate, setting.source, setting.describe()) == (None, "none", "none")


def test_the_next_change_names_its_day_when_it_is_not_today() -> None:
    from migrate.bandwidth import describe_change

    today = datetime(2026, 12, 2, 3)  # a Wednesday
    assert describe_change("2026-12-02T19:00:00", today) == "at 19:00"
    assert describe_change("2026-12-05T00:00:00", today) == "on Sat at 00:00"
