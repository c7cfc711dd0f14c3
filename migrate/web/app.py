"""The dashboard application: pages over the ledger, read-only, refreshing themselves.

Bound to loopback by default. When a token is configured every request must carry it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (links keep it).

Every request must also name, in its ``Host`` header, the address the dashboard was started
for (``allowed_hosts``), else it is answered 400: a page of another site whose name was made
to resolve to 127.0.0.1 (DNS rebinding) would otherwise read the status and the names of the
failed objects through the visitor's browser.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Callable, Sequence
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from migrate.commands.status import StatusReport
from migrate.views.html import graph_page, overview_page, service_page
from migrate.views.metrics import render_metrics

Snapshot = Callable[[], StatusReport]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")  # noqa: S104  # nosec B104 - recognised, never bound


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def allowed_hosts(host: str, port: int, extra: Sequence[str] = ()) -> frozenset[str]:
    """The ``Host`` values a browser sends for the dashboard started on ``host:port``: that
    name, the loopback names when it is loopback, this machine's names when it listens on
    every address, and ``extra`` (a name a proxy or DNS gives it); with the port, and also
    without it on port 80."""
    names = {host, *extra}
    if _is_loopback(host):
        names.update(LOOPBACK_NAMES)
    if host in WILDCARD_ADDRESSES:
        names.discard(host)
        names.update((socket.gethostname(), socket.getfqdn()))
    values = {f"{_bracketed(name).lower()}:{port}" for name in names if name}
    if port == 80:
        values.update(_bracketed(name).lower() for name in names if name)
    return frozenset(values)


class _TokenGate(BaseHTTPMiddleware):
    def __init__(self, app: object, token: str | None, hosts: frozenset[str] | None) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token
        self.hosts = hosts

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self.hosts is not None and request.headers.get("host", "").lower() not in self.hosts:
            return PlainTextResponse(
                "this dashboard answers only to the host name it was started for",
                status_code=400,
            )
        if self.token is not None:
            given = request.query_params.get("token", "")
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer "):
                given = header[7:]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return PlainTextResponse("a valid token is required", status_code=401)
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("the dashboard is read-only", status_code=405)
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        return response


def create_app(
    snapshot: Snapshot,
    token: str | None = None,
    refresh: int = 5,
    hosts: frozenset[str] | None = None,
) -> Starlette:
    """The dashboard; ``hosts`` (``allowed_hosts``) are the Host values it answers, None for
    any (an app embedded in a test)."""
    suffix = f"?token={quote(token)}" if token else ""

    def link(name: str) -> str:
        return f"/service/{quote(name)}{suffix}"

    nav = [
        ("Overview", f"/{suffix}"),
        ("Dependency graph", f"/graph{suffix}"),
        ("Status JSON", f"/api/status{suffix}"),
        ("Metrics", f"/metrics{suffix}"),
    ]

    async def overview(_: Request) -> Response:
        return HTMLResponse(overview_page(snapshot(), link, nav, refresh))

    async def service(request: Request) -> Response:
        page = service_page(snapshot(), request.path_params["name"], link, nav, refresh)
        if page is None:
            return PlainTextResponse("no such service", status_code=404)
        return HTMLResponse(page)

    async def graph(_: Request) -> Response:
        return HTMLResponse(graph_page(snapshot(), link, nav, refresh))

    async def api_status(_: Request) -> Response:
        return JSONResponse(json.loads(json.dumps(snapshot().to_json())))

    async def metrics(_: Request) -> Response:
        return Response(
            render_metrics(snapshot), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    routes = [
        Route("/", overview),
        Route("/service/{name:path}", service),
        Route("/graph", graph),
        Route("/api/status", api_status),
        Route("/metrics", metrics),
    ]
    gate = Middleware(_TokenGate, token=token, hosts=hosts)
    return Starlette(routes=routes, middleware=[gate])
