"""The scheduler the daemon builds from its configuration: ids, intervals, overlap rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.settings import Settings


def _daemon(tmp_path: Path, alerting: bool) -> Daemon:
    (tmp_path / "inbox").mkdir()
    data = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "daemon": {"evaluation_interval_seconds": 45, "resync_time": "03:15"},
        "report": {"time": "07:45", "enabled": alerting},
        "alerting": {"alertmanager_urls": ["http://127.0.0.1:9"] if alerting else []},
        "sources": [
            {
                "name": "approval",
                "url": f"sqlite:///{tmp_path / 'hall.db'}",
                "poll_interval_seconds": 30,
                "entities": {"items": {"query": "SELECT 1 AS code"}},
            },
            {
                "name": "bank",
                "kind": "statement_files",
                "directory": "inbox",
                "account": "1",
                "poll_interval_seconds": 300,
                "columns": {"id": "流水号", "paid_at": "时间", "amount_yuan": "金额"},
            },
        ],
    }
    daemon = Daemon(parse_config(data, tmp_path), Settings(applicant_hash_key="k"))
    daemon.start()
    return daemon


def test_jobs_have_explicit_ids_and_never_overlap(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path, alerting=True)
    scheduler = daemon.build_scheduler()
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "poll:approval",
        "poll:bank",
        "evaluate",
        "alerts",
        "resync",
        "compact",
        "report",
    }
    for job in jobs.values():
        assert job.max_instances == 1
        assert job.coalesce is True
    intervals = (("poll:approval", 30), ("poll:bank", 300), ("evaluate", 45), ("compact", 300))
    for job_id, seconds in intervals:
        trigger = jobs[job_id].trigger
        assert isinstance(trigger, IntervalTrigger)
        assert trigger.interval == dt.timedelta(seconds=seconds)
        assert jobs[job_id].misfire_grace_time == seconds  # about one interval
    resync = jobs["resync"].trigger
    assert isinstance(resync, CronTrigger)
    fields = {f.name: str(f) for f in resync.fields}
    assert (fields["hour"], fields["minute"]) == ("3", "15")
    report = {f.name: str(f) for f in jobs["report"].trigger.fields}
    assert (report["day"], report["hour"], report["minute"]) == ("1", "7", "45")
    daemon.close()


def test_no_alert_job_without_alertmanager(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path, alerting=False)
    jobs = {job.id for job in daemon.build_scheduler().get_jobs()}
    assert "alerts" not in jobs
    assert "report" not in jobs  # report.enabled: false
    assert daemon.push_alerts() is True  # nothing to push, nothing failed
    daemon.close()


def test_readiness_names_what_is_missing(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path, alerting=False)
    problems = daemon.readiness()
    assert any("approval" in p for p in problems)
    assert any("bank" in p for p in problems)
    assert daemon.poll("bank")  # an empty inbox is a successful poll
    assert not any("bank" in p for p in daemon.readiness())
    daemon.close()


def test_not_ready_before_the_store_is_loaded(tmp_path: Path) -> None:
    """The endpoint is up before start() (a standby serves it too): not ready yet."""
    (tmp_path / "inbox").mkdir()
    data = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": [
            {
                "name": "bank",
                "kind": "statement_files",
                "directory": "inbox",
                "account": "1",
                "columns": {"id": "流水号", "paid_at": "时间", "amount_yuan": "金额"},
            }
        ],
    }
    daemon = Daemon(parse_config(data, tmp_path), Settings(applicant_hash_key="k"))
    assert any(p.startswith("starting") for p in daemon.readiness())
    daemon.start()
    assert daemon.poll("bank")
    assert daemon.readiness() == []
    daemon.close()


class _RecordingScheduler:
    running = True

    def __init__(self) -> None:
        self.brought_forward: list[str] = []

    def modify_job(self, job_id: str, **changes: object) -> None:
        assert "next_run_time" in changes
        self.brought_forward.append(job_id)


def test_a_job_brought_forward_while_it_runs_runs_once_more_after(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path, alerting=False)
    scheduler = _RecordingScheduler()
    daemon._scheduler = scheduler  # type: ignore[assignment]
    daemon._bring_forward("evaluate")
    assert scheduler.brought_forward == ["evaluate"]  # idle: at once
    with daemon._job("evaluate"):
        daemon._bring_forward("evaluate")  # three polls changed something meanwhile
        daemon._bring_forward("evaluate")
        daemon._bring_forward("alerts")  # another job is not held back
        assert scheduler.brought_forward == ["evaluate", "alerts"]
    # Not skipped by the scheduler as a second instance: run once more, once.
    assert scheduler.brought_forward == ["evaluate", "alerts", "evaluate"]
    with daemon._job("evaluate"):
        pass
    assert scheduler.brought_forward == ["evaluate", "alerts", "evaluate"]
    daemon.close()
