"""The apply progress: a resumed service's bar starts at what the ledger already counts as
done (and ends full), rates are written in IEC units, and without a terminal a service that
did not move is not written again."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from migrate.cli import progress as progress_module
from migrate.cli.progress import TerminalProgress


def _terminal() -> tuple[TerminalProgress, io.StringIO]:
    out = io.StringIO()
    return TerminalProgress(Console(file=out, force_terminal=True, width=140)), out


def test_a_resumed_service_starts_where_the_ledger_stands_and_ends_full() -> None:
    bars, _ = _terminal()
    with bars:
        bars.listed("claims", 100, 100 * 1024)
        bars.copying("claims", 97, 97 * 1024)  # 97 copied by the run that was killed
        for index in range(3):
            bars.copied("claims", f"k{index}", 1024, "done")
        (task,) = bars._bars.tasks
        assert task.completed == task.total == 100 * 1024
        assert "100/100 obj" in str(task.fields["objects"])


def test_the_rate_is_written_in_iec_units() -> None:
    bars, _ = _terminal()
    column = progress_module._Rate()
    with bars:
        bars.listed("claims", 2, 4 * 1024**2)
        (task,) = bars._bars.tasks
        assert column.render(task).plain == "-"  # nothing moved yet: no rate
        task.finished_speed = 3 * 1024**2
        assert column.render(task).plain == "3 MiB/s"


def test_without_a_terminal_a_service_that_did_not_move_is_not_written_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_SECONDS", 0.0)
    out = io.StringIO()
    plain = TerminalProgress(Console(file=out, force_terminal=False, width=140))
    with plain:
        plain.listed("done-store", 1, 10)
        plain.copied("done-store", "a", 10, "done")
        plain.listed("live-store", 5, 50)
        for index in range(5):
            plain.copied("live-store", f"k{index}", 10, "done")
    lines = out.getvalue().splitlines()
    assert sum("done-store" in line for line in lines) == 1
    assert sum("live-store" in line for line in lines) == 5


def test_a_plain_line_gives_this_runs_objects_per_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small objects move few bytes: the line says how many objects a second, counted from
    where this run began (97 were done by the run before)."""
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_SECONDS", 0.0)
    clock = iter([100.0, 100.0, 102.0, 102.0, 102.0, 102.0])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock, 102.0))
    out = io.StringIO()
    plain = TerminalProgress(Console(file=out, force_terminal=False, width=140))
    with plain:
        plain.listed("claims", 101, 101 * 1024)
        plain.copying("claims", 97, 97 * 1024)
        for index in range(4):
            plain.copied("claims", f"k{index}", 1024, "done")
    last = out.getvalue().splitlines()[-1]
    assert "101/101 objects" in last
    assert "2 objects/s" in last  # 4 objects in 2 s, not 101
