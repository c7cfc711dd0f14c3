"""The dashboard application through starlette's test client: pages, read-only, the token."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from migrate.cli.app import app
from migrate.commands.status import status
from migrate.web.app import create_app
from state.store import Store


def test_pages_answer_and_escape(ledger: Store) -> None:
    client = TestClient(create_app(lambda: status(ledger)))
    home = client.get("/")
    assert home.status_code == 200
    assert "claims-data" in home.text
    assert "&lt;script&gt;" in home.text
    assert "<script>" not in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'none'")
    service = client.get("/service/claims-data")
    assert service.status_code == 200
    assert "refused: &lt;b&gt;" in service.text
    assert client.get("/service/nope").status_code == 404
    assert "Wave 2" in client.get("/graph").text
    assert client.get("/api/status").json()["services"]["claims-data"]["objects_failed"] == 4
    assert b"migrate_objects_copied_total" in client.get("/metrics").content


def test_the_dashboard_is_read_only(ledger: Store) -> None:
    client = TestClient(create_app(lambda: status(ledger)))
    assert client.post("/").status_code == 405
    assert client.delete("/service/claims-data").status_code == 405


def test_a_token_guards_every_request(ledger: Store) -> None:
    client = TestClient(create_app(lambda: status(ledger), token="s3cr3t-t0ken"))
    for path in ("/", "/service/claims-data", "/graph", "/api/status", "/metrics"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer s3cr3t-t0ken"}).status_code == 200
        assert client.get(path, params={"token": "s3cr3t-t0ken"}).status_code == 200
    page = client.get("/", params={"token": "s3cr3t-t0ken"}).text
    assert "/service/claims-data?token=s3cr3t-t0ken" in page


def test_binding_beyond_loopback_needs_a_token(
    ledger: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIGRATE_DASHBOARD_TOKEN", raising=False)
    result = CliRunner().invoke(
        app,
        ["dashboard", "--host", "0.0.0.0", "--state", str(ledger.engine.url)],  # noqa: S104
    )
    assert result.exit_code == 3
    assert "token" in result.output
