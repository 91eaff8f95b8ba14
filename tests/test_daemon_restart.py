"""``jiancha run`` as a real process: killed, restarted, stopped, scraped over TLS.

The daemon runs as operators run it (``python -m monitor.cli run --config FILE``) with
its settings in ``JIANCHA_`` environment variables, a simulated clock fixed at the
example hall's instant (so findings are deterministic), one-second poll and evaluation
intervals, a SQLite state store in the test's directory and a real Alertmanager. The
test reads the state store beside it, as a report would, and never reaches inside.

What a restart must guarantee (DESIGN.md §2, state store): nothing lost, nothing
reported twice — the same fingerprints, one ``opened`` event each, and a finding that
resolved before the crash does not come back as new, in the ledger or in Alertmanager.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import yaml

from monitor.demo import load_example
from monitor.store import OPEN, RESOLVED, StateStore
from tests.alertmanager import Alertmanager, running_alertmanager
from tests.example_hall import AT_ISO
from tests.services import PG_HOST, PG_PORT, free_port, pg_user
from tests.test_daemon_integration import (
    HASH_KEY,
    ID_NUMBER,
    SOURCE,
    conclude,
    fingerprint,
    hall_config,
    parse_metrics,
    self_signed_certificate,
    sensitive_values,
    strings_in,
)

T = TypeVar("T")
WAIT_S = 20.0  # upper bound of every wait; the daemon needs about a second
STOP_S = 10.0


def wait_for(what: str, probe: Callable[[], T | None], daemon: Jiancha | None = None) -> T:
    """Poll ``probe`` until it returns something truthy; fail after WAIT_S seconds."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if value:
            return value
        if daemon is not None and daemon.exited():
            pytest.fail(f"jiancha exited ({daemon.returncode}) waiting for {what}:\n{daemon.log()}")
        if time.monotonic() > deadline:
            tail = daemon.log()[-3000:] if daemon is not None else ""
            pytest.fail(f"timed out after {WAIT_S} s waiting for {what}\n{tail}")
        time.sleep(0.1)


class Jiancha:
    """One ``jiancha run`` process; killed at teardown whatever happened."""

    def __init__(self, config: Path, log: Path, **environment: str) -> None:
        self.config = config
        self.log_file = log
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANCHA_")}
        env |= {
            "JIANCHA_LISTEN_ADDRESS": "127.0.0.1",
            "JIANCHA_LISTEN_PORT": str(self.port),
            "JIANCHA_APPLICANT_HASH_KEY": HASH_KEY,
            "JIANCHA_CLOCK_START": AT_ISO,
            "JIANCHA_LOG_FORMAT": "json",
            **environment,
        }
        with self.log_file.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env=env,
            )

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def exited(self) -> bool:
        return self.process.poll() is not None

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def kill(self) -> None:
        """``kill -9``: no handler runs, nothing is flushed or closed."""
        if not self.exited():
            self.process.kill()
        self.process.wait(timeout=STOP_S)

    def terminate(self) -> int:
        """SIGTERM, then wait (bounded) for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_S)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Jiancha]]:
    started: list[Jiancha] = []

    def start(config: Path, **environment: str) -> Jiancha:
        daemon = Jiancha(config, tmp_path / f"jiancha-{len(started)}.log", **environment)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    with running_alertmanager(tmp_path / "alertmanager") as am:
        yield am


def write_config(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "jiancha.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def ready(client: httpx.Client, daemon: Jiancha, scheme: str = "http") -> bool:
    try:
        response = client.get(f"{scheme}://127.0.0.1:{daemon.port}/readyz")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def metric(client: httpx.Client, daemon: Jiancha, name: str, **labels: str) -> float:
    try:
        response = client.get(f"http://127.0.0.1:{daemon.port}/metrics")
    except httpx.HTTPError:
        return 0.0
    return parse_metrics(response.text).get((name, frozenset(labels.items())), 0.0)


def ledger(store: StateStore) -> dict[str, str]:
    return {e.fingerprint: e.state for e in store.all_findings()}


def ended(store: StateStore, fingerprint_: str) -> bool:
    """Whether a finding resolved and Alertmanager has been sent its end."""
    entry = store.ledger_entry(fingerprint_)
    return entry is not None and entry.state == RESOLVED and entry.alert_ended


def events(store: StateStore) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for fp, _, event in store.finding_events():
        found.setdefault(fp, []).append(event)
    return found


def kill_mid_poll(daemon: Jiancha, source_url: str) -> bool:
    """SIGKILL the daemon while it reads the case database, if that can be caught in time.

    Best effort: watches pg_stat_activity for the source's session at work (its poll
    has begun, its commit to the state store has not) and kills at once. Whether the
    window was hit is returned for the record; the invariants must hold either way.
    """
    database = source_url.rsplit("/", 1)[1]
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
        " AND state IN ('active', 'idle in transaction')"
    )
    caught = False
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=pg_user(), dbname=database, autocommit=True
    ) as watcher:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not caught:
            row = watcher.execute(query, (database, f"jiancha:{SOURCE}")).fetchone()
            caught = bool(row and row[0])
    daemon.kill()
    return caught


@pytest.fixture
def hall_url(postgres_url: str) -> str:
    load_example(postgres_url)
    return postgres_url


# --- 3. restart after kill -9 ---------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.postgres
def test_kill_and_restart_loses_nothing_and_repeats_nothing(
    hall_url: str, tmp_path: Path, alertmanager: Alertmanager, spawn: Callable[..., Jiancha]
) -> None:
    data = hall_config(
        hall_url,
        tmp_path,
        alertmanager_urls=[alertmanager.url],
        evaluation_interval_seconds=1,
        poll_interval_seconds=1,
    )
    config = write_config(tmp_path, data)
    store = StateStore(data["state"]["url"])
    bj002 = fingerprint("case.overdue", "BJ002")
    bj004 = fingerprint("case.overdue", "BJ004")
    yellow = fingerprint("case.due_soon", "BJ001")
    client = httpx.Client(timeout=2)
    try:
        first = spawn(config)
        wait_for("the first daemon to be ready", lambda: ready(client, first), first)
        wait_for("findings to open", lambda: ledger(store).get(bj002) == OPEN, first)
        wait_for("BJ002's alert", lambda: alertmanager.active(case_id="BJ002"), first)

        # BJ002 is concluded (09:30, before the hall's clock): its overdue finding
        # resolves and the end reaches Alertmanager — all before the crash.
        conclude(hall_url, "BJ002", "20261009093000")
        wait_for("BJ002's end", lambda: ended(store, bj002), first)
        assert alertmanager.alerts(rule="case.overdue", case_id="BJ002") == []

        # Another case is concluded and the daemon is killed as it polls the change.
        conclude(hall_url, "BJ004", "20261009094500")
        caught = kill_mid_poll(first, hall_url)
        before = ledger(store)
        assert before[bj002] == RESOLVED
        assert before[yellow] == OPEN

        second = spawn(config)
        wait_for("the restarted daemon to be ready", lambda: ready(client, second), second)
        # Whether or not the killed poll had committed, BJ004's change lands now, once,
        # and its end reaches Alertmanager; then one more push re-sends what is open.
        wait_for("BJ004's end", lambda: ended(store, bj004), second)
        pushes = "jiancha_alertmanager_pushes_total"
        pushed = metric(client, second, pushes, outcome="ok")
        wait_for(
            "one more alert push",
            lambda: metric(client, second, pushes, outcome="ok") > pushed,
            second,
        )
        after = ledger(store)
        history = events(store)
    finally:
        client.close()
        store.close()

    assert set(before) <= set(after), "a finding was lost across the restart"
    opened = Counter(fp for fp, names in history.items() for name in names if name == "opened")
    assert set(opened.values()) == {1}, f"opened twice: {opened}"
    assert set(opened) == set(after)  # every finding in the ledger opened exactly once
    assert not [fp for fp, names in history.items() if "reopened" in names]
    assert history[bj002] == ["opened", "resolved"]
    assert history[bj004] == ["opened", "resolved"]
    assert after[bj002] == RESOLVED
    assert after[yellow] == OPEN
    # Alertmanager agrees: the resolved findings stay ended, the open ones fire again.
    assert alertmanager.alerts(rule="case.overdue", case_id="BJ002") == []
    assert alertmanager.alerts(rule="case.overdue", case_id="BJ004") == []
    assert alertmanager.active(rule="case.due_soon", case_id="BJ001")
    firing = {(a["labels"]["rule"], a["labels"]["subject_id"]) for a in alertmanager.alerts()}
    assert firing == {tuple(fp.split("|")[::2]) for fp, state in after.items() if state == OPEN}
    # The logs of both runs name no applicant (the case ids they may name).
    names, numbers = sensitive_values(hall_url)
    for run in (first, second):
        logged = strings_in(run.events())
        assert not ID_NUMBER.search(logged)
        assert not [value for value in (*names, *numbers) if value in run.log()]
    print(f"killed while polling: {caught}")


@pytest.mark.integration
@pytest.mark.postgres
def test_sigterm_stops_cleanly(
    hall_url: str, tmp_path: Path, spawn: Callable[..., Jiancha]
) -> None:
    data = hall_config(hall_url, tmp_path, evaluation_interval_seconds=1, poll_interval_seconds=1)
    daemon = spawn(write_config(tmp_path, data))
    with httpx.Client(timeout=2) as client:
        wait_for("the daemon to be ready", lambda: ready(client, daemon), daemon)
        wait_for(
            "an evaluation",
            lambda: metric(client, daemon, "jiancha_last_evaluation_timestamp_seconds"),
            daemon,
        )
    started = time.monotonic()
    assert daemon.terminate() == 0, daemon.log()
    assert time.monotonic() - started < 5
    names = [e["event"] for e in daemon.events()]
    assert "daemon_stopping" in names
    assert names[-1] == "daemon_stopped"
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{daemon.port}/healthz")


# --- 5. the endpoint's settings reach the running process ------------------------------------


def test_run_serves_tls_and_basic_auth_from_the_environment(
    tmp_path: Path, spawn: Callable[..., Jiancha]
) -> None:
    hall = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(hall)
    cert, key = self_signed_certificate(tmp_path)
    daemon = spawn(
        write_config(tmp_path, hall_config(hall, tmp_path)),
        JIANCHA_METRICS_USERNAME="prometheus",
        JIANCHA_METRICS_PASSWORD="scrape-secret",
        JIANCHA_TLS_CERT_FILE=str(cert),
        JIANCHA_TLS_KEY_FILE=str(key),
    )
    url = f"https://127.0.0.1:{daemon.port}"
    trusted = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(verify=trusted, timeout=2) as anonymous:
        wait_for(
            "the TLS endpoint",
            lambda: _answers(anonymous, f"{url}/healthz") == 401,
            daemon,
        )
    with httpx.Client(verify=trusted, timeout=2, auth=("prometheus", "scrape-secret")) as client:
        wait_for("readiness", lambda: _answers(client, f"{url}/readyz") == 200, daemon)
        scrape = client.get(f"{url}/metrics")
        assert scrape.status_code == 200
        samples = parse_metrics(scrape.text)
        assert samples[("jiancha_source_up", frozenset({("source", SOURCE)}))] == 1
    with httpx.Client(verify=trusted, auth=("prometheus", "wrong")) as wrong:
        assert wrong.get(f"{url}/metrics").status_code == 401
    assert "scrape-secret" not in daemon.log()
    assert daemon.terminate() == 0


def _answers(client: httpx.Client, url: str) -> int:
    try:
        return client.get(url).status_code
    except httpx.HTTPError:
        return 0
