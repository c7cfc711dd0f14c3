"""The plan file (JSON): written by ``plan -o``, read and checked by ``apply``."""

from __future__ import annotations

import json

from pydantic import ValidationError

from migrate.errors import PlanFileError, Problem
from migrate.model import Plan


def dumps(plan: Plan) -> str:
    """Deterministic JSON: the same plan gives the same text."""
    return plan.model_dump_json(indent=2) + "\n"


def loads(text: str, filename: str) -> Plan:
    """Parse and validate a plan file; every problem is reported with its place."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{filename} is not a plan file", [Problem(filename, exc.lineno, f"JSON: {exc.msg}")]
        ) from None
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(filename, None, f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}")
            for e in exc.errors(include_url=False)
        ]
        raise PlanFileError(f"{filename} is not a valid plan file", problems) from None
    _check_consistency(plan, filename)
    return plan


def _check_consistency(plan: Plan, filename: str) -> None:
    listed = [name for wave in plan.waves for name in wave.services]
    problems: list[Problem] = []
    if sorted(listed) != sorted(plan.services):
        problems.append(Problem(filename, None, "waves and services do not list the same services"))
    if len(listed) != len(set(listed)):
        problems.append(Problem(filename, None, "a service appears in more than one wave"))
    if problems:
        raise PlanFileError(f"{filename} is not a consistent plan file", problems)
