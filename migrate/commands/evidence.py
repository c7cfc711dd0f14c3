"""Evidence files: one JSON per wave completed (and per `migrate verify`), with counts, bytes,
the proof each object has, verifications, mismatches, freeze windows, the plan fingerprint and
the tool version. The SHA-256 of each file is recorded in the ledger, so an edited file shows.

Each file also carries the audit log's head when it was written (``audit_head``): kept outside
the ledger, and copied into the evidence pack, it shows the newest audit events deleted
(``evidence_anchors``, checked by ``migrate audit verify``)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from migrate import __version__
from migrate.audit import Anchor, anchor_from_text
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
            "approvals": [
                {"step": a.step, "operator": a.operator, "approved_at": a.approved_at}
                for a in store.approvals_of(name)
            ],
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
        "audit_head": head.to_json() if (head := store.audit_head()) is not None else None,
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


def scan_evidence(folder: Path | None) -> dict[Path, bytes]:
    """The evidence files of a folder, read before the ledger is (see evidence_anchors)."""
    if folder is None or not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.glob("*.json")):
        try:
            found[path.resolve()] = path.read_bytes()
        except OSError:
            continue
    return found


def evidence_anchors(
    scanned: Mapping[Path, bytes], recorded: Sequence[tuple[str, str]]
) -> tuple[list[Anchor], int]:
    """The audit heads of the evidence files (those the ledger lists, whose SHA-256 must still
    match, and those ``scanned`` beside it), and how many listed files were not found (moved
    to an archive: give them to `audit verify --head`). Files read before the ledger's
    snapshot, or listed in it, never hold a head newer than the snapshot."""
    anchors: list[Anchor] = []
    seen: set[Path] = set()
    missing = 0
    for name, sha256 in recorded:
        path = Path(name).resolve()
        seen.add(path)
        data = scanned.get(path)
        if data is None:
            try:
                data = path.read_bytes()
            except OSError:
                missing += 1
                continue
        if hashlib.sha256(data).hexdigest() != sha256:
            anchors.append(
                Anchor(
                    f"evidence file {name}",
                    None,
                    problem="it does not match the SHA-256 the ledger recorded for it (edited)",
                )
            )
            continue
        anchors.extend(_evidence_anchor(name, data))
    for path, data in scanned.items():
        if path not in seen:
            anchors.extend(_evidence_anchor(str(path), data))
    return anchors, missing


def _evidence_anchor(name: str, data: bytes) -> list[Anchor]:
    """The head an evidence file carries (none in files written before heads were kept)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return [Anchor(f"evidence file {name}", None, problem="it is not JSON")]
    if not isinstance(parsed, dict) or parsed.get("audit_head") is None:
        return []
    return [anchor_from_text(data.decode("utf-8", errors="replace"), f"evidence file {name}")]
