"""``jiancha run``: the supervision daemon.

One process, one APScheduler ``BlockingScheduler`` with jobs built from the
configuration (explicit ids, ``max_instances=1``, ``coalesce=True``, misfire grace of
one interval):

- ``poll:<source>`` — poll one source incrementally at its own interval; its records,
  watermark and consumed files commit to the state store in one transaction per
  entity, then the evaluation is brought forward;
- ``evaluate`` — assemble the snapshot, evaluate every rule at the clock's instant,
  reconcile the findings ledger (holding what depends on an unsettled source), publish
  the hall figures to ``/metrics``;
- ``alerts`` — push open findings to Alertmanager and the ends of resolved ones;
- ``resync`` — nightly full poll of every source, which notices rows deleted there.

The daemon keeps the latest records in memory (loaded from the state store at start)
and writes only what changed. A source that fails is marked down and its findings are
held; its engine recovers by itself (pool pre-ping) when the database answers again.
SIGTERM or SIGINT stop the scheduler, wait a few seconds for running jobs (each commit
is atomic, so an abandoned one is simply rolled back) and close everything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from exporters.alertmanager import AlertContext, AlertmanagerPusher, render_alert
from exporters.http import EndpointSecurity, MetricsServer
from exporters.metrics import DaemonMetrics, SourceHealth
from monitor.allocator import ARENAS, limit_arenas
from monitor.clock import Clock
from monitor.collector import collector_paused
from monitor.config import ENTITY_NAMES, Config
from monitor.deadlines import DeadlinePolicy
from monitor.engine import Changes, Engine, brought_to, finding_order
from monitor.figures import FigureBook
from monitor.holders import Holders
from monitor.leader import LeaderLock
from monitor.ledger import SUBJECT_ENTITIES, Memory, dependencies, reconcile
from monitor.model import Finding, Snapshot
from monitor.monthly import previous_month
from monitor.report import generate_apart
from monitor.scan import build_calendar, hasher_from
from monitor.settings import Settings
from monitor.sla import SlaRecorder
from monitor.snapshot import Assembler, Records, snapshot_of
from monitor.sources import open_source
from monitor.sources.base import Source, SourceError
from monitor.sources.mapping import Reject, log_reject
from monitor.store import (
    OPEN,
    LedgerEntry,
    StateStore,
    decode_record,
    record_key,
)
from rules.context import RuleContext

log = structlog.get_logger(__name__)

_ALERT_BATCH = 1000
_SETTLE_AFTER = 10_000  # records of one poll after which the daemon settles (see _settle)


def _settle() -> None:
    """Keep the cyclic garbage collector off the daemon's long-lived state.

    The daemon holds millions of records, verdicts and findings that live for hours; a
    full collection walks all of them (about a second per 100 k cases) at moments set by
    allocation counts — in the middle of a cycle. After a poll or an evaluation, young
    garbage is collected and what survived is frozen (:func:`gc.freeze`): later full
    collections skip it. Frozen objects are still freed by reference counting when
    dropped (records and findings hold no reference cycles); :meth:`Daemon.close` gives
    them back to the collector.
    """
    gc.collect(1)
    gc.freeze()


@dataclass
class SourceState:
    """One source at run time: its poller and how its polls have gone."""

    source: Source
    interval_seconds: int
    lock: threading.Lock
    up: bool | None = None  # None: not polled yet since start
    last_success: dt.datetime | None = None  # wall clock: what Prometheus compares with time()
    last_error: str | None = None
    failures: int = 0


class Daemon:
    """Everything ``jiancha run`` does, callable step by step (tests drive it so)."""

    def __init__(
        self,
        config: Config,
        settings: Settings,
        *,
        clock: Clock | None = None,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        # Before the daemon's threads (the endpoint's, the scheduler's): monitor.allocator.
        self._arenas = limit_arenas()
        self.config = config
        self.settings = settings
        self.tz = settings.tz
        self.clock = clock or Clock(self.tz, settings.clock_start, settings.clock_speed)
        self.calendar = build_calendar(config)
        self.policy = DeadlinePolicy(tz=self.tz, end_of_day=config.calendar.end_of_day)
        self.hasher = hasher_from(settings)
        self.store = StateStore(config.state.url, config.state.schema_name)
        self.metrics = metrics or DaemonMetrics()
        alerting = config.alerting
        self.pusher = (
            AlertmanagerPusher(
                alerting.alertmanager_urls, alerting.timeout_seconds, alerting.attempts
            )
            if alerting.alertmanager_urls
            else None
        )
        self.records = Records()
        self.assembler = Assembler(self.calendar, self.policy)
        self.engine = Engine()
        self.figure_book = FigureBook(self.policy)
        # (entity, key) of records delivered or deleted since the last evaluation.
        self._changed: dict[str, set[str]] = {}
        self.sla = SlaRecorder(self.calendar, self.policy)
        self._provenance_recorded = False
        self.sources: dict[str, SourceState] = {}
        # Which source holds each record, and what each source delivered.
        self.holders = Holders(self.records)
        self._watermarks: dict[tuple[str, str], dt.datetime | None] = {}
        self._ledger: dict[str, LedgerEntry] = {}
        # What the last stored reconciliation saw (see monitor.ledger.Memory).
        self._memory = Memory()
        self._tally_synced = False  # the figure book's tally counts the ledger's open findings
        self._evaluated_at: dt.datetime | None = None  # the ledger's last reconciliation
        self._rejects_seen: set[tuple[str, str | None, str]] = set()
        # Steps/suspensions seen without their case: (entity, key) -> the owning source's
        # last success when first seen (see _orphan_settled).
        self._orphans: dict[tuple[str, str | None], dt.datetime | None] = {}
        self._future_warned: set[tuple[str, str]] = set()
        self._lock = threading.RLock()  # guards the in-memory state above
        self._scheduler: BlockingScheduler | None = None
        self._running_jobs = 0
        self._running: set[str] = set()  # job ids running now
        self._again: set[str] = set()  # brought forward while running: run once more
        self._jobs_done = threading.Condition()
        self.stopping = threading.Event()
        self.standby = False  # waiting for the leader lock (see monitor.leader)
        self.started = False  # start() has loaded the store and opened the sources

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Open the store, load what it knows, open the sources."""
        self.store.open()
        # Each run of rows of one source's entity (mostly all of them: rows come as they
        # were stored) is held at once.
        stored = self.store.load_payloads()
        for (source, entity), rows in itertools.groupby(stored, key=lambda row: row[:2]):
            self._remember(
                source,
                entity,
                ((key, decode_record(entity, payload)) for *_, key, payload in rows),
            )
        loaded = {e: held for e in ENTITY_NAMES if (held := self.records.count(e))}
        self._watermarks = self.store.watermarks()
        self._ledger = self.store.load_ledger()
        self.sla.load(self.store.latest_sla())
        _settle()
        for config in self.config.sources:
            self.sources[config.name] = SourceState(
                source=open_source(config, self.tz, self.hasher, ledger=self.store),
                interval_seconds=config.poll_interval_seconds,
                lock=threading.Lock(),
            )
            self._publish_source(config.name)
        self.metrics.calendar_confirmed_until = self.policy.end_of(self.calendar.confirmed_until)
        self.started = True
        log.info(
            "daemon_started",
            state=self.store.display_url,
            records=dict(loaded),
            open_findings=sum(e.state == OPEN for e in self._ledger.values()),
            sources=list(self.sources),
            simulated_clock=self.clock.simulated,
            malloc_arenas=ARENAS if self._arenas else os.environ.get("MALLOC_ARENA_MAX", "default"),
        )

    def close(self) -> None:
        gc.unfreeze()
        for state in self.sources.values():
            state.source.close()
        if self.pusher is not None:
            self.pusher.close()
        self.store.close()

    # --- polling -------------------------------------------------------------------------

    def _remember(self, source: str, entity: str, held: Iterable[tuple[str, Any]]) -> None:
        """Hold records of one source's entity: (key, record) each. The lookups are taken
        once for all of them (a first poll holds hundreds of thousands)."""
        changed = self._changed.setdefault(entity, set())

        def delivered() -> Iterator[tuple[str, Any]]:
            for key, record in held:
                changed.add(key)
                yield key, record

        self.holders.hold(source, entity, delivered())

    def _forget(self, source: str, entity: str, key: str) -> None:
        if self.holders.forget(source, entity, key):
            self._changed.setdefault(entity, set()).add(key)

    def _owner(self, entity: str, key: str) -> str | None:
        """The source that delivered the record held under ``key``, if any holds it."""
        return self.holders.holder(entity, key)

    def poll(self, name: str, full: bool = False) -> bool:
        """Poll one source (incrementally, or fully); whether it succeeded."""
        state = self.sources[name]
        with state.lock:
            started = time.perf_counter()
            changed = 0
            try:
                for entity in state.source.entities:
                    if self.stopping.is_set():
                        return False
                    changed += self._poll_entity(name, state.source, entity, full)
            except SourceError as exc:
                self._source_failed(name, str(exc))
                return False
            except SQLAlchemyError as exc:
                self.metrics.set_store_up(False)
                log.error("state_store_write_failed", source=name, error=str(exc).splitlines()[0])
                self.metrics.polls.labels(name, "failed").inc()
                return False
            finally:
                self.metrics.poll_duration.labels(name).observe(time.perf_counter() - started)
            self.metrics.set_store_up(True)
            if state.failures:
                log.info("source_recovered", source=name, after_failures=state.failures)
            # Metrics first: once readiness sees last_success, /metrics already shows it.
            succeeded = dt.datetime.now(dt.UTC)
            self.metrics.set_source(name, SourceHealth(True, succeeded, 0, state.interval_seconds))
            state.up, state.last_error, state.failures = True, None, 0
            state.last_success = succeeded
            self.metrics.polls.labels(name, "ok").inc()
            if changed:
                _settle()
            if changed and self._scheduler is not None:
                self._bring_forward("evaluate")
            return True

    def _poll_entity(self, name: str, source: Source, entity: str, full: bool) -> int:
        """Poll one entity of a source: map, store and hold its changed records.

        The cyclic garbage collector is paused meanwhile (as the engine pauses it while
        judging): a first poll maps hundreds of thousands of records that form no
        cycles, and each full collection their allocations trigger walks all of them
        again. A big batch is settled (collected young, frozen) once it is held.
        """
        with collector_paused():
            return self._poll_entity_paused(name, source, entity, full)

    def _poll_entity_paused(self, name: str, source: Source, entity: str, full: bool) -> int:
        since = None if full else source.next_since(self._watermarks.get((name, entity)))
        batch = source.poll(entity, since)
        # A record equal to what the source delivered last is neither stored nor held
        # again (records compare by value).
        upserts: list[tuple[str, Any]] = []
        seen: set[str] = set()
        unchanged = self.holders.unchanged
        for record in batch.records:
            key = record_key(entity, record)
            seen.add(key)
            if not unchanged(name, entity, key, record):
                upserts.append((key, record))
        deletes: list[str] = []
        if since is None and source.full_poll_lists_all:
            deletes = sorted(self.holders.listed(name, entity) - seen)
        previous = self._watermarks.get((name, entity))
        now = self.clock.now()
        seen_until = batch.watermark
        if seen_until is not None and seen_until > now:
            # A row stamped in the future (a wrong vendor clock) must not move the
            # watermark past rows that are still to come: it is re-read until then.
            if (name, entity) not in self._future_warned:
                self._future_warned.add((name, entity))
                log.warning(
                    "future_update_time",
                    source=name,
                    entity=entity,
                    update_time=seen_until.isoformat(),
                )
            seen_until = now
        watermark = max((w for w in (previous, seen_until) if w is not None), default=None)
        with self.metrics.store_write_duration.labels("poll").time():
            self.store.apply_poll(
                name,
                entity,
                upserts,
                deletes,
                watermark,
                batch.files,
                now,
                full=since is None,
            )
        with self._lock:
            if upserts:
                self._remember(name, entity, upserts)
            for key in deletes:
                self._forget(name, entity, key)
            self._watermarks[(name, entity)] = watermark
        if batch.applied is not None:
            batch.applied()
        if len(upserts) >= _SETTLE_AFTER:
            _settle()  # a big batch (the first poll): before the next entity's
        self.metrics.rows_ingested.labels(name, entity).inc(batch.rows)
        for reject in batch.rejects:
            self.metrics.rows_rejected.labels(name, reject.reason).inc()
        for consumed in batch.files:
            self.metrics.files.labels(name, consumed.outcome).inc()  # the source logs each
        if upserts or deletes or batch.rejects:
            log.info(
                "entity_polled",
                source=name,
                entity=entity,
                rows=batch.rows,
                changed=len(upserts),
                deleted=len(deletes),
                rejected=len(batch.rejects),
                full=since is None,
            )
        return len(upserts) + len(deletes)

    def _source_failed(self, name: str, error: str) -> None:
        state = self.sources[name]
        state.up, state.last_error = False, error
        state.failures += 1
        self.metrics.polls.labels(name, "failed").inc()
        self._publish_source(name)
        log.error("source_down", source=name, error=error, consecutive_failures=state.failures)

    def _publish_source(self, name: str) -> None:
        state = self.sources[name]
        self.metrics.set_source(
            name,
            SourceHealth(state.up, state.last_success, state.failures, state.interval_seconds),
        )

    def poll_all(self, full: bool = False) -> dict[str, bool]:
        """Poll every source at once, one thread each, as the scheduler's poll jobs run
        them: while one source waits for its database, another maps its rows. Whether
        each succeeded."""
        if len(self.sources) < 2:
            return {name: self.poll(name, full) for name in self.sources}
        with futures.ThreadPoolExecutor(len(self.sources), thread_name_prefix="poll") as pool:
            polls = {name: pool.submit(self.poll, name, full) for name in self.sources}
            return {name: poll.result() for name, poll in polls.items()}

    def resync(self) -> None:
        """Full poll of every source: catches what incremental polling cannot (deletions)."""
        self.poll_all(full=True)

    # --- evaluation ------------------------------------------------------------------------

    def unsettled_sources(self) -> set[str]:
        """Sources whose data cannot be trusted now: failing, or not polled since start."""
        return {name for name, state in self.sources.items() if not state.up}

    def _sources_of(self, entity: str) -> list[str]:
        return [n for n, s in self.sources.items() if entity in s.source.entities]

    def subject_source(self, finding: Finding) -> str | None:
        """The source that delivered the finding's subject (its case, ticket, payment…)."""
        entity = SUBJECT_ENTITIES.get(finding.subject_kind)
        if entity is not None and finding.subject_kind not in ("step", "suspension"):
            return self._owner(entity, finding.subject_id)
        if finding.case_id is not None:
            return self._owner("cases", finding.case_id)
        return None

    def depends_on(self, finding: Finding) -> frozenset[str]:
        return dependencies(finding, self._owner, self._sources_of)

    def _orphan_settled(
        self, reject: Reject, earlier: dict[tuple[str, str | None], dt.datetime | None]
    ) -> bool:
        """Whether a step or suspension without its case is really an orphan.

        A source reads cases, then steps, in separate statements: a case committed in
        between arrives with the next poll (the overlap re-reads it). Only a child still
        without its case after its source polled again is rejected and counted.
        """
        identity = (reject.entity, reject.key)
        owner = self.sources.get(self._owner(reject.entity, reject.key or "") or "")
        if owner is None:
            return True
        first_seen = earlier.get(identity, owner.last_success)
        self._orphans[identity] = first_seen
        if identity not in earlier:
            return False  # first seen now: wait for the source's next poll
        return owner.last_success is not None and owner.last_success != first_seen

    def evaluate(self, at: dt.datetime | None = None) -> list[Finding]:
        """Evaluate every rule now (or at ``at``) and reconcile the ledger; the findings."""
        at = at or self.clock.now()
        return sorted((brought_to(f, at) for f in self.run_evaluation(at)), key=finding_order)

    def run_evaluation(self, at: dt.datetime | None = None) -> Collection[Finding]:
        """:meth:`evaluate` as the evaluation job runs it: the findings as the engine keeps
        them (``Engine.evaluate`` with ``current`` False: a ticking ``seconds_late`` of a
        case not judged again is as of when it was; the ledger gets them brought to
        ``at``), in no particular order (``ordered`` False), gathered only if read (the
        ledger mostly needs only their number: :class:`monitor.engine.Found`). Saves
        copying every open overdue finding, and sorting them all, at every evaluation."""
        started = time.perf_counter()
        at = at or self.clock.now()
        with self._lock:
            delivered = frozenset(e for s in self.sources.values() for e in s.source.entities)
            changed, self._changed = self._changed, {}
            cases, rejects = self.assembler.update(self.records, changed)
            # The held tables themselves, not copies: whatever reads the snapshot runs
            # under the lock, which a poll takes to change them.
            snapshot = snapshot_of(self.records, self.assembler.cases, delivered, copy=False)
            orphans = self._orphans
            self._orphans = {}
            for reject in rejects:
                if reject.reason == "unknown_case" and not self._orphan_settled(reject, orphans):
                    continue
                identity = (reject.entity, reject.key, reject.reason)
                if identity not in self._rejects_seen:
                    self._rejects_seen.add(identity)
                    owner = self._owner(reject.entity, reject.key or "") or "unknown"
                    self.metrics.rows_rejected.labels(owner, reject.reason).inc()
                    log_reject(reject, owner)
            ctx = RuleContext(
                calendar=self.calendar, policy=self.policy, at=at, parameters=self.config.rules
            )
            findings = self.engine.evaluate(
                snapshot,
                ctx,
                Changes(
                    cases=frozenset(cases),
                    payments=frozenset(changed.get("payments", ())),
                    tickets=frozenset(changed.get("tickets", ())),
                    items=bool(changed.get("items")),
                    evaluations=frozenset(changed.get("evaluations", ())),
                ),
                current=False,
                ordered=False,
            )
            # Given back once this evaluation is stored: a failure forgets it.
            memory, self._memory = self._memory, Memory()
            changes = reconcile(
                self._ledger,
                findings,
                self.depends_on,
                self.unsettled_sources(),
                at,
                lookup=self.store.ledger_entries,
                memory=memory,
                changed=changed,
                refresh=lambda f: brought_to(f, at),
                rejudged=self.engine.rejudged,
            )
            if self.pusher is None:  # no Alertmanager: an end has nowhere to go
                for fingerprint, entry in changes.entries.items():
                    if entry.state != OPEN:
                        changes.entries[fingerprint] = dataclasses.replace(entry, alert_ended=True)
            try:
                with self.metrics.store_write_duration.labels("ledger").time():
                    self.store.save_ledger(changes)
                self._record_sla(snapshot, at, cases)
            except SQLAlchemyError as exc:
                self.metrics.set_store_up(False)
                log.error(
                    "state_store_write_failed", job="evaluate", error=str(exc).splitlines()[0]
                )
                # Nothing of this evaluation is kept: the next one looks at these again.
                for entity, keys in changed.items():
                    self._changed.setdefault(entity, set()).update(keys)
                raise
            self.metrics.set_store_up(True)
            for entry in changes.entries.values():
                if entry.state == OPEN or not entry.alert_ended:
                    self._ledger[entry.fingerprint] = entry
                else:
                    self._ledger.pop(entry.fingerprint, None)
            memory.commit()
            self._memory = memory
            self._evaluated_at = at
            tally = self.figure_book.tally
            if self._tally_synced:
                for fingerprint, entry in changes.entries.items():
                    tally.set(fingerprint, entry.finding if entry.state == OPEN else None)
            else:
                tally.reset(e.finding for e in self._ledger.values() if e.state == OPEN)
                self._tally_synced = True
            open_count = len(tally.findings)
            for _fingerprint, _at, event, rule, severity in changes.events:
                counter = (
                    self.metrics.findings_detected
                    if event in ("opened", "reopened")
                    else self.metrics.findings_resolved
                )
                counter.labels(rule, severity).inc()
            figures = self.figure_book.figures(
                snapshot, cases, None, at, self.calendar, changed.get("evaluations", ())
            )
        self.metrics.publish(figures)
        self.metrics.evaluation_duration.observe(time.perf_counter() - started)
        if changes.events:
            log.info(
                "ledger_changed",
                events=dict(Counter(event for _, _, event, _, _ in changes.events)),
                open=open_count,
                held_sources=sorted(self.unsettled_sources()),
            )
        if self._scheduler is not None and self.pusher is not None:
            self._bring_forward("alerts")
        _settle()
        return findings

    def _record_sla(
        self, snapshot: Snapshot, at: dt.datetime, changed: Iterable[str] | None = None
    ) -> None:
        """Append the cases' changed SLA judgments (a batch at a time), and once per
        process what they are computed with, for reports that must not change later (see
        :mod:`monitor.sla`)."""
        if not self._provenance_recorded:
            self.store.record_provenance(self.calendar, self.config.evaluation_settings(), at)
            self._provenance_recorded = True
        for rows in self.sla.batches(snapshot, at, changed):
            with self.metrics.store_write_duration.labels("sla").time():
                self.store.append_sla(rows)
            self.sla.commit(rows)

    def compact_store(self) -> int:
        """Merge the versions the polls appended to the state store's journal into its
        records' table (:meth:`monitor.store.StateStore.compact`); how many there were.
        Nothing in memory changes: the store reads the same records before and after."""
        try:
            with self.metrics.store_write_duration.labels("compact").time():
                merged = self.store.compact()
        except SQLAlchemyError as exc:
            self.metrics.set_store_up(False)
            log.error("state_store_write_failed", job="compact", error=str(exc).splitlines()[0])
            raise
        self.metrics.set_store_up(True)
        if merged:
            log.info("state_store_compacted", versions=merged)
        return merged

    def open_entries(self) -> list[LedgerEntry]:
        with self._lock:
            return [e for e in self._ledger.values() if e.state == OPEN]

    # --- alerts ------------------------------------------------------------------------------

    def push_alerts(self) -> bool:
        """Send open findings and unsent ends to Alertmanager; whether all of it arrived."""
        if self.pusher is None:
            return True
        # Alertmanager judges startsAt/endsAt by the wall clock, whatever the hall's clock.
        wall = dt.datetime.now(dt.UTC)
        interval = dt.timedelta(seconds=self.config.daemon.evaluation_interval_seconds)
        ends_at = wall + interval * self.config.alerting.ends_after_intervals
        with self._lock:
            entries = list(self._ledger.values())
            items = dict(self.records.items)
            # An open finding's ticking seconds_late counted up to the last evaluation (the
            # ledger writes it only with a change of the finding), unless it is held.
            evaluated_at = self._evaluated_at
            unsettled = self.unsettled_sources()
        alerts = []
        for entry in entries:
            finding = entry.finding
            if evaluated_at is not None and entry.state == OPEN and not entry.sources & unsettled:
                finding = brought_to(finding, evaluated_at)
            item = items.get(finding.item or "")
            context = AlertContext(
                item_name=item.name if item else "",
                source=self.subject_source(finding),
                sources=tuple(sorted(entry.sources)),
            )
            starts = wall if self.clock.simulated else min(entry.first_seen, wall)
            alerts.append(
                render_alert(
                    finding,
                    context,
                    starts,
                    ends_at if entry.state == OPEN else wall,
                    self.tz,
                    self.config.alerting.generator_url,
                )
            )
        delivered = True
        for start in range(0, len(alerts), _ALERT_BATCH):
            outcome = self.pusher.push(alerts[start : start + _ALERT_BATCH])
            for ok in outcome.values():
                self.metrics.alert_pushes.labels("ok" if ok else "failed").inc()
            delivered = delivered and all(outcome.values())
        self.metrics.alerts_active.set(sum(e.state == OPEN for e in entries))
        ended = [e.fingerprint for e in entries if e.state != OPEN]
        if delivered and ended:
            self.store.mark_alerts_ended(ended)
            with self._lock:
                for fingerprint in ended:
                    current = self._ledger.get(fingerprint)
                    if current is not None and current.state != OPEN:
                        del self._ledger[fingerprint]
        return delivered

    # --- readiness -----------------------------------------------------------------------------

    def readiness(self) -> list[str]:
        if self.standby:
            return ["standby: another daemon holds the leader lock"]
        if not self.started:
            return ["starting: the state store is not loaded yet"]
        problems = [
            f"source {name} has not been polled successfully yet"
            for name, state in self.sources.items()
            if state.last_success is None
        ]
        if not self.store.ping():
            problems.append("state store is unreachable")
        return problems

    # --- the scheduler ----------------------------------------------------------------------

    @contextmanager
    def _job(self, job: str) -> Iterator[None]:
        with self._jobs_done:
            self._running_jobs += 1
            self._running.add(job)
        try:
            yield
        except Exception:
            log.exception("job_failed", job=job)
        finally:
            with self._jobs_done:
                self._running_jobs -= 1
                self._running.discard(job)
                again = job in self._again
                self._again.discard(job)
                self._jobs_done.notify_all()
            if again:
                self._bring_forward(job)

    def _run_poll(self, name: str) -> None:
        with self._job(f"poll:{name}"):
            self.poll(name)

    def _run_evaluate(self) -> None:
        with self._job("evaluate"):
            self.run_evaluation()

    def _run_alerts(self) -> None:
        with self._job("alerts"):
            self.push_alerts()

    def _run_resync(self) -> None:
        with self._job("resync"):
            self.resync()

    def _run_compact(self) -> None:
        with self._job("compact"):
            self.compact_store()

    def _run_report(self) -> None:
        """The bulletin of the month just ended, for the hall and each configured center,
        made in a process of its own (:func:`monitor.report.generate_apart`)."""
        with self._job("report"):
            now = self.clock.now()
            month = previous_month(f"{now:%Y-%m}")
            generate_apart(
                self.config,
                month,
                now,
                self.tz,
                centers=[None, *self.config.report.centers],
                log_format=self.settings.log_format,
                log_level=self.settings.log_level,
            )

    def _bring_forward(self, job_id: str) -> None:
        """Run the job now; if it is running, once more as soon as it is done (never twice
        at once: the scheduler would skip the run and the change would wait an interval)."""
        with self._jobs_done:
            if job_id in self._running:
                self._again.add(job_id)
                return
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running and not self.stopping.is_set():
            try:
                scheduler.modify_job(job_id, next_run_time=dt.datetime.now(self.tz))
            except Exception:  # the scheduler is shutting down
                log.debug("job_not_brought_forward", job=job_id)

    def build_scheduler(self) -> BlockingScheduler:
        # A thread for each source's poll, the evaluation, the alerts, the resync and the
        # compaction (the monthly report, in a process of its own, waits for one if need be).
        workers = len(self.sources) + 4
        scheduler = BlockingScheduler(
            timezone=self.tz,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
        )
        # Every job: never two runs of it at once, and missed runs collapse into one.
        once = {"max_instances": 1, "coalesce": True}
        now = dt.datetime.now(self.tz)
        for name, state in self.sources.items():
            scheduler.add_job(
                self._run_poll,
                IntervalTrigger(seconds=state.interval_seconds, timezone=self.tz),
                args=[name],
                id=f"poll:{name}",
                name=f"poll {name}",
                next_run_time=now,
                misfire_grace_time=state.interval_seconds,
                **once,
            )
        interval = self.config.daemon.evaluation_interval_seconds
        scheduler.add_job(
            self._run_evaluate,
            IntervalTrigger(seconds=interval, timezone=self.tz),
            id="evaluate",
            name="evaluate rules",
            next_run_time=now + dt.timedelta(seconds=1),
            misfire_grace_time=interval,
            **once,
        )
        if self.pusher is not None:
            scheduler.add_job(
                self._run_alerts,
                IntervalTrigger(seconds=interval, timezone=self.tz),
                id="alerts",
                name="push alerts",
                misfire_grace_time=interval,
                **once,
            )
        resync = self.config.daemon.resync_time
        scheduler.add_job(
            self._run_resync,
            CronTrigger(hour=resync.hour, minute=resync.minute, timezone=self.tz),
            id="resync",
            name="nightly full resync",
            misfire_grace_time=3600,
            **once,
        )
        compact = self.config.daemon.compact_interval_seconds
        scheduler.add_job(
            self._run_compact,
            IntervalTrigger(seconds=compact, timezone=self.tz),
            id="compact",
            name="merge the state store's journal",
            misfire_grace_time=compact,
            **once,
        )
        report = self.config.report
        if report.enabled:
            scheduler.add_job(
                self._run_report,
                CronTrigger(
                    day=1, hour=report.time.hour, minute=report.time.minute, timezone=self.tz
                ),
                id="report",
                name="monthly report",
                misfire_grace_time=6 * 3600,
                **once,
            )
        self._scheduler = scheduler
        return scheduler

    def request_stop(self, reason: str) -> None:
        if self.stopping.is_set():
            return
        log.info("daemon_stopping", reason=reason)
        self.stopping.set()
        # Not from the signal handler itself: it may have interrupted the scheduler while
        # it holds its own locks. A signal that comes while the scheduler is still
        # starting waits for it to run, then stops it.
        threading.Thread(target=self._shut_scheduler, name="shutdown", daemon=True).start()

    def _shut_scheduler(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            scheduler = self._scheduler
            if scheduler is not None and scheduler.running:
                with contextlib.suppress(SchedulerNotRunningError):
                    scheduler.shutdown(wait=False)
                return
            time.sleep(0.05)

    def wait_for_jobs(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._jobs_done:
            while self._running_jobs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._jobs_done.wait(remaining)
        return True


def _endpoint(daemon: Daemon, settings: Settings) -> MetricsServer:
    security = EndpointSecurity(
        username=settings.metrics_username,
        password=(
            settings.metrics_password.get_secret_value() if settings.metrics_password else None
        ),
        tls_cert_file=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        tls_key_file=str(settings.tls_key_file) if settings.tls_key_file else None,
    )
    return MetricsServer(
        settings.listen_address,
        settings.listen_port,
        daemon.metrics.registry,
        daemon.readiness,
        security,
        daemon.metrics.exposition,
    )


def run(config: Config, settings: Settings, clock: Clock | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT; the process exit code.

    Waits as a standby while another daemon holds the leader lock (PostgreSQL state
    store); exits 1 if the lock is lost while leading, so a supervisor restarts it as a
    standby instead of two daemons writing one ledger. ``clock`` (default: the settings'
    clock) is shared with the demo hall's simulator, so both live the same hall time.
    """
    daemon = Daemon(config, settings, clock=clock)
    lock = LeaderLock(
        config.state.url, config.daemon.lock_name or config.state.schema_name or "jiancha"
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: daemon.request_stop(signal.strsignal(number)))
    server = _endpoint(daemon, settings)
    server.start()
    log.info(
        "endpoint_listening",
        url=f"{server.scheme}://{settings.listen_address}:{server.port}/metrics",
    )
    exit_code = 0
    try:
        daemon.standby = True
        while not lock.try_acquire():
            daemon.metrics.leader.set(0)
            log.info("standby", lock=lock.name, retry_seconds=config.daemon.standby_retry_seconds)
            if daemon.stopping.wait(config.daemon.standby_retry_seconds):
                return 0
        daemon.standby = False
        daemon.metrics.leader.set(1)
        daemon.start()
        scheduler = daemon.build_scheduler()

        def check_lock() -> None:
            nonlocal exit_code
            if not lock.still_held():
                exit_code = 1
                daemon.request_stop("leader lock lost")

        if lock.shared:
            scheduler.add_job(
                check_lock,
                IntervalTrigger(seconds=config.daemon.standby_retry_seconds, timezone=daemon.tz),
                id="leader-lock",
                name="check the leader lock",
                max_instances=1,
                coalesce=True,
            )
        if not daemon.stopping.is_set():  # a signal may have come during the start
            scheduler.start()
    finally:
        daemon.stopping.set()
        finished = daemon.wait_for_jobs(config.daemon.shutdown_timeout_seconds)
        server.stop()
        if not finished:
            # Every write is one transaction: abandoning it rolls it back, nothing half-done.
            log.warning("daemon_abandoning_jobs", timeout=config.daemon.shutdown_timeout_seconds)
            os._exit(exit_code)
        daemon.close()
        lock.release()
        log.info("daemon_stopped", exit_code=exit_code)
    return exit_code
