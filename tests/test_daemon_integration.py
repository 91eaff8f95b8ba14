"""The daemon against real services: PostgreSQL case database, real Alertmanager, /metrics.

The daemon is driven in-process, one step at a time (``poll``, ``evaluate(at=…)``,
``push_alerts``), with a simulated clock starting at the example hall's instant; the
hall is ``examples/vendor_pinyin`` loaded into a fresh PostgreSQL database (names and ID
numbers included). Alertmanager judges alerts by the wall clock, so what these tests
check there is what a supervision office would see: which case alerts fire now.

Milestones of the example hall used here (see ``examples/vendor_pinyin/seed.sql``):
BJ001 is due Mon Oct 12 23:59:59 (a yellow card on Oct 9, red from Oct 13 00:00:00);
BJ002 has been overdue since Sep 28; BJ015, an immediate item accepted Oct 9 11:30,
turns red at midnight that day.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from exporters.http import EndpointSecurity, MetricsServer
from monitor.clock import Clock
from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.demo import EXAMPLE_DIR, load_example
from monitor.settings import Settings
from monitor.store import ESCALATED, OPEN, RESOLVED
from tests.alertmanager import Alertmanager, running_alertmanager
from tests.example_hall import AT, SHANGHAI
from tests.services import free_port, pg_admin_connect, require_binary

SOURCE = "approval"
HASH_KEY = "integration-test-key"
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
CASE_ID = re.compile(r"BJ\d{3}")


def oct_(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """An instant in October 2026, Beijing time."""
    return dt.datetime(2026, 10, day, hour, minute, second, tzinfo=SHANGHAI)


def fingerprint(rule: str, case_id: str) -> str:
    return f"{rule}|case|{case_id}"


# --- the hall and the daemon ------------------------------------------------------------


def hall_config(
    source_url: str,
    state_dir: Path,
    *,
    alertmanager_urls: list[str] | None = None,
    evaluation_interval_seconds: int = 60,
    poll_interval_seconds: int = 60,
    alerting: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The example configuration as a YAML document: its case database at ``source_url``.

    Only the example's ``approval`` source is kept (other sources of the example need
    their own services). Its case query also reads the applicant's name, so names reach
    the daemon just as ID numbers do, and must go no further.
    """
    data = yaml.safe_load((EXAMPLE_DIR / "jiancha.yaml").read_text(encoding="utf-8"))
    (source,) = [s for s in data["sources"] if s["name"] == SOURCE]
    source["url"] = source_url
    source["poll_interval_seconds"] = poll_interval_seconds
    source["connect_timeout_seconds"] = 2
    cases = source["entities"]["cases"]
    assert "SQRZJHM AS applicant_id_number," in cases["query"]
    cases["query"] = cases["query"].replace(
        "SQRZJHM AS applicant_id_number,",
        "SQRZJHM AS applicant_id_number, SQRMC AS applicant_name,",
    )
    data["sources"] = [source]
    data["state"] = {"url": f"sqlite:///{state_dir / 'state.db'}"}
    data["daemon"] = {"evaluation_interval_seconds": evaluation_interval_seconds}
    data["alerting"] = {"alertmanager_urls": alertmanager_urls or [], **(alerting or {})}
    return data


def load_hall_config(data: dict[str, Any]) -> Config:
    return parse_config(data, EXAMPLE_DIR)


def execute(url: str, *statements: str, **params: Any) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement), params)
    finally:
        engine.dispose()


def conclude(url: str, case_id: str, at: str) -> None:
    """The window concludes a case (出证办结) at ``at`` (YYYYMMDDhhmmss, as the vendor writes).

    The vendor stamps the row's update time later than any stamp before it, as a real
    clock would; incremental polling (newest update time seen, less an overlap) relies
    on that, so a stamp older than the newest one seen would rightly go unnoticed.
    """
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            newest = connection.execute(text("SELECT MAX(GXSJ) FROM SL_BJ")).scalar_one()
            stamp = dt.datetime.strptime(newest, "%Y%m%d%H%M%S") + dt.timedelta(minutes=1)
            connection.execute(
                text(
                    "UPDATE SL_BJ SET BJSJ = :at, BJJGDM = '0', GXSJ = :stamp"
                    " WHERE SBLSH = :case_id"
                ),
                {"at": at, "stamp": max(stamp.strftime("%Y%m%d%H%M%S"), at), "case_id": case_id},
            )
    finally:
        engine.dispose()


def sensitive_values(url: str) -> tuple[list[str], list[str]]:
    """Every applicant name and ID number in the case database."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT SQRMC, SQRZJHM FROM SL_BJ")).all()
    finally:
        engine.dispose()
    names = sorted({r[0] for r in rows if r[0]})
    numbers = sorted({r[1] for r in rows if r[1]})
    assert names and numbers
    return names, numbers


def settings() -> Settings:
    return Settings(applicant_hash_key=HASH_KEY, clock_start=None, clock_speed=1.0)


@contextmanager
def running_daemon(config: Config) -> Iterator[Daemon]:
    """A started daemon on a simulated clock starting at the example's instant; closed after."""
    daemon = Daemon(config, settings(), clock=Clock(SHANGHAI, AT))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.close()


@contextmanager
def serving(daemon: Daemon, security: EndpointSecurity | None = None) -> Iterator[MetricsServer]:
    """The daemon's /metrics, /healthz and /readyz on a free loopback port."""
    server = MetricsServer("127.0.0.1", 0, daemon.metrics.registry, daemon.readiness, security)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def base_url(server: MetricsServer) -> str:
    return f"{server.scheme}://127.0.0.1:{server.port}"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(exposition: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str) -> float:
    return sum(value for (n, _), value in samples.items() if n == name)


def scrape(client: httpx.Client, server: MetricsServer) -> Samples:
    response = client.get(f"{base_url(server)}/metrics")
    assert response.status_code == 200
    return parse_metrics(response.text)


def exposed_text(exposition: str) -> str:
    """What an exposition says besides its sample values: names, help, labels.

    Sample values are left out because a float can show 17 digits in a row
    (a poll duration of 0.025217005000058634 s) without being anybody's ID number.
    """
    parts: list[str] = []
    for family in text_string_to_metric_families(exposition):
        parts += [family.name, family.documentation]
        for s in family.samples:
            parts.append(s.name)
            parts += [f"{name}={value}" for name, value in s.labels.items()]
    return "\n".join(parts)


def strings_in(value: Any) -> str:
    """Every string (keys included) inside nested log events, one per line."""
    if isinstance(value, dict):
        return "\n".join(strings_in(k) + "\n" + strings_in(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return "\n".join(strings_in(v) for v in value)
    return value if isinstance(value, str) else ""


def events_of(daemon: Daemon, fingerprint_: str) -> list[str]:
    return [event for fp, _, event in daemon.store.finding_events() if fp == fingerprint_]


def parse_instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@contextmanager
def database_unreachable(url: str) -> Iterator[None]:
    """The case database refuses new connections and drops the open ones, until restored."""
    name = create_engine(url).url.database
    assert name
    with pg_admin_connect() as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
        finally:
            admin.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                    sql.Identifier(name)
                )
            )


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def hall_url(postgres_url: str) -> str:
    """The example hall (schema and seed) in a fresh PostgreSQL database."""
    load_example(postgres_url)
    return postgres_url


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    with running_alertmanager(tmp_path / "alertmanager") as am:
        yield am


# --- 1. a case crosses its deadline: Alertmanager sees yellow, red, then the end -----------


@pytest.mark.integration
@pytest.mark.postgres
def test_overdue_alert_fires_escalates_and_resolves_in_alertmanager(
    hall_url: str, tmp_path: Path, alertmanager: Alertmanager
) -> None:
    config = load_hall_config(hall_config(hall_url, tmp_path, alertmanager_urls=[alertmanager.url]))
    yellow_fp = fingerprint("case.due_soon", "BJ001")
    red_fp = fingerprint("case.overdue", "BJ001")
    with running_daemon(config) as daemon:
        assert daemon.poll(SOURCE)

        # The evening before BJ001's deadline: a yellow card, no red one.
        daemon.evaluate(at=oct_(12, 23, 0))
        assert daemon.push_alerts()
        (yellow,) = alertmanager.active(rule="case.due_soon", case_id="BJ001")
        assert yellow["labels"]["severity"] == "yellow"
        assert yellow["labels"]["alertname"] == "JianchaFinding"
        assert alertmanager.alerts(rule="case.overdue", case_id="BJ001") == []
        # Alertmanager judges by the wall clock, whatever instant the hall is at.
        wall = dt.datetime.now(dt.UTC)
        assert abs(parse_instant(yellow["startsAt"]) - wall) < dt.timedelta(minutes=1)
        assert parse_instant(yellow["endsAt"]) > wall + dt.timedelta(minutes=2)

        # The first second past the deadline: the red card opens, the yellow one ends.
        daemon.evaluate(at=oct_(13, 0, 0, 1))
        assert daemon.push_alerts()
        (red,) = alertmanager.active(rule="case.overdue", case_id="BJ001")
        assert red["labels"]["severity"] == "red"
        assert red["labels"]["department"] == "SCJ"
        assert red["labels"]["window"] == "W03"
        assert red["annotations"]["due_at"].startswith("2026-10-12T23:59:59")
        assert alertmanager.alerts(rule="case.due_soon", case_id="BJ001") == []
        escalated = daemon.store.ledger_entry(yellow_fp)
        assert escalated is not None
        assert escalated.state == ESCALATED
        assert escalated.resolved_at == oct_(13, 0, 0, 1)
        assert escalated.alert_ended  # its end reached Alertmanager
        assert events_of(daemon, yellow_fp) == ["opened", "escalated"]
        assert events_of(daemon, red_fp) == ["opened"]

        # The window concludes BJ001 the next morning: the overdue alert resolves and
        # the case now carries "concluded late" instead.
        conclude(hall_url, "BJ001", "20261013090000")
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=oct_(13, 10, 0))
        assert daemon.push_alerts()
        assert alertmanager.alerts(rule="case.overdue", case_id="BJ001") == []
        (late,) = alertmanager.active(rule="case.concluded_late", case_id="BJ001")
        assert late["labels"]["severity"] == "red"
        resolved = daemon.store.ledger_entry(red_fp)
        assert resolved is not None
        assert (resolved.state, resolved.resolved_at) == (RESOLVED, oct_(13, 10, 0))
        assert resolved.alert_ended
        assert events_of(daemon, red_fp) == ["opened", "resolved"]
        # Other cases' alerts are untouched: BJ002 is still overdue and still firing.
        assert len(alertmanager.active(rule="case.overdue", case_id="BJ002")) == 1
        # What fires in Alertmanager is exactly what the ledger holds open.
        firing = {
            (a["labels"]["rule"], a["labels"]["subject_id"])
            for a in alertmanager.alerts(alertname="JianchaFinding")
        }
        assert firing == {(e.finding.rule, e.finding.subject_id) for e in daemon.open_entries()}
        # Once its end is delivered a resolved finding is not re-sent every cycle.
        assert red_fp not in {e.fingerprint for e in daemon.store.load_ledger().values()}


@pytest.mark.integration
@pytest.mark.postgres
def test_an_alert_counts_the_lateness_up_to_the_last_evaluation(
    hall_url: str, tmp_path: Path, alertmanager: Alertmanager
) -> None:
    """BJ009 was due on Friday 16 October at 23:59:59: on Saturday it is late by hours,
    not yet by a working day. The ledger writes its row once; the alert, pushed after
    each evaluation, tells the hours as of that evaluation."""
    config = load_hall_config(hall_config(hall_url, tmp_path, alertmanager_urls=[alertmanager.url]))
    red_fp = fingerprint("case.overdue", "BJ009")
    rows = []
    with running_daemon(config) as daemon:
        assert daemon.poll(SOURCE)
        for hour in (1, 12):
            daemon.evaluate(at=oct_(17, hour, 0, 1))
            assert daemon.push_alerts()
            (red,) = alertmanager.active(rule="case.overdue", case_id="BJ009")
            assert f"已超时 {hour} 小时 0 分" in red["annotations"]["description"]
            rows.append(daemon.store.ledger_entry(red_fp))
    first, later = rows
    assert first is not None and later is not None
    # The row was not written again (its finding as first written); it was last seen at
    # the second evaluation, which confirmed every open finding of its sources.
    assert later.finding == first.finding
    assert later.last_seen == oct_(17, 12, 0, 1)


# --- 2. the case database goes away mid-run and comes back --------------------------------


@pytest.mark.integration
@pytest.mark.postgres
def test_source_outage_holds_findings_and_recovers_without_restart(
    hall_url: str, tmp_path: Path
) -> None:
    config = load_hall_config(hall_config(hall_url, tmp_path))
    with running_daemon(config) as daemon, serving(daemon) as server, httpx.Client() as client:
        url = base_url(server)
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=AT)
        held = {e.fingerprint: e for e in daemon.open_entries()}
        assert fingerprint("case.due_soon", "BJ001") in held
        assert fingerprint("case.overdue", "BJ002") in held
        before = scrape(client, server)
        assert sample(before, "jiancha_source_up", source=SOURCE) == 1
        open_before = total(before, "jiancha_findings_open")
        overdue_before = total(before, "jiancha_cases_overdue")
        assert open_before == len(held)
        events_before = len(daemon.store.finding_events())

        # BJ002 is concluded at the source just before the source goes away: the daemon
        # must not learn it (nor anything else) until the source is back.
        conclude(hall_url, "BJ002", "20261009093000")
        with database_unreachable(hall_url):
            # Hours pass; BJ001 crosses its deadline and BJ015 (immediate) turns red. With
            # the source down none of that may be raised, and nothing may be resolved.
            for attempt, at in enumerate((oct_(9, 12), oct_(13, 0, 0, 1), oct_(14, 10)), 1):
                assert not daemon.poll(SOURCE)
                daemon.evaluate(at=at)
                assert {e.fingerprint: e.state for e in daemon.open_entries()} == {
                    fp: OPEN for fp in held
                }
                during = scrape(client, server)  # /metrics keeps serving
                assert sample(during, "jiancha_source_up", source=SOURCE) == 0
                assert (
                    sample(during, "jiancha_source_consecutive_failures", source=SOURCE) == attempt
                )
                assert total(during, "jiancha_findings_open") == open_before
                assert total(during, "jiancha_cases_overdue") == overdue_before
                assert sample(during, "jiancha_polls_total", source=SOURCE, outcome="failed") == (
                    attempt
                )
                assert client.get(f"{url}/healthz").status_code == 200
                # Ready means "polled once and the state store answers"; a source outage
                # shows as jiancha_source_up 0 (and its alert), not as an unready daemon.
                assert client.get(f"{url}/readyz").status_code == 200
            assert len(daemon.store.finding_events()) == events_before
            assert daemon.unsettled_sources() == {SOURCE}

        # Back again, without a restart: the next poll succeeds and the ledger catches up.
        assert daemon.poll(SOURCE)
        assert daemon.unsettled_sources() == set()
        daemon.evaluate(at=oct_(13, 0, 0, 1))
        after = scrape(client, server)
        assert sample(after, "jiancha_source_up", source=SOURCE) == 1
        assert sample(after, "jiancha_source_consecutive_failures", source=SOURCE) == 0
        now_open = {e.fingerprint for e in daemon.open_entries()}
        assert fingerprint("case.overdue", "BJ001") in now_open  # raised once trusted
        assert fingerprint("case.overdue", "BJ015") in now_open
        assert fingerprint("case.concluded_late", "BJ002") in now_open
        assert fingerprint("case.overdue", "BJ002") not in now_open  # resolved at last
        state = {e.fingerprint: e.state for e in daemon.store.all_findings()}
        assert state[fingerprint("case.overdue", "BJ002")] == RESOLVED
        assert state[fingerprint("case.due_soon", "BJ001")] == ESCALATED
        assert total(after, "jiancha_findings_open") == len(now_open)


@pytest.mark.integration
@pytest.mark.postgres
def test_restart_while_the_source_is_down_holds_everything(hall_url: str, tmp_path: Path) -> None:
    config = load_hall_config(hall_config(hall_url, tmp_path))
    with running_daemon(config) as daemon:
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=AT)
        open_before = {e.fingerprint for e in daemon.open_entries()}
        events_before = daemon.store.finding_events()
    conclude(hall_url, "BJ002", "20261009093000")
    with database_unreachable(hall_url), running_daemon(config) as daemon:
        # What the store remembers is loaded, but nothing is judged on it until the
        # source has answered once since the start.
        assert daemon.unsettled_sources() == {SOURCE}
        assert daemon.readiness() == [f"source {SOURCE} has not been polled successfully yet"]
        assert not daemon.poll(SOURCE)
        daemon.evaluate(at=oct_(14, 10))
        assert {e.fingerprint for e in daemon.open_entries()} == open_before
        assert daemon.store.finding_events() == events_before
        assert daemon.readiness()  # still not ready


# --- 4. nothing personal leaves the daemon -------------------------------------------------


@pytest.mark.integration
@pytest.mark.postgres
def test_metrics_logs_and_alerts_carry_no_names_or_id_numbers(
    hall_url: str, tmp_path: Path, alertmanager: Alertmanager
) -> None:
    # One more applicant whose ID number ends in X, on a case that will be overdue.
    execute(
        hall_url,
        "INSERT INTO SL_BJ (SBLSH, SXBM, ZXBM, BMBM, CKBM, SQRMC, SQRZJHM, SBSJ, SLSJ, SLZTDM,"
        " LRSJ, SFJE, GXSJ) VALUES ('BJ901', '330100-003', 'HZ01', 'ZJJ', 'W07', '欧阳娜娜',"
        " '11010519491231002X', '20261008090000', '20261008093000', '1', '20261008093100',"
        " 0.00, '20261008093100')",
    )
    names, numbers = sensitive_values(hall_url)
    config = load_hall_config(hall_config(hall_url, tmp_path, alertmanager_urls=[alertmanager.url]))
    with (
        structlog.testing.capture_logs() as logs,
        running_daemon(config) as daemon,
        serving(daemon) as server,
        httpx.Client() as client,
    ):
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=oct_(14, 10))
        assert daemon.push_alerts()
        assert any(e.finding.case_id == "BJ901" for e in daemon.open_entries())
        exposition = client.get(f"{base_url(server)}/metrics").text
        alerts = alertmanager.alerts(alertname="JianchaFinding")

    # The data really was there and flowed through: the exposition has hall figures.
    assert "jiancha_findings_open{" in exposition
    labelled = exposed_text(exposition)
    assert "case.overdue" in labelled
    assert not ID_NUMBER.search(labelled)
    assert not CASE_ID.search(exposition)
    for value in (*names, *numbers):
        assert value not in exposition
    assert logs, "the daemon logged nothing"
    logged = strings_in(logs)
    assert not ID_NUMBER.search(logged)
    for value in (*names, *numbers):
        assert value not in logged
    # Alertmanager may carry the case id (it routes by it), never the person.
    assert {"BJ901", "BJ002"} <= {a["labels"].get("case_id") for a in alerts}
    carried = strings_in([(a["labels"], a["annotations"]) for a in alerts])
    assert not ID_NUMBER.search(carried)
    for value in (*names, *numbers):
        assert value not in carried


# --- 5. the endpoint: health, readiness, basic auth, TLS -----------------------------------


@pytest.fixture
def sqlite_hall(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    load_example(url)
    return url


def test_readyz_waits_for_the_first_successful_poll(sqlite_hall: str, tmp_path: Path) -> None:
    config = load_hall_config(hall_config(sqlite_hall, tmp_path))
    with running_daemon(config) as daemon, serving(daemon) as server, httpx.Client() as client:
        url = base_url(server)
        assert client.get(f"{url}/healthz").status_code == 200
        not_ready = client.get(f"{url}/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["why"] == [f"source {SOURCE} has not been polled successfully yet"]
        # /metrics serves before the first poll too, with the source not up yet.
        assert sample(scrape(client, server), "jiancha_source_up", source=SOURCE) == 0
        assert daemon.poll(SOURCE)
        ready = client.get(f"{url}/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert sample(scrape(client, server), "jiancha_source_up", source=SOURCE) == 1
        assert client.get(f"{url}/nothing-here").status_code == 404


def test_state_store_writes_are_timed_by_what_is_written(sqlite_hall: str, tmp_path: Path) -> None:
    config = load_hall_config(hall_config(sqlite_hall, tmp_path))
    with running_daemon(config) as daemon, serving(daemon) as server, httpx.Client() as client:

        def writes() -> dict[str, float | None]:
            samples = scrape(client, server)
            return {
                w: sample(samples, "jiancha_state_store_write_seconds_count", write=w)
                for w in ("poll", "ledger", "sla", "compact")
            }

        # Shown before any write.
        assert writes() == {"poll": 0, "ledger": 0, "sla": 0, "compact": 0}
        assert daemon.poll(SOURCE)
        entities = len(daemon.sources[SOURCE].source.entities)
        # One per entity.
        assert writes() == {"poll": entities, "ledger": 0, "sla": 0, "compact": 0}
        daemon.evaluate(AT)
        # The example's few cases: one batch of SLA rows.
        assert writes() == {"poll": entities, "ledger": 1, "sla": 1, "compact": 0}
        assert sample(scrape(client, server), "jiancha_state_store_write_seconds_sum", write="sla")
        daemon.compact_store()
        assert writes() == {"poll": entities, "ledger": 1, "sla": 1, "compact": 1}


def test_a_polls_changes_are_journalled_compacted_and_held_across_restarts(
    sqlite_hall: str, tmp_path: Path
) -> None:
    """A first poll stores its records straight away; a later one appends what changed
    to the state store's journal. A daemon started on that store holds what the poll
    held; the compaction job merges the journal (the scheduler runs it at the configured
    interval), and a daemon started after it holds the same again."""
    data = hall_config(sqlite_hall, tmp_path)
    data["daemon"]["compact_interval_seconds"] = 120
    config = load_hall_config(data)
    with running_daemon(config) as daemon:
        assert daemon.poll(SOURCE)
        assert daemon.store.journal_size() == 0
        before = daemon.records.cases["BJ002"]
        conclude(sqlite_hall, "BJ002", "20261009093000")
        assert daemon.poll(SOURCE)
        journalled = daemon.store.journal_size()
        assert journalled >= 1  # BJ002's new version, at least
        polled = dict(daemon.records.cases)
        assert polled["BJ002"] != before and polled["BJ002"].concluded_at is not None
        job = daemon.build_scheduler().get_job("compact")
        assert job is not None and job.trigger.interval == dt.timedelta(seconds=120)
    with running_daemon(config) as restarted:
        assert dict(restarted.records.cases) == polled
        assert restarted.compact_store() == journalled
        assert restarted.store.journal_size() == 0
        assert restarted.compact_store() == 0
    with running_daemon(config) as compacted:
        assert dict(compacted.records.cases) == polled


def test_a_failed_compaction_is_reported_and_its_versions_kept(
    sqlite_hall: str, tmp_path: Path
) -> None:
    """A compaction the state store refuses marks the store down (what
    JianchaStateStoreDown alerts on) and merges nothing; the next one merges it all."""
    config = load_hall_config(hall_config(sqlite_hall, tmp_path))
    with running_daemon(config) as daemon, serving(daemon) as server, httpx.Client() as client:
        assert daemon.poll(SOURCE)
        conclude(sqlite_hall, "BJ002", "20261009093000")
        assert daemon.poll(SOURCE)
        journalled = daemon.store.journal_size()
        state = config.state.url
        execute(state, "ALTER TABLE jiancha_entities RENAME TO jiancha_entities_away")
        with pytest.raises(SQLAlchemyError):
            daemon.compact_store()
        assert sample(scrape(client, server), "jiancha_state_store_up") == 0
        execute(state, "ALTER TABLE jiancha_entities_away RENAME TO jiancha_entities")
        assert daemon.store.journal_size() == journalled
        assert daemon.compact_store() == journalled
        assert sample(scrape(client, server), "jiancha_state_store_up") == 1


def test_basic_auth_guards_every_path(sqlite_hall: str, tmp_path: Path) -> None:
    config = load_hall_config(hall_config(sqlite_hall, tmp_path))
    security = EndpointSecurity(username="prometheus", password="s3cret-密码")
    with (
        running_daemon(config) as daemon,
        serving(daemon, security) as server,
        httpx.Client() as client,
    ):
        assert daemon.poll(SOURCE)
        url = base_url(server)
        for path in ("/metrics", "/healthz", "/readyz"):
            anonymous = client.get(url + path)
            assert anonymous.status_code == 401
            assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
            assert client.get(url + path, auth=("prometheus", "wrong")).status_code == 401
            assert client.get(url + path, auth=("someone", "s3cret-密码")).status_code == 401
            assert client.get(url + path, auth=("prometheus", "s3cret-密码")).status_code == 200
        assert "jiancha_source_up" not in client.get(f"{url}/metrics").text


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 made with the openssl CLI."""
    openssl = require_binary("openssl")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def test_metrics_over_tls(sqlite_hall: str, tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    config = load_hall_config(hall_config(sqlite_hall, tmp_path))
    security = EndpointSecurity(tls_cert_file=str(cert), tls_key_file=str(key))
    trusted = ssl.create_default_context(cafile=str(cert))
    with (
        running_daemon(config) as daemon,
        serving(daemon, security) as server,
        httpx.Client(verify=trusted) as client,
    ):
        assert server.scheme == "https"
        assert daemon.poll(SOURCE)
        response = client.get(f"https://127.0.0.1:{server.port}/metrics")
        assert response.status_code == 200
        assert sample(parse_metrics(response.text), "jiancha_source_up", source=SOURCE) == 1
        # An untrusting client refuses the certificate; plain HTTP gets no metrics.
        with httpx.Client() as strict, pytest.raises(httpx.ConnectError):
            strict.get(f"https://127.0.0.1:{server.port}/metrics")
        with httpx.Client() as plain, pytest.raises(httpx.HTTPError):
            plain.get(f"http://127.0.0.1:{server.port}/metrics")


# --- 6. Alertmanager unreachable: counted, survived, ends delivered later ------------------


@pytest.mark.integration
@pytest.mark.postgres
def test_unreachable_alertmanager_keeps_ends_until_it_is_back(
    hall_url: str, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet
    data = hall_config(
        hall_url,
        tmp_path,
        alertmanager_urls=[f"http://127.0.0.1:{port}"],
        alerting={"attempts": 1, "timeout_seconds": 2},
    )
    config = load_hall_config(data)
    overdue_fp = fingerprint("case.overdue", "BJ002")

    def failed_pushes(daemon: Daemon) -> float:
        value = daemon.metrics.registry.get_sample_value(
            "jiancha_alertmanager_pushes_total", {"outcome": "failed"}
        )
        return value or 0.0

    with running_daemon(config) as daemon:
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=AT)
        assert overdue_fp in {e.fingerprint for e in daemon.open_entries()}
        assert daemon.push_alerts() is False
        assert failed_pushes(daemon) == 1

        # The daemon carries on: BJ002 is concluded, polled and resolved in the ledger.
        conclude(hall_url, "BJ002", "20261009093000")
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=AT)  # concluded at 09:30: resolved as of 10:00
        assert daemon.store.ledger_entry(overdue_fp).state == RESOLVED  # type: ignore[union-attr]
        assert daemon.push_alerts() is False
        assert failed_pushes(daemon) == 2
        # Its end is still owed to Alertmanager, in memory and in the store.
        pending = daemon.store.load_ledger()
        assert overdue_fp in pending
        assert not pending[overdue_fp].alert_ended
        owed = sum(e.state != OPEN for e in pending.values())
        assert daemon.readiness() == []

    # Restarted while Alertmanager is still away: the owed end is remembered, the daemon
    # polls, evaluates and keeps failing to push without harm...
    with running_daemon(config) as daemon:
        assert overdue_fp in daemon.store.load_ledger()
        assert daemon.poll(SOURCE)
        daemon.evaluate(at=AT)
        assert daemon.push_alerts() is False
        assert failed_pushes(daemon) == 1
        assert overdue_fp in daemon.store.load_ledger()

        # ...until Alertmanager is back on its address: the end is delivered, once.
        with running_alertmanager(tmp_path / "am", port) as am:
            assert daemon.push_alerts() is True
            assert am.alerts_received("resolved") == owed
            assert am.alerts(rule="case.overdue", case_id="BJ002") == []
            assert len(am.active(rule="case.concluded_late", case_id="BJ002")) == 1
            assert daemon.store.ledger_entry(overdue_fp).alert_ended  # type: ignore[union-attr]
            assert overdue_fp not in daemon.store.load_ledger()
            ok = daemon.metrics.registry.get_sample_value(
                "jiancha_alertmanager_pushes_total", {"outcome": "ok"}
            )
            assert ok == 1
            # The next cycle re-sends the open alerts, not the end.
            assert daemon.push_alerts() is True
            assert am.alerts_received("resolved") == owed
            firing = Counter(a["labels"]["rule"] for a in am.alerts(alertname="JianchaFinding"))
            assert firing["case.concluded_late"] >= 2  # BJ002 joined BJ003
