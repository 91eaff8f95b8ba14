"""The dashboards on the simulated demo hall: a real daemon polling a backfilled hall that
the simulator keeps producing, scraped by a real Prometheus with the shipped rules.

Every PromQL expression of every dashboard panel, every dashboard variable and every
recording rule returns at least one series — except the panel about bank statement
*files*, which the demo hall does not have (its bank feed is a table; the example hall's
statement folder covers that panel in test_stack_live.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from monitor.clock import Clock
from monitor.demo.catalogue import build_catalogue
from monitor.demo.config import render_config
from tests.alertmanager import running_alertmanager
from tests.dashboard_queries import queries, variable_queries
from tests.demo_hall import SHANGHAI, demo_hall
from tests.prometheus import Prometheus, running_prometheus
from tests.test_daemon_restart import Jiancha
from tests.test_stack_live import (
    Notifications,
    alertmanager_config,
    prometheus_config,
    recording_rules,
    wait_for,
)

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)  # a Thursday, the hall open
ONLY_WITH_STATEMENT_FILES = ("jiancha_statement_files_total",)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("demo-stack")
    hall = demo_hall(workdir, START, days=10)
    # Every source polled and the rules evaluated each second.
    hall.config_path.write_text(
        render_config(
            build_catalogue(hall.simulator.spec.centers),
            url=hall.db.url,
            state_url=f"sqlite:///{workdir / 'state.db'}",
            poll_seconds=1,
            evaluation_seconds=1,
        ),
        encoding="utf-8",
    )
    # The hall goes on live, at 60× real time, on the clock the daemon is given too.
    clock = Clock(SHANGHAI, START, 60)
    stop = threading.Event()
    producer = threading.Thread(
        target=hall.simulator.live(hall.db, START.date() - dt.timedelta(days=10), START).run,
        args=(clock, stop, 0.5),
        daemon=True,
    )
    notifications = Notifications()
    daemon: Jiancha | None = None
    try:
        producer.start()
        config_file = alertmanager_config(workdir / "am-config", notifications)
        with running_alertmanager(workdir / "am", config_file=config_file) as alertmanager:
            daemon = Jiancha(
                hall.config_path,
                workdir / "jiancha.log",
                ALERTMANAGER_URLS=alertmanager.url,
                JIANCHA_CLOCK_START=START.isoformat(),
                JIANCHA_CLOCK_SPEED="60",
            )
            config = prometheus_config(workdir / "prom-config", daemon.port, alertmanager.port)
            with running_prometheus(workdir / "prometheus", config) as prometheus:
                wait_for(
                    "the daemon on the demo hall to be scraped and evaluated a few times",
                    lambda: _settled(prometheus),
                    daemon.log,
                    prometheus.log,
                )
                yield prometheus
    finally:
        stop.set()
        producer.join(timeout=10)
        if daemon is not None:
            daemon.kill()
        notifications.close()
        hall.db.close()


def _settled(p: Prometheus) -> bool:
    return bool(
        p.query('count_over_time(up{job="jiancha"}[1m]) >= 6 and up{job="jiancha"} == 1')
        and p.query("jiancha_cases_overdue")
        and p.query('count_over_time(jiancha_alertmanager_pushes_total{outcome="ok"}[1m]) >= 3')
        and p.query("count_over_time(center:jiancha_cases_open:sum[1m]) >= 3")
        and p.query("jiancha_rows_rejected_total")
    )


def test_every_dashboard_query_has_series_on_the_demo_hall(prometheus: Prometheus) -> None:
    checks = [(f"{name} · {title}", expr) for name, title, expr in queries()]
    checks += [(f"{name} · ${variable}", expr) for name, variable, expr in variable_queries()]
    for record, expr in recording_rules():
        checks += [(f"recording rule {record}", record), (f"expr of {record}", expr)]
    skipped = [c for c in checks if any(m in c[1] for m in ONLY_WITH_STATEMENT_FILES)]
    assert len(skipped) == 1, skipped
    checks = [c for c in checks if c not in skipped]
    assert len(checks) > 80
    empty = [(where, expr) for where, expr in checks if not prometheus.query(expr)]
    assert empty == [], "queries without any series:\n" + "\n".join(f"{w}: {e}" for w, e in empty)


def test_the_demo_hall_shows_every_rule_and_all_its_centers(prometheus: Prometheus) -> None:
    rules = {s["metric"]["rule"] for s in prometheus.query("jiancha_findings_open")}
    # Ten days of a hall with every kind of violation injected (bad ratings need fifteen
    # working days to become findings).
    assert len(rules) >= 10, rules
    assert {
        "case.overdue",
        "case.due_soon",
        "offsystem.ticket_without_case",
        "offsystem.backfilled_case",
        "fee.not_in_designated_account",
    } <= rules
    centers = {s["metric"]["center"] for s in prometheus.query("center:jiancha_cases_open:sum")}
    assert centers == {"ZX01", "ZX02"}
    sources = {s["metric"]["source"]: s["value"][1] for s in prometheus.query("jiancha_source_up")}
    assert sources == {"approval": "1", "window": "1", "bank": "1"}
