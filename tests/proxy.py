"""A loopback HTTP proxy in front of a real server: records every request and injects faults
(503 SlowDown with Retry-After, connection resets, requests held until released), for tests
that the servers cannot fake."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)

NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented.</Message>"
    b"</Error>"
)


# decide(method, path, count) -> None (forward), "slowdown", "notimplemented" (501, as a server
# without an optional feature answers), "reset", "hold" (the request waits until release() and
# its connection is then reset, never forwarded) or "delay" (the request waits until release()
# and is then forwarded)
@dataclass(frozen=True)
class Forged:
    """An answer the proxy sends instead of forwarding (a gateway's error page, say)."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


Decision = Callable[[str, str, int], "str | Forged | None"]
AnswerRewrite = Callable[[str, str, list[tuple[str, str]]], list[tuple[str, str]]]
"""(method, path, the answer's headers) -> the headers sent back instead."""


@dataclass
class Recorder:
    requests: list[tuple[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    faults: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mutating(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] in ("PUT", "POST", "DELETE", "PATCH")]


class Proxy:
    def __init__(
        self,
        upstream: str,
        decide: Decision | None = None,
        drop_response_headers: frozenset[str] = frozenset(),
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.recorder = Recorder()
        self.decide = decide or (lambda _m, _p, _c: None)
        self.drop = {h.lower() for h in drop_response_headers}
        self.alter_answer: AnswerRewrite | None = None
        """Rewrites the headers of forwarded answers (set it while the proxy runs)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._released = threading.Event()

    def release(self) -> None:
        """Let every held or delayed request go."""
        self._released.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.recorder.lock:
                    proxy.recorder.requests.append((self.command, self.path))
                    proxy.recorder.headers.append({k.lower(): v for k, v in self.headers.items()})
                    count = len(proxy.recorder.requests)
                decision = proxy.decide(self.command, self.path, count)
                if isinstance(decision, Forged):
                    proxy.recorder.faults.append(("forged", self.command, self.path))
                    self.send_response(decision.status)
                    self.send_header("Content-Type", decision.content_type)
                    for name, value in decision.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(decision.body)))
                    self.end_headers()
                    self.wfile.write(decision.body)
                    return
                if decision in ("hold", "delay"):
                    proxy.recorder.faults.append((decision, self.command, self.path))
                    proxy._released.wait(timeout=300)
                    decision = "reset" if decision == "hold" else None
                if decision == "reset":
                    proxy.recorder.faults.append(("reset", self.command, self.path))
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                if decision == "slowdown":
                    proxy.recorder.faults.append(("slowdown", self.command, self.path))
                    self._error(503, SLOW_DOWN, retry_after=True)
                    return
                if decision == "notimplemented":
                    proxy.recorder.faults.append(("notimplemented", self.command, self.path))
                    self._error(501, NOT_IMPLEMENTED)
                    return
                self._forward(body)

            def _error(self, status: int, document: bytes, *, retry_after: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                if retry_after:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def _forward(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response_only(answer.status, answer.reason)  # its own Date, once
                head = self.command == "HEAD"
                answered = answer.getheaders()
                if proxy.alter_answer is not None:
                    answered = proxy.alter_answer(self.command, self.path, answered)
                for name, value in answered:
                    lowered = name.lower()
                    if lowered in ("transfer-encoding", "connection") or lowered in proxy.drop:
                        continue
                    if lowered == "content-length" and not head:
                        continue
                    self.send_header(name, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        return Handler
