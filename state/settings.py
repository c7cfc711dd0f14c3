"""Settings an operator changes while an apply runs, and what the run says it holds: rows of
``migrate_meta`` under ``setting:`` (no schema change; readers of older versions ignore them).
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from state.database import Database
from state.schema import meta

PREFIX = "setting:"


class SettingRecords(Database):
    def setting(self, name: str) -> str | None:
        with self.tx() as c:
            value = c.execute(select(meta.c.value).where(meta.c.key == PREFIX + name)).scalar()
        return None if value is None else str(value)

    def set_setting(self, name: str, value: str | None) -> None:
        """Write (or, with None, remove) one setting, in its own transaction."""
        key = PREFIX + name
        with self.tx() as c:
            if value is None:
                c.execute(delete(meta).where(meta.c.key == key))
                return
            changed = c.execute(update(meta).where(meta.c.key == key).values(value=value))
            if changed.rowcount == 0:
                c.execute(meta.insert().values(key=key, value=value))
