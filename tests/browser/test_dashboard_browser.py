"""The dashboard in headless Chromium (Debian's package, driven by Playwright), over a ledger
written by a real apply: the numbers shown are the ledger's, a failed object's reason shows."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import migrate, seed, write_inventory, writer
from tools import emulators

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parents[1] / "output"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dashboard(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> Iterator[tuple[str, Path]]:
    container = f"{unique}-ui"
    seed(servers, container, 12, size=4096)
    writer(servers).put_blob(container, "bad-name.", b"x")
    inventory = write_inventory(
        tmp_path,
        {"claims-data": container},
        extra_services=[
            {"name": "net-core", "kind": "network"},
            {"name": "portal", "kind": "workspace", "depends_on": ["claims-data"]},
            {"name": "identity", "kind": "workspace", "depends_on": ["directory"]},
            {"name": "directory", "kind": "workspace", "depends_on": ["identity", "net-core"]},
        ],
    )
    assert (
        migrate("plan", str(inventory), "-o", "plan.json", env=server_env, cwd=tmp_path).returncode
        == 0
    )
    assert migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path).returncode == 1
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", "dashboard", "--port", str(port)],
        cwd=tmp_path,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/api/status", timeout=2)  # noqa: S310 - loopback
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield url, tmp_path / ".migrate" / "state.db"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_dashboard_in_a_real_browser(dashboard: tuple[str, Path]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    url, db_path = dashboard
    db = sqlite3.connect(db_path)
    done, total, failed = db.execute(
        "select sum(status='done'), count(*), sum(status='failed') from objects "
        "where service='claims-data'"
    ).fetchone()
    assert (done, total, failed) == (12, 13, 1)
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/")
        assert page.inner_text("#objects-done") == f"{done} / {total}"
        assert page.inner_text("#objects-failed") == str(failed)
        row = page.locator('tr[data-service="claims-data"]')
        assert row.locator("td.objects").inner_text() == f"{done} / {total}"
        assert row.locator("td.failed").inner_text() == str(failed)
        assert "ends with '.'" in page.inner_text("#failures")
        page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
        page.click("text=claims-data >> nth=0")
        page.wait_for_url("**/service/claims-data")
        assert "bad-name." in page.inner_text("body")
        assert "replicate" in page.inner_text("table.steps")
        page.screenshot(path=str(OUTPUT / "service.png"), full_page=True)
        page.goto(url + "/graph")
        assert page.locator("svg.graph").count() == 1
        assert page.locator("svg.graph rect[stroke-dasharray]").count() == 2  # the cycle
        assert "in a cycle with directory" in page.inner_html("svg.graph")
        page.screenshot(path=str(OUTPUT / "graph.png"), full_page=True)
        for width in (1400, 1000):  # as an operator's screen, and a laptop's half of one
            sized = browser.new_page(viewport={"width": width, "height": 900})
            sized.goto(url + "/")
            overflow = sized.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the overview is {overflow} px wider than a {width} px window"
            sized.screenshot(path=str(OUTPUT / f"dashboard-{width}.png"), full_page=True)
            sized.close()
        browser.close()
    assert (OUTPUT / "dashboard.png").stat().st_size > 10_000
