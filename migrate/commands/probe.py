"""``migrate probe``: run the canary checks on the inventory's target and record them; apply
then refuses a target whose last probe contradicted its preset."""

from __future__ import annotations

import json
from collections.abc import Callable

from migrate.audit import AuditEvent
from migrate.config import Inventory
from migrate.errors import RefusedForSafety
from migrate.executor.probe import ProbeReport, probe
from migrate.inventory.policy import resolved_target_endpoint
from migrate.naming import bucket_problem
from migrate.ports import Encryption, TargetStore
from migrate.providers import target_provider
from migrate.repositories import EvidenceRecords, ProbeStore

PROBE_BUCKET = "migrate-probe"


def target_identity(inventory: Inventory) -> tuple[str, str]:
    target = inventory.target
    endpoint = resolved_target_endpoint(inventory) or f"file://{target.path}"
    return endpoint, target.preset if target_provider(target.provider).network else "local"


def probe_bucket(inventory: Inventory) -> str:
    name = f"{inventory.target.bucket_prefix}{PROBE_BUCKET}"
    return name if bucket_problem(name) is None else PROBE_BUCKET


def run_probe(
    inventory: Inventory,
    store: ProbeStore,
    target: TargetStore,
    checksum_trailer: Callable[[str, str, bytes], str] | None,
) -> ProbeReport:
    encryption = Encryption(inventory.target.encryption, inventory.target.kms_key_id)
    provider = target_provider(inventory.target.provider)
    features = provider.features(inventory.target.preset).as_dict()
    report = probe(target, probe_bucket(inventory), encryption, checksum_trailer, features)
    endpoint, preset = target_identity(inventory)
    summary = json.dumps(report.summary())
    store.record_probe(endpoint, preset, report.ok, bool(report.contradictions), summary)
    store.audit(
        [
            AuditEvent(
                "target.probe",
                endpoint,
                "ok" if report.ok else "failed",
                detail={
                    "preset": preset,
                    "checks": len(report.checks),
                    "contradictions": [c.name for c in report.contradictions],
                },
            )
        ]
    )
    return report


def refuse_contradicted_target(inventory: Inventory, store: EvidenceRecords) -> None:
    endpoint, preset = target_identity(inventory)
    latest = store.latest_probe(endpoint, preset)
    if latest is None or not latest[1]:
        return
    checks = json.loads(latest[3])["checks"]
    failed = "; ".join(f"{c['name']}: {c['detail']}" for c in checks if c["contradicts_preset"])
    raise RefusedForSafety(
        f"the last probe of {endpoint} ({latest[2]}) contradicts preset '{preset}': {failed}. "
        "Fix the preset or the provider's settings, then run `migrate probe` again"
    )


def write_proof(inventory: Inventory, store: EvidenceRecords) -> tuple[bool, str]:
    """How apply proves each write, from the last probe of this target: by the write's own
    answer where that probe found the answers prove it, under the encryption the inventory
    asks now; otherwise by a HEAD after each write. With the sentence that says which."""
    endpoint, preset = target_identity(inventory)
    latest = store.latest_probe(endpoint, preset)
    if latest is None:
        return False, "a HEAD after each write (no `migrate probe` of this target on record)"
    findings = json.loads(latest[3]).get("findings", {})
    mode = inventory.target.encryption
    if findings.get("proving_answers") is True and findings.get("encryption") == mode:
        return True, f"the write's own answer, without a HEAD (probe of {latest[2]})"
    if findings.get("proving_answers") is True:
        return False, (
            f"a HEAD after each write (the probe of {latest[2]} ran with encryption "
            f"{findings.get('encryption')}, the inventory asks {mode})"
        )
    return (
        False,
        f"a HEAD after each write (the probe of {latest[2]} found the answers do not prove it)",
    )
