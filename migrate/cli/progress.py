"""Progress on a terminal (rich bars per service: objects, bytes, rate, ETA) or, when the
output is not a terminal, plain periodic lines. Called from many threads."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from migrate.timeutil import now_iso
from migrate.units import format_bytes

PLAIN_EVERY_SECONDS = 10.0


@dataclass
class _Service:
    listed: int = 0
    listed_bytes: int = 0
    done: int = 0
    done_bytes: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    task: TaskID | None = None
    baseline_bytes: int = 0
    """What the ledger counted as done when this run's copying began (not this run's work)."""
    baseline_done: int = 0
    """The objects it counted as done then."""
    shown: tuple[int, int, int] | None = None
    """(done, failed, listed) when the last plain line was written."""


class _Rate(ProgressColumn):
    """Bytes per second in IEC units (KiB/s, MiB/s), as every other view writes them."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{format_bytes(speed)}/s" if speed else "-", style="progress.data.speed")


class TerminalProgress:
    """Implements ``migrate.executor.progress.Progress``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._services: dict[str, _Service] = {}
        self._live = console.is_terminal
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[objects]}"),
            DownloadColumn(binary_units=True),
            _Rate(),
            TimeRemainingColumn(),
            console=console,
            disable=not self._live,
        )
        self._last_plain = time.monotonic()

    def __enter__(self) -> TerminalProgress:
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(None, None, None)

    def _say(self, text: str, style: str = "") -> None:
        self._bars.console.print(Text(text, style=style), soft_wrap=True)

    def wave(self, index: int, services: list[str]) -> None:
        with self._lock:
            self._say(f"Wave {index}: {', '.join(services)}", "bold")

    def step(self, service: str, step: str, status: str, detail: str | None = None) -> None:
        style = {"failed": "red", "waiting-approval": "yellow", "done": "green"}.get(status, "")
        line = f"  {service}: {step} {status}"
        if detail and status != "started":
            line += f" - {detail.splitlines()[0]}"
        with self._lock:
            self._say(line, style)

    def listed(self, service: str, objects: int, size: int) -> None:
        with self._lock:
            state = self._services.setdefault(service, _Service())
            state.listed, state.listed_bytes = objects, size
            self._update(service, state)

    def copying(self, service: str, objects_done: int, bytes_done: int) -> None:
        with self._lock:
            state = self._services.setdefault(service, _Service())
            state.done, state.done_bytes = objects_done, bytes_done
            state.baseline_bytes = bytes_done
            state.baseline_done = objects_done
            state.started = time.monotonic()
            if self._live and state.task is not None:
                # from there, without counting it as this run's speed
                self._bars.reset(state.task, completed=bytes_done)
            self._update(service, state)

    def copied(
        self, service: str, key: str, size: int, status: str, error: str | None = None
    ) -> None:
        with self._lock:
            state = self._services.setdefault(service, _Service())
            if status == "done":
                state.done += 1
                state.done_bytes += size
            elif status == "failed":
                state.failed += 1
            self._update(service, state)
            self._plain_lines()

    def note(self, message: str) -> None:
        with self._lock:
            self._say(message)

    def _update(self, service: str, state: _Service) -> None:
        objects = f"{state.done}/{state.listed} obj" + (
            f", {state.failed} failed" if state.failed else ""
        )
        if not self._live:
            return
        if state.task is None:
            state.task = self._bars.add_task(
                service,
                total=max(state.listed_bytes, 1),
                completed=state.done_bytes,
                objects=objects,
            )
        self._bars.update(
            state.task,
            total=max(state.listed_bytes, 1),
            completed=state.done_bytes,
            objects=objects,
        )

    def _plain_lines(self) -> None:
        if self._live or time.monotonic() - self._last_plain < PLAIN_EVERY_SECONDS:
            return
        self._last_plain = time.monotonic()
        for name, state in self._services.items():
            now = (state.done, state.failed, state.listed)
            if now == state.shown:  # nothing new since its last line (finished, or waiting)
                continue
            state.shown = now
            elapsed = max(time.monotonic() - state.started, 1e-6)
            rate = (state.done_bytes - state.baseline_bytes) / elapsed
            per_second = (state.done - state.baseline_done) / elapsed
            self._say(
                f"  {name}: {state.done}/{state.listed} objects, "
                f"{format_bytes(state.done_bytes)}/{format_bytes(state.listed_bytes)}, "
                f"{format_bytes(rate)}/s, {per_second:.0f} objects/s"
                + (f", {state.failed} failed" if state.failed else "")
            )


class JsonLinesProgress:
    """``--log-format json``: one JSON object per event, for log collectors."""

    def __init__(self, stream: TextIO, run_id: str) -> None:
        self._stream = stream
        self._run = run_id
        self._lock = threading.Lock()
        self._waves: dict[str, int] = {}

    def __enter__(self) -> JsonLinesProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.flush()

    def _emit(self, level: str, message: str, **fields: object) -> None:
        record = {"time": now_iso(), "level": level, "run": self._run, **fields, "message": message}
        with self._lock:
            self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._stream.flush()

    def wave(self, index: int, services: list[str]) -> None:
        self._waves.update((name, index) for name in services)
        self._emit("info", f"wave {index} started", wave=index, services=services)

    def step(self, service: str, step: str, status: str, detail: str | None = None) -> None:
        level = {"failed": "error", "waiting-approval": "warning"}.get(status, "info")
        self._emit(
            level,
            f"{step} {status}" + (f": {detail}" if detail else ""),
            wave=self._waves.get(service),
            service=service,
            step=step,
        )

    def listed(self, service: str, objects: int, size: int) -> None:
        self._emit(
            "debug",
            f"listed {objects} objects, {size} bytes",
            wave=self._waves.get(service),
            service=service,
            step="list",
        )

    def copying(self, service: str, objects_done: int, bytes_done: int) -> None:
        self._emit(
            "debug",
            f"copying; {objects_done} objects, {bytes_done} bytes already done",
            wave=self._waves.get(service),
            service=service,
            step="copy",
        )

    def copied(
        self, service: str, key: str, size: int, status: str, error: str | None = None
    ) -> None:
        level = {"failed": "error", "changed": "warning"}.get(status, "info")
        self._emit(
            level,
            f"object {status}" + (f": {error}" if error else ""),
            wave=self._waves.get(service),
            service=service,
            key=key,
            size=size,
        )

    def note(self, message: str) -> None:
        self._emit("info", message)
