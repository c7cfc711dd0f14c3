"""Build what the commands run on: the adapters (from ``migrate.wiring``), the ledger, and who
and where this process is."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from migrate.audit import HMAC_KEY_ENV
from migrate.processes import process_alive, process_start
from migrate.redact import redactor, register_url_password
from migrate.wiring import (
    build_source,
    build_source_from,
    build_target,
    credentials_environment,
    database_connector,
    database_surveyor,
    s3_settings,
    secrets_environment,
    target_capabilities,
)

if TYPE_CHECKING:
    from migrate.commands.apply import Identity
    from migrate.ledger import LockInfo
    from state.store import Store

__all__ = [
    "audit_key",
    "build_source",
    "build_source_from",
    "build_target",
    "credentials_environment",
    "database_connector",
    "database_surveyor",
    "holder_alive",
    "identity",
    "open_store",
    "process_start",
    "s3_settings",
    "secrets_environment",
    "target_capabilities",
]


def identity(state: str, operator: str | None) -> Identity:
    from migrate.commands.apply import Identity

    pid = os.getpid()
    return Identity(
        run_id=str(uuid.uuid4()),
        host=socket.gethostname(),
        pid=pid,
        pid_start=process_start(pid),
        operator=operator or getpass.getuser(),
        state_url=state,
    )


def holder_alive(holder: LockInfo) -> bool | None:
    """True/False when the lock holder runs on this host (the process decides: same pid and
    same start time); None when it is another host."""
    return process_alive(holder.host, holder.pid, holder.pid_start)


def audit_key(env: Mapping[str, str]) -> bytes | None:
    value = env.get(HMAC_KEY_ENV)
    redactor.register(value)
    return value.encode() if value else None


def open_store(url: str, operator: str | None = None, *, readonly: bool = False) -> Store:
    """The ledger, with the audit actor (operator, host) and the audit signing key set."""
    from state.store import Store

    register_url_password(url)
    store = Store.open(url, readonly=readonly)
    store.set_actor(operator or getpass.getuser(), socket.gethostname(), audit_key(os.environ))
    return store
