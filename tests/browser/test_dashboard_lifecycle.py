"""The dashboard as an operator leaves it open in Chromium through a whole apply: started
before the first apply (it says nothing is applied and fills in by itself), during it (a
service write-frozen, for how long, another waiting for it), after it, and stopped with SIGTERM
while the page keeps refreshing. Local folders: no server but the dashboard's."""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import free_port, gated, start, wait_for, write_plan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parents[1] / "output"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _status(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/api/status", timeout=5) as answer:  # noqa: S310
        status: dict[str, Any] = json.load(answer)
    return status


def _services(tmp_path: Path, gate: Path) -> list[dict[str, Any]]:
    for container, count in (("claims", 20), ("registry", 5)):
        folder = tmp_path / "src" / container
        folder.mkdir(parents=True)
        for index in range(count):
            (folder / f"{index:03d}.csv").write_bytes(b"x" * 2048)
    log = tmp_path / "hooks.log"
    return [
        {"name": "registry-data", "kind": "object-store", "data": {"container": "registry"}},
        {
            "name": "claims-data",
            "kind": "object-store",
            "depends_on": ["registry-data"],
            "data": {"container": "claims"},
            "max_downtime": "30m",
            "hooks": {"cutover": gated(log, "cutover", gate)},
        },
        {"name": "portal", "kind": "workspace", "depends_on": ["claims-data"]},
        {"name": "net-core", "kind": "network"},
    ]


def _overflow(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _shoot(pages: dict[int, Any], moment: str) -> None:
    for width, page in pages.items():
        assert _overflow(page) <= 0, f"{moment}: {_overflow(page)} px wider than {width} px"
        page.screenshot(path=str(OUTPUT / f"dashboard-{moment}-{width}.png"), full_page=True)


def test_the_dashboard_before_during_and_after_an_apply(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    gate = tmp_path / "cutover.open"
    write_plan(tmp_path, _services(tmp_path, gate), {"max_services_per_wave": 2})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    board = start("dashboard", "--port", str(port), "--refresh", "1", cwd=tmp_path)
    applying = None
    try:
        wait_for(lambda: _reachable(url))
        assert _status(url)["services"] == {}
        OUTPUT.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = {
                w: browser.new_page(viewport={"width": w, "height": 900}) for w in (1400, 1000)
            }
            for page in pages.values():
                page.goto(url + "/")
                assert "Nothing applied yet" in page.inner_text("#nothing-applied")
            _shoot(pages, "before")

            applying = start("apply", "plan.json", "--yes", cwd=tmp_path)
            _during(pages)
            gate.touch()
            out, err = applying.communicate(timeout=120)
            assert applying.returncode == 0, out + err
            wide = pages[1400]
            wide.wait_for_selector("#services-done:text-is('4 / 4')", timeout=30_000)
            for page in pages.values():
                page.reload()
            assert wide.inner_text("#write-frozen").strip() == "0"
            _shoot(pages, "after")

            # SIGTERM while both pages keep refreshing every second (keep-alive connections)
            time.sleep(1.5)
            began = time.monotonic()
            board.send_signal(signal.SIGTERM)
            board.wait(timeout=10)
            stopped = time.monotonic() - began
            browser.close()
        print(f"dashboard stopped {stopped:.2f} s after SIGTERM with two refreshing pages")
        # uvicorn shuts down, then re-raises the signal: the exit status says SIGTERM
        assert board.returncode in (0, -signal.SIGTERM), board.returncode
    finally:
        for process in (board, applying):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def _during(pages: dict[int, Any]) -> None:
    """A service write-frozen (for how long), another waiting for it (and saying so)."""
    wide = pages[1400]  # it refreshes itself: the test waits, never reloads it
    wide.wait_for_selector("#write-frozen:text-is('1')", timeout=60_000)
    waiting = 'tr[data-service="portal"] .why:has-text("waits for claims-data")'
    wide.wait_for_selector(waiting, timeout=30_000)  # for whom it waits, in its row
    for page in pages.values():
        page.reload()
    assert wide.inner_text("#write-frozen").strip() == "1"
    cards = wide.inner_text(".cards")
    assert "claims-data for" in cards, cards
    assert wide.locator("#nothing-applied").count() == 0
    claims = wide.locator('tr[data-service="claims-data"]').inner_text()
    assert "write-frozen" in claims, claims
    portal = wide.locator('tr[data-service="portal"]').inner_text()
    assert "not frozen yet" in portal, portal
    _shoot(pages, "during")


def _reachable(url: str) -> bool:
    try:
        _status(url)
    except OSError:
        return False
    return True
