"""Prometheus metrics of the daemon (DESIGN.md §4), on the daemon's own registry.

Two kinds of metric live here. Event counters and histograms (rows ingested, polls,
findings detected, alert pushes) are ordinary prometheus-client objects the daemon
increments. Hall state (open cases, cards, findings open, KPIs, source health) is
rendered at scrape time from the latest :class:`~monitor.figures.HallFigures` by a
custom collector, so a department or window that no longer has overdue cases simply
disappears instead of lingering as a stale series.

Labels are limited to center, department, window, item, rule, severity, source (and a
reject ``reason`` / an ``entity`` or ``outcome`` from small fixed sets): never a case id,
a name or an ID number. Money is exported in yuan (the base unit), converted exactly
from integer fen.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata as importlib_metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor.figures import HallFigures

# ``*_created`` series double the scrape for nothing a dashboard uses.
disable_created_metrics()


@dataclass(frozen=True)
class SourceHealth:
    """What the exporter shows about one source."""

    up: bool | None  # None: not polled yet since the daemon started
    last_success: dt.datetime | None
    consecutive_failures: int
    interval_seconds: float | None = None  # how often it is polled (data-stale alerts)


def _version() -> str:
    try:
        return importlib_metadata.version("jiancha")
    except importlib_metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "unknown"


class _HealthCollector(Collector):
    """Source health, the state store and the calendar horizon: small, live at every scrape."""

    def __init__(self, metrics: DaemonMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        m = self._metrics
        with m.lock:
            sources = dict(m.sources)
            store_up = m.store_up
            confirmed_until = m.calendar_confirmed_until
        up = GaugeMetricFamily(
            "jiancha_source_up", "1 when the source's last poll succeeded.", labels=["source"]
        )
        last = GaugeMetricFamily(
            "jiancha_source_last_success_timestamp_seconds",
            "When the source was last polled successfully.",
            labels=["source"],
        )
        failures = GaugeMetricFamily(
            "jiancha_source_consecutive_failures",
            "Polls failed in a row (0 when the last one succeeded).",
            labels=["source"],
        )
        interval = GaugeMetricFamily(
            "jiancha_source_poll_interval_seconds",
            "How often the source is polled (data is stale after a few missed intervals).",
            labels=["source"],
        )
        for name, health in sorted(sources.items()):
            up.add_metric([name], 1.0 if health.up else 0.0)
            failures.add_metric([name], health.consecutive_failures)
            if health.last_success is not None:
                last.add_metric([name], health.last_success.timestamp())
            if health.interval_seconds is not None:
                interval.add_metric([name], health.interval_seconds)
        yield from (up, last, failures, interval)
        yield GaugeMetricFamily(
            "jiancha_state_store_up", "1 when the state store answers.", value=float(store_up)
        )
        if confirmed_until is not None:
            yield GaugeMetricFamily(
                "jiancha_calendar_confirmed_until_timestamp_seconds",
                "End of the last day whose official working-day schedule is confirmed.",
                value=confirmed_until.timestamp(),
            )


class _HallCollector(Collector):
    """The hall's figures: one family per figure, from the latest evaluation."""

    def __init__(self, figures: Callable[[], HallFigures | None]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self._figures()
        if figures is not None:
            yield from _hall_families(figures)


Values = Mapping[tuple[str, ...], float]
# One family of the hall's figures: kind ("gauge"/"counter"), name, help, label names and
# the values by label values.
FamilyData = tuple[str, str, str, list[str], Values]


def _family(
    kind: str, name: str, documentation: str, labels: list[str], values: Values
) -> GaugeMetricFamily | CounterMetricFamily:
    family_type = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
    family = family_type(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


MONTH_COUNTS = {
    "jiancha_month_cases_accepted_concluded": (
        "Cases accepted this month and already concluded (办结率 numerator).",
        "accepted_concluded",
    ),
    "jiancha_month_cases_immediate": (
        "Immediate-item cases accepted this month (即办件比例 numerator).",
        "immediate",
    ),
    "jiancha_month_cases_decided": (
        "Cases decided this month (按时办结率 denominator).",
        "decided",
    ),
    "jiancha_month_cases_decided_on_time": (
        "Cases decided this month within the promised limit (按时办结率 numerator).",
        "decided_on_time",
    ),
    "jiancha_month_ratings": ("Ratings given this month (满意率 denominator).", "ratings"),
    "jiancha_month_ratings_satisfied": (
        "Ratings of 非常满意 or 满意 this month (满意率 numerator).",
        "satisfied",
    ),
}


def _hall_data(f: HallFigures) -> Iterator[FamilyData]:
    """The hall's families as data, in exposition order."""
    place = ["center", "department"]
    window = ["center", "department", "window"]
    yield ("gauge", "jiancha_cases_open", "Cases accepted and not concluded.", place, f.cases_open)
    yield (
        "gauge",
        "jiancha_cases_suspended",
        "Open cases in a special procedure (clock stopped).",
        place,
        f.cases_suspended,
    )
    yield (
        "gauge",
        "jiancha_cases_due_soon",
        "Open cases with a yellow card (黄牌).",
        window,
        f.due_soon,
    )
    yield (
        "gauge",
        "jiancha_cases_overdue",
        "Open cases past their promised deadline (红牌).",
        window,
        f.overdue,
    )
    yield (
        "gauge",
        "jiancha_oldest_overdue_age_seconds",
        "How long the longest-overdue open case has been past its deadline.",
        place,
        f.oldest_overdue_seconds,
    )
    yield (
        "gauge",
        "jiancha_findings_open",
        "Findings open in the ledger.",
        ["rule", "severity", "center", "department"],
        f.findings_open,
    )
    yield (
        "gauge",
        "jiancha_fee_unreconciled_yuan",
        "Fees due with no matching deposit in a designated account.",
        place,
        {k: float(Decimal(v) / 100) for k, v in f.unreconciled_fee_fen.items()},
    )
    yield (
        "gauge",
        "jiancha_deadlines_unconfirmed",
        "Open findings whose deadline lies beyond the confirmed official calendar.",
        [],
        {(): f.unconfirmed_deadlines},
    )
    yield (
        "counter",
        "jiancha_cases_concluded",
        "Decided cases known to the daemon, by timeliness (on_time or late).",
        ["center", "department", "timeliness"],
        f.concluded,
    )
    kpis = {
        "jiancha_month_cases_accepted": ("Cases accepted this month.", "accepted"),
        "jiancha_month_conclusion_ratio": ("办结率 this month (0-1).", "conclusion_ratio"),
        "jiancha_month_on_time_ratio": ("按时办结率 this month (0-1).", "on_time_ratio"),
        "jiancha_month_immediate_ratio": ("即办件比例 this month (0-1).", "immediate_ratio"),
        "jiancha_month_satisfaction_ratio": ("满意率 this month (0-1).", "satisfaction_ratio"),
        "jiancha_month_on_site_ratio": (
            "现场办结率 this month: accepted cases decided on their acceptance day (0-1).",
            "on_site_ratio",
        ),
        "jiancha_month_promised_speedup_ratio": (
            "承诺提速率 this month: (statutory - promised) / statutory working days "
            "of the cases decided.",
            "promised_speedup_ratio",
        ),
        "jiancha_month_actual_speedup_ratio": (
            "实际提速率 this month: (statutory - used) / statutory working days "
            "of the cases decided (negative when slower than the law).",
            "actual_speedup_ratio",
        ),
    }
    for name, (documentation, attribute) in kpis.items():
        values = {
            (center,): float(value)
            for center, month in f.month.items()
            if (value := getattr(month, attribute)) is not None
        }
        yield ("gauge", name, documentation, ["center"], values)
    # The counts behind the ratios, so that Prometheus can add centers (and shards) up:
    # a province's on-time rate is a ratio of sums, never an average of ratios.
    for name, (documentation, attribute) in MONTH_COUNTS.items():
        values = {(center,): float(getattr(month, attribute)) for center, month in f.month.items()}
        yield ("gauge", name, documentation, ["center"], values)


def _hall_families(f: HallFigures) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    for data in _hall_data(f):
        yield _family(*data)


# What Prometheus 2.x asks for when it scrapes (it prefers OpenMetrics).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
_EOF = b"# EOF\n"


def _render(figures: HallFigures, accept: str) -> bytes:
    """The hall's families as exposition text (without OpenMetrics' closing ``# EOF``)."""
    registry = CollectorRegistry()
    registry.register(_HallCollector(lambda: figures))
    encoder, _ = choose_encoder(accept)
    return encoder(registry).removesuffix(_EOF)


class _Families(Collector):
    """Given families, as a collector."""

    def __init__(self, *families: GaugeMetricFamily | CounterMetricFamily) -> None:
        self._families = families

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return iter(self._families)


class _HallText:
    """:func:`_render` in one text format, each family's lines kept from render to render.

    A province's figures are tens of thousands of samples (cards by window, findings by
    rule and place …) and an evaluation changes few of them, while prometheus-client
    formats every one again (label escaping, the value's Go form). Here every line is
    prometheus-client's own: a family seen for the first time is rendered whole by it,
    afterwards only its new series are (the family with those samples alone, in one
    call); a line is reused while its sample (family, label values, value) is the same,
    and a series whose value changed keeps its rendered name and labels, with the value
    formatted as prometheus-client formats it (``floatToGoString``).
    The text is the same, byte for byte: a family's exposition is its ``# HELP``/``# TYPE``
    lines and then one line per sample, a label value's line breaks escaped.
    """

    def __init__(self, accept: str) -> None:
        self._encoder = choose_encoder(accept)[0]
        self._lines: dict[tuple[object, ...], bytes] = {}
        # Each series' line up to its value, by (family name, label values).
        self._series: dict[tuple[object, ...], bytes] = {}

    def _text(self, *families: GaugeMetricFamily | CounterMetricFamily) -> bytes:
        registry = CollectorRegistry()
        registry.register(_Families(*families))
        return self._encoder(registry).removesuffix(_EOF)

    def _lines_of(
        self,
        kind: str,
        name: str,
        documentation: str,
        labels: list[str],
        items: list[tuple[tuple[str, ...], float]],
    ) -> tuple[bytes, list[bytes] | None]:
        """The family of these samples as prometheus-client renders it, and line by line:
        two head lines, then a line per sample in order (None if not of that shape)."""
        text = self._text(_family(kind, name, documentation, labels, dict(items)))
        lines = [line + b"\n" for line in text.split(b"\n")[:-1]]
        return text, lines if len(lines) == 2 + len(items) else None

    @staticmethod
    def _series_of(line: bytes, value: float) -> bytes | None:
        """A sample's line up to its value, if the rest is the value as formatted."""
        series, _, _ = line.rpartition(b" ")
        return series + b" " if _line(series + b" ", value) == line else None

    def render(self, figures: HallFigures) -> bytes:
        kept, lines = self._lines, {}
        known, series = self._series, {}
        out: list[bytes] = []
        for kind, name, documentation, labels, values in _hall_data(figures):
            items = sorted(values.items())
            head_key = (kind, name, documentation, tuple(labels))
            # A zero by its sign too: -0.0 equals 0 but is rendered otherwise.
            keys = [(name, key, value if value else repr(value)) for key, value in items]
            head = kept.get(head_key)
            fresh: dict[tuple[object, ...], bytes] = {}
            if head is not None:
                missing = []
                for k, item in zip(keys, items, strict=True):
                    if k in kept:
                        continue
                    start = known.get(k[:2])
                    if start is not None:
                        fresh[k] = _line(start, item[1])
                    else:
                        missing.append((k, item))
                if missing:
                    _, rendered = self._lines_of(
                        kind, name, documentation, labels, [item for _, item in missing]
                    )
                    if rendered is None or rendered[0] + rendered[1] != head:
                        head = None  # not line by line: rendered whole below
                    else:
                        fresh.update(zip((k for k, _ in missing), rendered[2:], strict=True))
            if head is None:
                text, whole = self._lines_of(kind, name, documentation, labels, items)
                if whole is None:
                    out.append(text)
                    continue
                head = whole[0] + whole[1]
                fresh = dict(zip(keys, whole[2:], strict=True))
            lines[head_key] = head
            out.append(head)
            for k, (_, value) in zip(keys, items, strict=True):
                line = fresh.get(k) or kept[k]
                lines[k] = line
                out.append(line)
                start = known.get(k[:2]) or self._series_of(line, value)
                if start is not None:
                    series[k[:2]] = start
        self._lines = lines  # what this figures' samples need, and no more
        self._series = series
        return b"".join(out)


def _line(series: bytes, value: float) -> bytes:
    """A sample's line: its series (name and labels) and its value, as prometheus-client
    writes them (no timestamp or exemplar: the hall's figures have none)."""
    return series + floatToGoString(value).encode() + b"\n"


# What the daemon writes to the state store, as jiancha_state_store_write_seconds labels it.
STORE_WRITES = ("poll", "ledger", "sla", "compact")


class DaemonMetrics:
    """Every metric of one daemon, on its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # ``registry`` has every metric; ``live`` all but the hall's figures, which are
        # rendered once per evaluation (see :meth:`exposition`), not at every scrape.
        self.registry = registry or CollectorRegistry()
        self.live = CollectorRegistry()
        self.lock = threading.Lock()
        self.figures: HallFigures | None = None
        self.sources: dict[str, SourceHealth] = {}
        self.store_up = True
        self.calendar_confirmed_until: dt.datetime | None = None
        self._rendered: dict[str, bytes] = {}  # the hall's figures by content type
        self._hall_text = _HallText(PROMETHEUS_ACCEPT)  # as publish renders them
        r = self.live
        self.build_info = Gauge(
            "jiancha_build_info", "Version of the running daemon.", ["version"], registry=r
        )
        self.build_info.labels(_version()).set(1)
        self.rows_ingested = Counter(
            "jiancha_rows_ingested",
            "Rows read from sources and mapped onto the canonical model.",
            ["source", "entity"],
            registry=r,
        )
        self.rows_rejected = Counter(
            "jiancha_rows_rejected",
            "Rows that could not be mapped or judged, by reason.",
            ["source", "reason"],
            registry=r,
        )
        self.files = Counter(
            "jiancha_statement_files",
            "Statement files consumed, by outcome (accepted, rejected).",
            ["source", "outcome"],
            registry=r,
        )
        self.polls = Counter(
            "jiancha_polls", "Polls by outcome (ok, failed).", ["source", "outcome"], registry=r
        )
        self.poll_duration = Histogram(
            "jiancha_poll_duration_seconds",
            "Time to poll one source (all its entities).",
            ["source"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.store_write_duration = Histogram(
            "jiancha_state_store_write_seconds",
            "Time to write to the state store: a polled entity's records and watermark "
            "(poll), an evaluation's ledger changes (ledger), a batch of SLA rows (sla), "
            "the polls' journal merged into the records (compact).",
            ["write"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        for write in STORE_WRITES:  # shown from the start, before the first write
            self.store_write_duration.labels(write)
        self.evaluation_duration = Histogram(
            "jiancha_rule_evaluation_duration_seconds",
            "Time to evaluate every rule and reconcile the ledger.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.findings_detected = Counter(
            "jiancha_findings_detected",
            "Findings opened (or reopened) in the ledger.",
            ["rule", "severity"],
            registry=r,
        )
        self.findings_resolved = Counter(
            "jiancha_findings_resolved",
            "Findings resolved or escalated in the ledger.",
            ["rule", "severity"],
            registry=r,
        )
        self.alert_pushes = Counter(
            "jiancha_alertmanager_pushes",
            "Alert batches sent to one Alertmanager, by outcome (ok, failed).",
            ["outcome"],
            registry=r,
        )
        self.alerts_active = Gauge(
            "jiancha_alerts_active", "Per-case alerts currently firing.", registry=r
        )
        self.leader = Gauge(
            "jiancha_leader",
            "1 while this daemon holds the leader lock and schedules; 0 on standby.",
            registry=r,
        )
        self.last_evaluation = Gauge(
            "jiancha_last_evaluation_timestamp_seconds",
            "When rules were last evaluated.",
            registry=r,
        )
        r.register(_HealthCollector(self))
        self.registry.register(self.live)
        self.registry.register(_HallCollector(lambda: self.figures))

    def publish(self, figures: HallFigures) -> None:
        """The figures of an evaluation, rendered now in the format Prometheus asks for."""
        rendered = {choose_encoder(PROMETHEUS_ACCEPT)[1]: self._hall_text.render(figures)}
        with self.lock:
            self.figures = figures
            self._rendered = rendered
        self.last_evaluation.set_to_current_time()  # wall clock, whatever the hall's clock

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """What ``/metrics`` answers: the live metrics rendered now, the hall's figures as
        rendered at the last evaluation (in the text format the ``Accept`` header asks)."""
        encoder, content_type = choose_encoder(accept or "")
        with self.lock:
            figures = self.figures
            hall = self._rendered.get(content_type)
        if figures is not None and hall is None:  # a format no scrape asked for yet
            hall = _render(figures, accept or "")
            with self.lock:
                if self.figures is figures:
                    self._rendered[content_type] = hall
        live = encoder(self.live)
        if live.endswith(_EOF):  # OpenMetrics ends with # EOF: the hall goes before it
            return live.removesuffix(_EOF) + (hall or b"") + _EOF, content_type
        return live + (hall or b""), content_type

    def set_source(self, name: str, health: SourceHealth) -> None:
        with self.lock:
            self.sources[name] = health

    def set_store_up(self, up: bool) -> None:
        with self.lock:
            self.store_up = up
