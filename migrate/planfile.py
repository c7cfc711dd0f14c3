"""The plan file (JSON): written by ``plan -o``, read and checked by ``apply``.

A plan file is read as untrusted input: one larger than ``MAX_PLAN_CHARS`` is refused before
it is parsed, JSON nested deeper than Python's parser goes or with integers of thousands of
digits is refused with its file named (exit 2), and so are waves not numbered 1 to N or a
service whose wave is not the one that lists it.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from migrate.errors import EditedPlan, PlanFileError, Problem
from migrate.model import Plan

MAX_WAVE = 2**31 - 1
"""No plan has more waves than services, nor a ledger a larger wave number."""
MAX_PLAN_CHARS = 64 * 1024 * 1024
"""64 MiB: the plan of the largest inventory accepted (20,000 services, 10 MiB) is under 30 MiB."""


def dumps(plan: Plan) -> str:
    """Deterministic JSON: the same plan gives the same text."""
    return plan.model_dump_json(indent=2) + "\n"


def loads(text: str, filename: str) -> Plan:
    """Parse and validate a plan file; every problem is reported with its place."""
    if len(text) > MAX_PLAN_CHARS:
        raise PlanFileError(
            f"{filename} is too large to be a plan file",
            [
                Problem(
                    filename,
                    None,
                    f"the file holds {len(text):,} characters; a plan file may hold at most "
                    f"{MAX_PLAN_CHARS // 1024 // 1024} MiB",
                )
            ],
        )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{filename} is not a plan file", [Problem(filename, exc.lineno, f"JSON: {exc.msg}")]
        ) from None
    except RecursionError:
        raise PlanFileError(
            f"{filename} is not a plan file",
            [Problem(filename, None, "JSON: nested too deeply (a plan is a few levels deep)")],
        ) from None
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise PlanFileError(
            f"{filename} is not a plan file",
            [Problem(filename, None, "JSON: a number of thousands of digits")],
        ) from None
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(filename, None, f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}")
            for e in exc.errors(include_url=False)[:100]
        ]
        raise PlanFileError(f"{filename} is not a valid plan file", problems) from None
    _check_ranges(plan, filename)
    _check_consistency(plan, filename)
    return plan


def _check_ranges(plan: Plan, filename: str) -> None:
    """A wave number no plan can have is invalid input (exit 2), before anything uses it;
    a possible number in the wrong place is an edited plan (below, exit 3)."""
    numbers = [(f"waves[{i}].index", wave.index) for i, wave in enumerate(plan.waves)]
    numbers += [(f"services.{name}.wave", s.wave) for name, s in plan.services.items()]
    for place, number in numbers:
        if number > MAX_WAVE:
            raise PlanFileError(
                f"{filename} is not a valid plan file",
                [
                    Problem(
                        filename,
                        None,
                        f"{place} is {_number(number)}: out of range (1 to {MAX_WAVE:,})",
                    )
                ],
            )


def _check_consistency(plan: Plan, filename: str) -> None:
    listed = [name for wave in plan.waves for name in wave.services]
    problems: list[Problem] = []
    if sorted(listed) != sorted(plan.services):
        problems.append(Problem(filename, None, "waves and services do not list the same services"))
    if len(listed) != len(set(listed)):
        problems.append(Problem(filename, None, "a service appears in more than one wave"))
    for position, wave in enumerate(plan.waves, start=1):
        if wave.index != position:
            problems.append(
                Problem(
                    filename,
                    None,
                    f"waves[{position - 1}].index is {_number(wave.index)}: waves are numbered "
                    "1 to N in order",
                )
            )
            break
    for wave in plan.waves:
        for name in wave.services:
            service = plan.services.get(name)
            if service is not None and service.wave != wave.index:
                problems.append(
                    Problem(
                        filename,
                        None,
                        f"services.{name}.wave is {_number(service.wave)} but wave "
                        f"{_number(wave.index)} lists it",
                    )
                )
                break
    if problems:
        raise EditedPlan(
            f"{filename} is not a consistent plan file: `migrate plan` never writes one like "
            "this, so it was edited by hand, and a plan edited by hand is never run; run "
            "`migrate plan INVENTORY -o PLAN` again",
            problems,
        )


def _number(value: int) -> str:
    text = str(value)
    return text if len(text) <= 20 else f"a number of {len(text):,} digits"
