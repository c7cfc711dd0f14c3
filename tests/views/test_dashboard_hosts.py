"""The dashboard answers only to the host names it was started for (DNS rebinding): the
starlette app, and a real `migrate dashboard` over HTTP."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from migrate.commands.status import status
from migrate.web.app import allowed_hosts, create_app
from state.store import Store


def test_the_names_of_a_loopback_dashboard() -> None:
    hosts = allowed_hosts("127.0.0.1", 8787)
    assert hosts == {"127.0.0.1:8787", "localhost:8787", "[::1]:8787"}
    assert allowed_hosts("::1", 80) >= {"[::1]:80", "[::1]", "localhost", "127.0.0.1:80"}
    named = allowed_hosts("dash.example.org", 8443, ["proxy.example.org"])
    assert named == {"dash.example.org:8443", "proxy.example.org:8443"}
    everywhere = allowed_hosts("0.0.0.0", 8787)  # noqa: S104
    assert f"{socket.gethostname().lower()}:8787" in everywhere
    assert "0.0.0.0:8787" not in everywhere


def test_another_host_name_is_answered_400(ledger: Store) -> None:
    app = create_app(lambda: status(ledger), hosts=allowed_hosts("127.0.0.1", 8787))
    client = TestClient(app, base_url="http://127.0.0.1:8787")
    assert client.get("/api/status").status_code == 200
    for host in ("localhost:8787", "LOCALHOST:8787", "[::1]:8787"):
        assert client.get("/api/status", headers={"Host": host}).status_code == 200, host
    for host in ("rebind.attacker.example:8787", "127.0.0.1:9999", "127.0.0.1", ""):
        answer = client.get("/api/status", headers={"Host": host})
        assert answer.status_code == 400, host
        assert "claims-data" not in answer.text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, host: str | None, path: str = "/api/status") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_started_dashboard_refuses_a_rebound_name(ledger: Store, tmp_path: Path) -> None:
    url = ledger.engine.url.render_as_string(hide_password=False)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "migrate",
            "dashboard",
            "--port",
            str(port),
            "--allowed-host",
            "dash.example.org",
            "--state",
            url,
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"dash.example.org:{port}"):
            code, body = _get(port, host)
            assert code == 200, host
            assert "claims-data" in body
        for host in (f"rebind.attacker.example:{port}", "127.0.0.1", f"localhost:{port + 1}"):
            code, body = _get(port, host)
            assert code == 400, host
            assert "claims-data" not in body
            assert "refused" not in body
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        answer = httpx.get(
            f"http://127.0.0.1:{port}/service/claims-data",
            headers={"Host": f"rebind.attacker.example:{port}"},
        )
        assert answer.status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=30)
