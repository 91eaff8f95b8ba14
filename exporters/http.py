"""The daemon's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz``.

``/metrics`` is prometheus-client's WSGI app on the daemon's registry. ``/healthz``
answers 200 while the process serves at all; ``/readyz`` answers 200 only once every
source has been polled at least once and the state store is reachable, else 503 with
the reasons as JSON. Optional HTTP basic auth (constant-time comparison) and TLS, as
Prometheus' ``basic_auth`` and ``tls_config`` scrape options expect. Served from a
thread so a slow scrape never blocks the scheduler.
"""

from __future__ import annotations

import base64
import hmac
import json
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

_HANDSHAKE_TIMEOUT_S = 10
Readiness = Callable[[], list[str]]  # what is not ready yet; empty when ready
Exposition = Callable[[str | None], tuple[bytes, str]]  # Accept header -> body, content type
StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class EndpointSecurity:
    username: str | None = None
    password: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """The TLS handshake runs here, in the connection's own thread: a client that
        connects and never completes it cannot stall the accept loop (or a shutdown)."""
        if self.tls is not None:
            request.settimeout(_HANDSHAKE_TIMEOUT_S)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                request.close()
                return
        super().finish_request(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s are not news; errors surface as metrics and logs elsewhere."""


def _reply(start: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start(status, [("Content-Type", "application/json; charset=utf-8")])
    return [data]


def build_app(
    registry: CollectorRegistry,
    readiness: Readiness,
    security: EndpointSecurity,
    exposition: Exposition | None = None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The endpoint's WSGI app. ``exposition`` (given the ``Accept`` header) answers
    ``/metrics`` when given — the daemon's, with its figures rendered once per
    evaluation; else prometheus-client renders ``registry`` at every scrape."""
    registry_app = make_wsgi_app(registry)

    def metrics_app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if exposition is None:
            return registry_app(environ, start)
        body, content_type = exposition(environ.get("HTTP_ACCEPT"))
        start("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    expected: bytes | None = None
    if security.username is not None and security.password is not None:
        expected = base64.b64encode(f"{security.username}:{security.password}".encode())

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if expected is not None:
            header = environ.get("HTTP_AUTHORIZATION", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "basic" or not hmac.compare_digest(token.encode(), expected):
                start(
                    "401 Unauthorized",
                    [("WWW-Authenticate", 'Basic realm="jiancha"'), ("Content-Type", "text/plain")],
                )
                return [b"unauthorized\n"]
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics_app(environ, start)
        if path == "/healthz":
            return _reply(start, "200 OK", {"status": "alive"})
        if path == "/readyz":
            problems = readiness()
            if problems:
                return _reply(
                    start, "503 Service Unavailable", {"status": "not ready", "why": problems}
                )
            return _reply(start, "200 OK", {"status": "ready"})
        return _reply(
            start,
            "404 Not Found",
            {"status": "not found", "paths": ["/metrics", "/healthz", "/readyz"]},
        )

    return app


class MetricsServer:
    """The endpoint, served from a background thread until :meth:`stop`."""

    def __init__(
        self,
        address: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Readiness,
        security: EndpointSecurity | None = None,
        exposition: Exposition | None = None,
    ) -> None:
        security = security or EndpointSecurity()
        self._server = make_server(
            address,
            port,
            build_app(registry, readiness, security, exposition),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        if security.tls_cert_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(security.tls_cert_file, security.tls_key_file)
            self._server.tls = context
        self.scheme = "https" if security.tls_cert_file else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
