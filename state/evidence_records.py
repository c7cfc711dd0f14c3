"""Verifications, probes of the target and evidence files, as recorded."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, select

from state.clock import now_iso
from state.database import Database
from state.schema import (
    evidence,
    probes,
    verifications,
)


class EvidenceRecords(Database):
    def record_verification(
        self, service: str, level: str, checked: int, differences: int, summary: str
    ) -> None:
        with self.tx() as c:
            c.execute(
                verifications.insert().values(
                    service=service,
                    level=level,
                    checked=checked,
                    differences=differences,
                    recorded_at=now_iso(),
                    summary=summary,
                )
            )

    def latest_verification(self, service: str) -> tuple[str, int, str] | None:
        """(level, differences, recorded_at) of the last verification of the service."""
        with self.tx() as c:
            row = c.execute(
                select(
                    verifications.c.level, verifications.c.differences, verifications.c.recorded_at
                )
                .where(verifications.c.service == service)
                .order_by(verifications.c.id.desc())
                .limit(1)
            ).first()
        return (row.level, int(row.differences), row.recorded_at) if row else None

    def latest_verification_summary(self, service: str) -> tuple[str, dict[str, Any]] | None:
        """(recorded_at, summary) of the last verification of the service: what it compared,
        and each difference with its cause."""
        with self.tx() as c:
            row = c.execute(
                select(verifications.c.recorded_at, verifications.c.summary)
                .where(verifications.c.service == service)
                .order_by(verifications.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        try:
            summary = json.loads(row.summary)
        except ValueError:  # a summary of another form: the row still says when
            summary = {}
        return row.recorded_at, summary if isinstance(summary, dict) else {}

    def record_probe(
        self, endpoint: str, preset: str, ok: bool, contradicts: bool, summary: str
    ) -> None:
        with self.tx() as c:
            c.execute(
                probes.insert().values(
                    endpoint=endpoint,
                    preset=preset,
                    ok=ok,
                    contradicts_preset=contradicts,
                    recorded_at=now_iso(),
                    summary=summary,
                )
            )

    def latest_probe(self, endpoint: str, preset: str) -> tuple[bool, bool, str, str] | None:
        """(ok, contradicts the preset, recorded at, summary) of the last probe of a target."""
        with self.tx() as c:
            row = c.execute(
                select(
                    probes.c.ok, probes.c.contradicts_preset, probes.c.recorded_at, probes.c.summary
                )
                .where(and_(probes.c.endpoint == endpoint, probes.c.preset == preset))
                .order_by(probes.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return bool(row.ok), bool(row.contradicts_preset), row.recorded_at, row.summary

    def record_evidence(self, wave: int, path: str, sha256: str) -> None:
        with self.tx() as c:
            c.execute(
                evidence.insert().values(wave=wave, path=path, sha256=sha256, recorded_at=now_iso())
            )

    def evidence_files(self) -> list[tuple[str, str]]:
        """(path, SHA-256) of every evidence file written, oldest first."""
        with self.tx() as c:
            rows = c.execute(select(evidence.c.path, evidence.c.sha256).order_by(evidence.c.id))
            return [(str(row.path), str(row.sha256)) for row in rows]
