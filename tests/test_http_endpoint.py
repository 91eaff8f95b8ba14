"""The /metrics endpoint's TLS: a client that never completes its handshake stalls nobody."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, Gauge

from exporters.http import EndpointSecurity, MetricsServer
from tests.test_daemon_integration import self_signed_certificate


def test_a_stalled_tls_client_does_not_block_scrapes_or_shutdown(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    registry = CollectorRegistry()
    Gauge("jiancha_probe", "A probe.", registry=registry).set(7)
    server = MetricsServer(
        "127.0.0.1",
        0,
        registry,
        lambda: [],
        EndpointSecurity(tls_cert_file=str(cert), tls_key_file=str(key)),
    )
    server.start()
    stalled = socket.create_connection(("127.0.0.1", server.port))  # no ClientHello, ever
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trusted, timeout=3) as client:
            scrape = client.get(f"https://127.0.0.1:{server.port}/metrics")
        assert scrape.status_code == 200
        assert "jiancha_probe 7.0" in scrape.text
        with httpx.Client(timeout=3) as plain:  # plain HTTP to a TLS port: refused, no hang
            try:
                plain.get(f"http://127.0.0.1:{server.port}/metrics")
                answered_plain = True
            except httpx.HTTPError:
                answered_plain = False
        assert not answered_plain
    finally:
        stopper = threading.Thread(target=server.stop)
        started = time.monotonic()
        stopper.start()
        stopper.join(timeout=15)
        stalled.close()
    assert not stopper.is_alive()
    assert time.monotonic() - started < 5  # the stalled handshake did not hold the stop


def test_metrics_come_from_the_exposition_when_one_is_given() -> None:
    """The daemon's endpoint serves DaemonMetrics.exposition (the hall rendered once per
    evaluation), with the content type it chose from the scraper's Accept header."""
    from exporters.metrics import PROMETHEUS_ACCEPT, DaemonMetrics

    metrics = DaemonMetrics()
    metrics.polls.labels("approval", "ok").inc()
    server = MetricsServer(
        "127.0.0.1", 0, metrics.registry, lambda: [], exposition=metrics.exposition
    )
    server.start()
    try:
        with httpx.Client(timeout=3) as client:
            scrape = client.get(
                f"http://127.0.0.1:{server.port}/metrics", headers={"Accept": PROMETHEUS_ACCEPT}
            )
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("application/openmetrics-text")
        assert 'jiancha_polls_total{outcome="ok",source="approval"} 1.0' in scrape.text
        assert scrape.text.endswith("# EOF\n")
    finally:
        server.stop()
