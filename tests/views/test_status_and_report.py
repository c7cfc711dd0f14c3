"""Status JSON contract, the report's self-containment, escaping everywhere, metrics names."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

from rich.console import Console

from migrate.cli.status import _render
from migrate.commands.status import status
from migrate.views.html import report_page
from migrate.views.metrics import render_metrics
from state.store import Store
from tests.views.conftest import HOSTILE


def test_status_json_follows_the_contract(ledger: Store) -> None:
    data = status(ledger).to_json()
    assert set(data) == {"plan", "lock", "services"}
    assert data["plan"]["inventory_sha256"] == "a" * 64
    assert data["plan"]["waves"] == 2
    assert data["lock"] is None
    claims = data["services"]["claims-data"]
    for key in (
        "wave",
        "state",
        "step",
        "objects_total",
        "objects_done",
        "objects_failed",
        "bytes_total",
        "bytes_done",
    ):
        assert key in claims
    assert (claims["wave"], claims["state"], claims["step"]) == (2, "failed", "replicate")
    assert (claims["objects_total"], claims["objects_done"], claims["objects_failed"]) == (14, 9, 4)
    assert (claims["bytes_total"], claims["bytes_done"]) == (10 * 1000 + 40, 9000)
    assert data["services"]["net-core"]["state"] == "done"
    assert json.loads(json.dumps(data)) == data


def test_report_is_self_contained(ledger: Store) -> None:
    page = report_page(status(ledger))
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", page, re.IGNORECASE)
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page.lower()
    assert "<style>" in page


def test_hostile_names_are_escaped_in_html(ledger: Store) -> None:
    page = report_page(status(ledger))
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;.csv" in page
    assert "<b>" not in page
    assert "[bold red]pwned[/bold red].txt" in page  # plain text in HTML, not markup
    assert "quote&#34;and&amp;amp;.txt" in page


def test_hostile_names_are_inert_in_the_terminal(ledger: Store) -> None:
    buffer = StringIO()
    console = Console(file=buffer, width=300, force_terminal=True, color_system="truecolor")
    console.print(_render(status(ledger)))
    out = buffer.getvalue()
    assert "<script>x</script>" in out  # the service error, as text
    assert "\x1b[31mred" not in out  # no injected colour reaches the terminal


def test_metrics_names(ledger: Store) -> None:
    text = render_metrics(lambda: status(ledger)).decode()
    for name in (
        "migrate_objects_copied_total",
        "migrate_bytes_copied_total",
        "migrate_objects_failed",
        "migrate_retries_total",
        "migrate_service_state",
        "migrate_freeze_seconds",
        "migrate_lock_held",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'migrate_objects_copied_total{service="claims-data"} 9.0' in text
    assert 'migrate_retries_total{service="claims-data"} 18.0' in text
    assert 'migrate_service_state{service="claims-data",state="failed"} 1.0' in text
    assert 'migrate_objects_failed{service="claims-data"} 4.0' in text


def test_report_command_writes_a_private_file(ledger: Store, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from migrate.cli.app import app

    out = tmp_path / "report.html"
    url = str(ledger.engine.url)
    result = CliRunner().invoke(app, ["report", "--html", str(out), "--state", url])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0
    assert HOSTILE[0] not in out.read_text()  # escaped, never raw


def test_write_freeze_windows_are_in_order_to_the_second(ledger: Store) -> None:
    ledger.freeze_started("claims-data", 900)  # frozen now
    ledger.freeze_started("net-core", None)
    ledger.freeze_finished("net-core")
    page = report_page(status(ledger))
    section = page[page.index("Write-freeze windows") :]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", section)
    names = [name for name, _ in rows]
    assert names.index("claims-data") < names.index("net-core")  # started first, shown first
    for _, started in rows[:2]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", started), started
    assert "frozen now" in section


def test_an_edge_within_a_wave_never_crosses_a_box() -> None:
    from migrate.model import Plan, PlannedService, PlannedUnit, PlannedWave
    from migrate.views.svg import NODE_W, PAD, dependency_graph

    def service(*deps: str) -> PlannedService:
        return PlannedService(
            kind="network", depends_on=list(deps), wave=1, criticality="high", steps=["cutover"]
        )

    plan = Plan(
        inventory="i.yaml",
        inventory_sha256="a" * 64,
        created_at="x",
        tool_version="0",
        waves=[
            PlannedWave(index=1, services=["a", "b", "c"], estimated_bytes=0, estimated_seconds=0)
        ],
        units=[PlannedUnit(services=["b", "c"], reason="cycle")],
        services={"a": service(), "b": service("a", "c"), "c": service("b")},
    )
    svg = str(dependency_graph(plan, {}, lambda n: f"#{n}"))
    edges = re.findall(r"<path d=\"M([^\"]+C[^\"]+)\"", svg)
    assert len(edges) == 3
    for path in edges:
        xs = [float(p.split(",")[0]) for p in re.split(r"[ C]", path) if "," in p]
        assert min(xs) >= PAD + NODE_W, path  # to the right of the column's boxes
    assert svg.count("stroke-dasharray") == 2
    assert "in a cycle with c (cut over together)" in svg
