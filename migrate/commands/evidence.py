"""Evidence files: one JSON per wave completed (and per `migrate verify`), with counts, bytes,
the proof each object has, verifications, mismatches, freeze windows, the plan fingerprint and
the tool version. The SHA-256 of each file is recorded in the ledger, so an edited file shows."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from migrate import __version__
from migrate.commands.loading import LoadedPlan
from migrate.repositories import EvidenceStore
from migrate.timeutil import now_iso


def evidence_folder(state_url_file: Path | None) -> Path:
    """Beside the SQLite ledger, else ``.migrate/evidence``."""
    base = state_url_file.parent if state_url_file is not None else Path(".migrate")
    return base / "evidence"


def wave_evidence(
    store: EvidenceStore,
    loaded: LoadedPlan,
    wave: int,
    names: list[str],
    run_id: str,
    kind: str = "wave",
) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for name in names:
        record = store.service(name)
        counts = store.counts(name)
        latest = store.latest_verification(name)
        failed = store.failures(name, 100)
        services[name] = {
            "state": record.state,
            "objects": counts.total,
            "objects_done": counts.done,
            "objects_failed": counts.failed,
            "bytes": counts.bytes_total,
            "bytes_done": counts.bytes_done,
            "proofs": store.proof_counts(name),
            "verification": {"level": latest[0], "differences": latest[1], "at": latest[2]}
            if latest
            else None,
            "mismatches": [{"key": k, "reason": r} for k, r in failed],
            "freeze": {
                "started_at": record.freeze_started_at,
                "seconds": record.freeze_seconds,
                "budget_seconds": loaded.plan.services[name].max_downtime_seconds,
            },
            "cutover_at": record.cutover_at,
        }
    return {
        "kind": kind,
        "wave": wave,
        "run": run_id,
        "created_at": now_iso(),
        "tool_version": __version__,
        "plan_sha256": loaded.plan_sha256,
        "inventory": loaded.plan.inventory,
        "inventory_sha256": loaded.plan.inventory_sha256,
        "services": services,
    }


def write_evidence(store: EvidenceStore, folder: Path, data: dict[str, Any]) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = data["created_at"].replace(":", "").replace("-", "").replace(".", "")
    path = folder / f"{data['kind']}-{data['wave']:03d}-{stamp}.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    digest = hashlib.sha256(text.encode()).hexdigest()
    store.record_evidence(int(data["wave"]), str(path), digest)
    return path, digest
