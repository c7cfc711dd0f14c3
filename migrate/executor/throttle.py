"""The bandwidth limit held while copying: a token bucket every copy thread of a process takes
its bytes from, and the governor that sets its rate from the timetable and the operator.

The bucket starts empty, fills up to one second of bytes while the copy is idle, and may go
into debt: a reader pays for each chunk it has read and waits until the debt is paid before
it reads (or writes) more. Over any window the bytes read stay within the rate, plus one
second's worth after an idle spell, plus one chunk per thread read ahead of its payment (at
4 MiB/s with 1 MiB chunks and eight threads: within 5 % over a minute, and a 32 MiB copy
never ends before 8 s). A change of rate takes effect at once, for waiting readers too.

On a dask cluster each worker process has its own bucket, at an equal share of the limit
(the limit divided by the workers), which every batch brings along: the limit holds for the
workers together, and a change reaches a worker with its next batch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from migrate.audit import AuditEvent
from migrate.bandwidth import Limit, describe_change, describe_rate, parse_limit
from migrate.errors import MigrateError

PAID = 1e-6
"""A debt below this many bytes is paid (the clock's float arithmetic rounds)."""
WAIT_SLICE = 0.25
"""A waiting reader looks again at least this often (a new rate, a stop)."""


class RateLimiter:
    """Bytes per second for all threads of this process (None: no limit), served in the
    order the bytes were taken: each reader waits until the bytes allowed so far reach its
    own place in the line, so no reader is overtaken by later ones."""

    def __init__(
        self, rate: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._rate = rate
        self._taken = 0.0
        """Bytes taken so far, by every reader."""
        self._allowed = 0.0
        """Bytes the limit has allowed so far: grows at the rate, up to one second ahead of
        what was taken (the burst an idle spell leaves); no burst at the start."""
        self._stamp = clock()
        self._changed = threading.Condition()
        self.waited = 0.0
        """Seconds readers spent waiting on the limit (all threads together)."""

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        with self._changed:
            if rate == self._rate:
                return
            self._refill()
            was_limited = self._rate is not None
            self._rate = rate
            if rate is None or not was_limited:
                self._allowed = self._taken  # no debt, and no burst either
            else:  # a lower limit keeps at most its own second ahead
                self._allowed = min(self._allowed, self._taken + rate)
            self._changed.notify_all()

    def take(self, count: int, stop: threading.Event | None = None) -> None:
        """Take ``count`` bytes; wait until the limit has allowed every byte taken up to
        these (returns early on stop: the caller stops reading)."""
        with self._changed:
            if self._rate is None:
                return
            self._refill()
            self._taken += count
            place = self._taken
            started = self._clock()
            while self._rate is not None and self._allowed < place - PAID:
                if stop is not None and stop.is_set():
                    break
                self._changed.wait(min(WAIT_SLICE, (place - self._allowed) / self._rate))
                self._refill()
            self.waited += self._clock() - started

    def throttled(
        self, chunks: Iterator[bytes], stop: threading.Event | None = None
    ) -> Iterator[bytes]:
        """The chunks of a read, each one paid for as it is read."""
        for chunk in chunks:
            self.take(len(chunk), stop)
            yield chunk

    def _refill(self) -> None:
        now = self._clock()
        if self._rate is not None:
            grown = self._allowed + (now - self._stamp) * self._rate
            self._allowed = min(grown, self._taken + self._rate)
        else:
            self._allowed = self._taken
        self._stamp = now


UNLIMITED = RateLimiter()


@dataclass(frozen=True)
class Setting:
    """The limit in force, and where it comes from (for status and the progress line)."""

    rate: float | None
    source: str
    """``--bwlimit``, ``policy.bandwidth_limit``, ``migrate bwlimit`` (an operator's
    change to a running apply), or ``none``."""
    text: str = ""
    next_change: str | None = None
    """ISO time of the timetable's next change, None when it has none."""

    def describe(self) -> str:
        shown = describe_rate(self.rate)
        if self.source == "none":
            return "none"
        detail = f" ({self.text})" if self.text and self.text != shown else ""
        change = f", next change {describe_change(self.next_change)}" if self.next_change else ""
        return f"{shown} by {self.source}{detail}{change}"


def resolve(
    base: Limit | None,
    base_source: str,
    override: Limit | None,
    moment: datetime,
) -> Setting:
    """What is in force at ``moment``: an operator's change to the run wins over the run's
    ``--bwlimit``, which wins over the plan's ``policy.bandwidth_limit``."""
    chosen, source = (override, "migrate bwlimit") if override is not None else (base, base_source)
    if chosen is None:
        return Setting(None, "none")
    change = chosen.next_change(moment)
    return Setting(
        chosen.rate_at(moment),
        source,
        chosen.text,
        change.isoformat(timespec="seconds") if change is not None else None,
    )


OVERRIDE_SETTING = "bandwidth_limit"
"""The operator's limit for the running apply (``migrate bwlimit``), with that run's id."""
CURRENT_SETTING = "bandwidth_current"
"""What the running apply holds (JSON), for status and the dashboard."""
POLL_SECONDS = 1.0


class Settings(Protocol):
    def setting(self, name: str) -> str | None: ...

    def set_setting(self, name: str, value: str | None) -> None: ...

    def audit(self, events: Sequence[AuditEvent]) -> None: ...


class Governor:
    """Sets the limiter's rate from the run's limit and the operator's override, every
    second (a timetable's boundary is kept to the second), and writes what it holds for
    status. ``processes``: the processes that copy (a cluster's workers), each taking an
    equal share (1: this process alone)."""

    def __init__(
        self,
        settings: Settings,
        limiter: RateLimiter,
        base: Limit | None,
        base_source: str,
        run_id: str,
        *,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self._settings = settings
        self.limiter = limiter
        self._base = base
        self._base_source = base_source
        self._run_id = run_id
        self._now = now
        self.current = Setting(None, "none")
        self._published: str | None = None
        self.last_error: Exception | None = None
        """Why the last refresh failed, if it did (the rate it held stayed)."""

    def refresh(self) -> Setting:
        """Read the override, resolve, set the rate, publish a change; returns the setting."""
        override = parse_override(self._settings.setting(OVERRIDE_SETTING), self._run_id)
        setting = resolve(self._base, self._base_source, override, self._now())
        self.current = setting
        self.limiter.set_rate(setting.rate)
        payload = json.dumps(
            {
                "run_id": self._run_id,
                "bytes_per_s": setting.rate,
                "source": setting.source,
                "text": setting.text,
                "next_change": setting.next_change,
            },
            sort_keys=True,
        )
        changed = payload != self._published
        if changed or self._settings.setting(CURRENT_SETTING) != payload:
            self._settings.set_setting(CURRENT_SETTING, payload)  # again if another wrote
        if changed and (self._published is not None or setting.source != "none"):
            self._settings.audit([self._event(setting)])
        self._published = payload
        return setting

    def _event(self, setting: Setting) -> AuditEvent:
        """When the limit changed, to what, and why: the evidence of what the copy was
        allowed (a timetable's boundary, an operator's change)."""
        return AuditEvent(
            "bandwidth.changed",
            self._run_id,
            detail={
                "bytes_per_s": setting.rate,
                "source": setting.source,
                "limit": setting.text or "off",
            },
        )

    @contextmanager
    def running(self, stop: threading.Event) -> Iterator[Governor]:
        """Refresh now, then every second on a thread of its own, until the block ends."""
        self.refresh()
        done = threading.Event()

        def loop() -> None:
            while not done.wait(POLL_SECONDS) and not stop.is_set():
                try:
                    self.refresh()
                except Exception as error:  # the state database busy, say: the last rate
                    self.last_error = error  # holds, the next second tries again; never dies

        thread = threading.Thread(target=loop, name="bandwidth", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()
            with suppress(MigrateError):
                self._withdraw()

    def _withdraw(self) -> None:
        """Take back what this run said it holds, never what a later run (after a lock
        takeover) says."""
        held = self._settings.setting(CURRENT_SETTING)
        try:
            mine = held is not None and json.loads(held).get("run_id") == self._run_id
        except (ValueError, AttributeError):
            mine = False
        if mine:
            self._settings.set_setting(CURRENT_SETTING, None)


def parse_override(text: str | None, run_id: str | None) -> Limit | None:
    """The operator's limit for the run ``run_id`` as stored (JSON with its text and run),
    None when unset, made for another run, or unreadable."""
    if not text or run_id is None:
        return None
    try:
        stored = json.loads(text)
        if stored["run_id"] != run_id:
            return None
        return parse_limit(str(stored["limit"]))
    except (ValueError, KeyError, TypeError):
        return None
