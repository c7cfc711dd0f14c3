"""``migrate bwlimit``: change the bandwidth limit of the running apply, through the state
database it reads every second; or show what is in force. The change holds for that run
only (the run that holds the lock when it is made): a later apply takes its own --bwlimit or
the policy's, never a limit set weeks ago for another run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from migrate.audit import AuditEvent
from migrate.bandwidth import parse_limit
from migrate.errors import InvalidInput
from migrate.executor.throttle import CURRENT_SETTING, OVERRIDE_SETTING
from migrate.ledger import LockInfo
from migrate.timeutil import now_iso


class LimitReader(Protocol):
    def setting(self, name: str) -> str | None: ...

    def lock_info(self) -> LockInfo | None: ...


class BandwidthStore(LimitReader, Protocol):
    def set_setting(self, name: str, value: str | None) -> None: ...

    def audit(self, events: Sequence[AuditEvent]) -> None: ...


@dataclass(frozen=True)
class BandwidthView:
    """The operator's limit (None: none set), and what the running apply holds (None: no
    apply is running, or it has not said yet)."""

    override: dict[str, Any] | None
    holding: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {"override": self.override, "running": self.holding}


def set_limit(store: BandwidthStore, text: str | None, operator: str) -> BandwidthView:
    """Set (``text``) or remove (None) the running apply's limit; audited either way."""
    if text is not None:
        try:
            parse_limit(text)
        except ValueError as error:
            raise InvalidInput(f"bwlimit {text[:60]!r}: {error}") from None
        lock = store.lock_info()
        if lock is None:
            raise InvalidInput(
                "no apply is running (the state is not locked): a change is made for the "
                "running apply only; give the next one --bwlimit, or set "
                "policy.bandwidth_limit in the inventory"
            )
        value: str | None = json.dumps(
            {"limit": text, "run_id": lock.run_id, "set_at": now_iso(), "operator": operator},
            sort_keys=True,
        )
    else:
        value = None
    store.set_setting(OVERRIDE_SETTING, value)
    store.audit(
        [
            AuditEvent(
                "bandwidth.set" if text is not None else "bandwidth.reset",
                "bwlimit",
                detail={"limit": text},
            )
        ]
    )
    return show(store)


def show(store: LimitReader) -> BandwidthView:
    """The change made for the running apply (None: none, or made for a run now over), and
    what that apply holds."""
    override = _json(store.setting(OVERRIDE_SETTING))
    lock = store.lock_info()
    if override is not None and (lock is None or override.get("run_id") != lock.run_id):
        override = None
    return BandwidthView(override, running_limit(store))


def running_limit(store: LimitReader) -> dict[str, Any] | None:
    """What the apply that holds the lock says it holds (a stopped run's word is not)."""
    holding = _json(store.setting(CURRENT_SETTING))
    lock = store.lock_info()
    if holding is None or lock is None or holding.get("run_id") != lock.run_id:
        return None
    return holding


def _json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
