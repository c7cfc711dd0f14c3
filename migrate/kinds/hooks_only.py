"""Services the tool does not move itself (compute, identity, network, analytics, workspaces):
each step runs its hook, or only records itself when it has none."""

from __future__ import annotations

from migrate.kinds.base import KindSteps, NoActions, ServiceKind, StepResources


def _build(resources: StepResources) -> KindSteps:
    return NoActions()


KIND = ServiceKind(
    names=("compute", "identity", "network", "analytics", "workspace"),
    steps=("prepare", "freeze", "cutover", "validate"),
    needs_data=False,
    build=_build,
    description="hooks at prepare, freeze, cutover and validate",
)
