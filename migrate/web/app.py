"""The dashboard application: pages over the ledger, read-only, refreshing themselves.

Bound to loopback by default. When a token is configured every request must carry it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (links keep it).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
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


class _TokenGate(BaseHTTPMiddleware):
    def __init__(self, app: object, token: str | None) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
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


def create_app(snapshot: Snapshot, token: str | None = None, refresh: int = 5) -> Starlette:
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
    return Starlette(routes=routes, middleware=[Middleware(_TokenGate, token=token)])
