"""A real Prometheus for integration tests: the Debian binary on a free loopback port.

Its own configuration and TSDB directory under the test's temporary directory; ``start``
waits (bounded) for ``/-/ready``; ``stop`` terminates it and kills it if it lingers.
Missing binary: fail under CI, skip locally (see :mod:`tests.services`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.services import free_port, require_binary

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
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--web.external-url={self.url}/",  # generatorURL of its alerts
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {self.process.returncode}: {self.log()}"
                )
            try:
                if self._client.get(f"{self.url}/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready within {READY_TIMEOUT_S} s: {self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def close(self) -> None:
        self.stop()
        self._client.close()

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

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
