"""The service kinds, registered in one place: adding a kind is one module and one line here.

The registry is imported lazily by the inventory's validation (the kinds' actions pull in the
executor), so that importing the configuration stays light.
"""

from __future__ import annotations

from migrate.kinds import database, hooks_only, object_store
from migrate.kinds.base import ServiceKind

_MODULES = (object_store, database, hooks_only)

KINDS: dict[str, ServiceKind] = {
    name: module.KIND for module in _MODULES for name in module.KIND.names
}


def kind(name: str) -> ServiceKind:
    """The kind registered under ``name`` (KeyError for an unknown one)."""
    return KINDS[name]


def kind_names() -> tuple[str, ...]:
    return tuple(KINDS)
