"""One complete pass: poll every source once, assemble, evaluate every rule at an instant.

This is the engine behind ``jiancha scan`` (and, later, one cycle of the daemon). It
keeps the one-way flow: sources -> canonical records -> snapshot -> rules -> findings.
A source that fails is raised, never swallowed: an unreachable approval system must not
look like a hall without violations.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import structlog

from monitor.calendar import CalendarOverride, WorkingCalendar
from monitor.config import Config, ConfigError
from monitor.deadlines import DeadlinePolicy
from monitor.model import Finding, Snapshot
from monitor.privacy import ApplicantHasher
from monitor.settings import Settings
from monitor.snapshot import Records, assemble
from monitor.sources import open_source
from monitor.sources.mapping import Reject, log_reject
from rules import evaluate_all
from rules.context import RuleContext

log = structlog.get_logger(__name__)


@dataclass
class ScanResult:
    findings: list[Finding]
    snapshot: Snapshot
    rows: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, entity)
    rejects: list[tuple[str, Reject]] = field(default_factory=list)  # (source, reject)


def build_calendar(config: Config) -> WorkingCalendar:
    override = CalendarOverride.load(config.calendar.override) if config.calendar.override else None
    return WorkingCalendar.build(
        config.calendar.first_year, config.calendar.last_year, override, config.calendar.region
    )


def hasher_from(settings: Settings) -> ApplicantHasher:
    key = settings.applicant_hash_key
    return ApplicantHasher(None if key is None else key.get_secret_value().encode())


def scan(
    config: Config,
    settings: Settings,
    at: dt.datetime,
    calendar: WorkingCalendar | None = None,
) -> ScanResult:
    """Poll all sources fully and evaluate every rule as of ``at``."""
    calendar = calendar or build_calendar(config)
    policy = DeadlinePolicy(tz=settings.tz, end_of_day=config.calendar.end_of_day)
    if not calendar.first_day <= policy.local_date(at) <= calendar.last_day:
        raise ConfigError(
            f"calendar: the evaluation instant {at.isoformat()} is outside "
            f"calendar.first_year..last_year ({calendar.first_day}..{calendar.last_day})"
        )
    hasher = hasher_from(settings)
    records = Records()
    result = ScanResult(findings=[], snapshot=Snapshot())
    for source_config in config.sources:
        source = open_source(source_config, settings.tz, hasher)
        try:
            for entity in source.entities:
                batch = source.poll(entity)
                result.rows[(source.name, entity)] += batch.rows
                result.rejects.extend((source.name, r) for r in batch.rejects)
                for record in batch.records:
                    records.add(entity, record)
                log.info(
                    "entity_polled",
                    source=source.name,
                    url=source.display_url,
                    entity=entity,
                    rows=batch.rows,
                    rejected=len(batch.rejects),
                )
        finally:
            source.close()
    delivered = frozenset(e for s in config.sources for e in s.entity_names)
    snapshot, rejects = assemble(records, calendar, policy, delivered)
    for reject in rejects:
        log_reject(reject)
    result.rejects.extend(("*", r) for r in rejects)
    ctx = RuleContext(calendar=calendar, policy=policy, at=at, parameters=config.rules)
    result.snapshot = snapshot
    result.findings = evaluate_all(snapshot, ctx)
    return result
