"""A real Alertmanager for integration tests: the binary on a free loopback port.

Each instance gets its own configuration (one receiver that notifies nobody), its own
``--storage.path`` under the test's temporary directory and clustering switched off
(``--cluster.listen-address=``), so tests never see each other's alerts. ``start`` waits
(bounded) until ``/-/ready`` answers; ``stop`` terminates the process and kills it if it
does not go. Missing binary: fail under CI, skip locally (see :mod:`tests.services`).

What Alertmanager 0.25 answers, checked against the binary: ``GET /api/v2/alerts``
lists firing alerts only (an alert whose ``endsAt`` has passed is dropped from the list
at once, with or without ``active=true``), each with ``status.state`` ``active``,
``suppressed`` or ``unprocessed``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.services import free_port, log_tail, start_server, stop_process, unavailable

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "exporters" / "prometheus" / "alertmanager"
BINARIES = ("alertmanager", "prometheus-alertmanager")  # upstream name, Debian's name
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0

CONFIG = """\
route:
  receiver: nobody
  group_wait: 1s
receivers:
  - name: nobody
"""


def alertmanager_binary() -> str:
    """Path of the Alertmanager binary, or fail (CI) / skip (local)."""
    for name in BINARIES:
        path = shutil.which(name)
        if path is not None:
            return path
    unavailable(f"Alertmanager binary not found on PATH (tried {', '.join(BINARIES)})")


class Alertmanager:
    """One Alertmanager process on 127.0.0.1; restartable on the same port and storage.

    ``config_file``: a configuration to run (e.g. the shipped one, see
    :func:`render_shipped_config`); by default one receiver that notifies nobody.
    """

    def __init__(
        self, workdir: Path, port: int | None = None, config_file: Path | None = None
    ) -> None:
        self.binary = alertmanager_binary()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        if config_file is None:
            config_file = workdir / "alertmanager.yml"
            config_file.write_text(CONFIG, encoding="utf-8")
        self.config_file = config_file
        self.storage = workdir / "data"
        self.log_file = workdir / "alertmanager.log"
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._client = httpx.Client(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the binary and wait until it is ready (bounded)."""
        self.process = start_server(
            [
                self.binary,
                f"--config.file={self.config_file}",
                f"--storage.path={self.storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            self.log_file,
            f"{self.url}/-/ready",
            READY_TIMEOUT_S,
        )

    def stop(self) -> None:
        """Terminate the process (kill it when it does not stop in time)."""
        process, self.process = self.process, None
        stop_process(process, STOP_TIMEOUT_S)

    def close(self) -> None:
        self.stop()
        self._client.close()

    def log(self) -> str:
        return log_tail(self.log_file)

    # --- what it holds ---------------------------------------------------------------------

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts it holds as firing, filtered by exact labels."""
        params = [("filter", f'{name}="{value}"') for name, value in labels.items()]
        response = self._client.get(f"{self.url}/api/v2/alerts", params=params)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def active(self, **labels: str) -> list[dict[str, Any]]:
        """The alerts in state ``active`` among :meth:`alerts`."""
        return [a for a in self.alerts(**labels) if a["status"]["state"] == "active"]

    def alerts_received(self, status: str) -> float:
        """How many alerts (``firing`` or ``resolved``) it has been sent, over all API versions."""
        response = self._client.get(f"{self.url}/metrics")
        response.raise_for_status()
        total = 0.0
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if (
                    sample.name == "alertmanager_alerts_received_total"
                    and sample.labels.get("status") == status
                ):
                    total += sample.value
        return total


def render_shipped_config(directory: Path, **environment: str) -> Path:
    """The shipped alertmanager.yml filled by its own render.sh (as compose runs it)."""
    subprocess.run(
        ["sh", str(SHIPPED_DIR / "render.sh"), str(SHIPPED_DIR), str(directory)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        check=True,
        capture_output=True,
        timeout=30,
    )
    return directory / "alertmanager.yml"


@contextmanager
def running_alertmanager(
    workdir: Path, port: int | None = None, config_file: Path | None = None
) -> Iterator[Alertmanager]:
    """An Alertmanager started in ``workdir`` and always stopped afterwards."""
    alertmanager = Alertmanager(workdir, port, config_file)
    try:
        alertmanager.start()
        yield alertmanager
    finally:
        alertmanager.close()
