"""A real Prometheus for integration tests: the Debian binary on a free loopback port.

Its own configuration and TSDB directory under the test's temporary directory; ``start``
waits (bounded) for ``/-/ready``; ``stop`` terminates it and kills it if it lingers.
Missing binary: fail under CI, skip locally (see :mod:`tests.services`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.services import free_port, log_tail, require_binary, start_server, stop_process

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class Prometheus:
    """One Prometheus process on 127.0.0.1 with the configuration given as a dict."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.binary = require_binary("prometheus")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_file = workdir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        self.log_file = workdir / "prometheus.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._client = httpx.Client(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_server(
            [
                self.binary,
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--web.external-url={self.url}/",  # generatorURL of its alerts
                "--log.level=warn",
            ],
            self.log_file,
            f"{self.url}/-/ready",
            READY_TIMEOUT_S,
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, STOP_TIMEOUT_S)

    def close(self) -> None:
        self.stop()
        self._client.close()

    def log(self) -> str:
        return log_tail(self.log_file)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (a scalar becomes one unlabelled sample)."""
        response = self._client.post(f"{self.url}/api/v1/query", data={"query": expr})
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body.get('error', body)}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts its rules hold (pending or firing)."""
        response = self._client.get(f"{self.url}/api/v1/alerts")
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
        return alerts


@contextmanager
def running_prometheus(workdir: Path, config: dict[str, Any]) -> Iterator[Prometheus]:
    """A Prometheus started in ``workdir`` and always stopped afterwards."""
    prometheus = Prometheus(workdir, config)
    try:
        prometheus.start()
        yield prometheus
    finally:
        prometheus.close()
