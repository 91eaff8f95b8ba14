"""The daemon's Prometheus exposition: series, labels, values, and what disappears."""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from exporters.metrics import PROMETHEUS_ACCEPT, DaemonMetrics, SourceHealth, _HallText, _render
from monitor.figures import HallFigures, MonthFigures

SH = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 11, 10, 10, 0, tzinfo=SH)
ALLOWED_LABELS = {
    "center",
    "department",
    "window",
    "item",
    "rule",
    "severity",
    "source",
    "reason",
    "entity",
    "outcome",
    "timeliness",
    "version",
    "write",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: DaemonMetrics) -> tuple[str, Samples]:
    text = generate_latest(metrics.registry).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def hall() -> HallFigures:
    return HallFigures(
        at=AT,
        cases_open=Counter({("HZ01", "SCJG"): 4, ("HZ01", "GA"): 1}),
        cases_suspended=Counter({("HZ01", "SCJG"): 1}),
        due_soon=Counter({("HZ01", "SCJG", "W1"): 2}),
        overdue=Counter({("HZ01", "SCJG", "W1"): 1, ("HZ01", "GA", "W3"): 2}),
        oldest_overdue_seconds={("HZ01", "SCJG"): 2628001.0, ("HZ01", "GA"): 60.0},
        findings_open=Counter(
            {("case.overdue", "red", "HZ01", "SCJG"): 1, ("case.due_soon", "yellow", "HZ01", ""): 2}
        ),
        unreconciled_fee_fen=Counter({("HZ01", "SCJG"): 12345, ("HZ01", "GA"): 10}),
        concluded=Counter({("HZ01", "SCJG", "on_time"): 3, ("HZ01", "SCJG", "late"): 1}),
        month={
            "HZ01": MonthFigures(
                accepted=6,
                accepted_concluded=4,
                immediate=1,
                on_site=1,
                decided=4,
                decided_on_time=3,
                speedup_cases=3,
                statutory_days=60,
                promised_days=30,
                used_days=70,  # slower than the law
                ratings=5,
                satisfied=2,
            ),
            "HZ02": MonthFigures(),  # nothing this month: no ratios
        },
        unconfirmed_deadlines=3,
    )


@pytest.fixture
def metrics() -> DaemonMetrics:
    return DaemonMetrics()


def test_each_daemon_has_its_own_registry() -> None:
    first, second = DaemonMetrics(), DaemonMetrics()  # no duplicate-registration error
    assert first.registry is not second.registry
    shared = CollectorRegistry()
    assert DaemonMetrics(shared).registry is shared


def test_hall_series_after_publish(metrics: DaemonMetrics) -> None:
    metrics.publish(hall())
    _, samples = scrape(metrics)
    assert series(samples, "jiancha_cases_open") == {
        labels(center="HZ01", department="SCJG"): 4,
        labels(center="HZ01", department="GA"): 1,
    }
    assert series(samples, "jiancha_cases_suspended") == {
        labels(center="HZ01", department="SCJG"): 1
    }
    assert series(samples, "jiancha_cases_due_soon") == {
        labels(center="HZ01", department="SCJG", window="W1"): 2
    }
    assert series(samples, "jiancha_cases_overdue") == {
        labels(center="HZ01", department="SCJG", window="W1"): 1,
        labels(center="HZ01", department="GA", window="W3"): 2,
    }
    assert series(samples, "jiancha_oldest_overdue_age_seconds") == {
        labels(center="HZ01", department="SCJG"): 2628001,
        labels(center="HZ01", department="GA"): 60,
    }
    assert series(samples, "jiancha_findings_open") == {
        labels(rule="case.overdue", severity="red", center="HZ01", department="SCJG"): 1,
        labels(rule="case.due_soon", severity="yellow", center="HZ01", department=""): 2,
    }
    assert series(samples, "jiancha_deadlines_unconfirmed") == {labels(): 3}
    assert series(samples, "jiancha_cases_concluded_total") == {
        labels(center="HZ01", department="SCJG", timeliness="on_time"): 3,
        labels(center="HZ01", department="SCJG", timeliness="late"): 1,
    }
    # Wall-clock time of the evaluation (Prometheus compares it with time()), not the
    # hall's instant: a demo's simulated clock must not look like a stale daemon.
    (evaluated,) = series(samples, "jiancha_last_evaluation_timestamp_seconds").values()
    assert abs(evaluated - time.time()) < 60
    assert evaluated != AT.timestamp()


def test_month_kpis_are_ratios_per_center(metrics: DaemonMetrics) -> None:
    metrics.publish(hall())
    _, samples = scrape(metrics)
    assert series(samples, "jiancha_month_cases_accepted") == {
        labels(center="HZ01"): 6,
        labels(center="HZ02"): 0,
    }
    assert series(samples, "jiancha_month_conclusion_ratio") == {
        labels(center="HZ01"): pytest.approx(4 / 6)
    }
    assert series(samples, "jiancha_month_on_time_ratio") == {labels(center="HZ01"): 0.75}
    assert series(samples, "jiancha_month_immediate_ratio") == {
        labels(center="HZ01"): pytest.approx(1 / 6)
    }
    assert series(samples, "jiancha_month_satisfaction_ratio") == {labels(center="HZ01"): 0.4}
    assert series(samples, "jiancha_month_on_site_ratio") == {
        labels(center="HZ01"): pytest.approx(1 / 6)
    }
    assert series(samples, "jiancha_month_promised_speedup_ratio") == {labels(center="HZ01"): 0.5}
    assert series(samples, "jiancha_month_actual_speedup_ratio") == {
        labels(center="HZ01"): pytest.approx(-10 / 60)
    }


def test_month_counts_behind_the_ratios_are_exported_per_center(metrics: DaemonMetrics) -> None:
    """Numerators and denominators, so Prometheus can add centers up (ratio of sums)."""
    metrics.publish(hall())
    _, samples = scrape(metrics)
    expected = {
        "jiancha_month_cases_accepted_concluded": 4,
        "jiancha_month_cases_immediate": 1,
        "jiancha_month_cases_decided": 4,
        "jiancha_month_cases_decided_on_time": 3,
        "jiancha_month_ratings": 5,
        "jiancha_month_ratings_satisfied": 2,
    }
    for name, value in expected.items():
        # A center with nothing this month shows zeros, not gaps: sums stay defined.
        assert series(samples, name) == {labels(center="HZ01"): value, labels(center="HZ02"): 0}


def test_money_is_exported_in_yuan_exactly(metrics: DaemonMetrics) -> None:
    metrics.publish(hall())
    text, samples = scrape(metrics)
    assert series(samples, "jiancha_fee_unreconciled_yuan") == {
        labels(center="HZ01", department="SCJG"): 123.45,
        labels(center="HZ01", department="GA"): 0.1,
    }
    assert 'jiancha_fee_unreconciled_yuan{center="HZ01",department="SCJG"} 123.45\n' in text
    assert 'jiancha_fee_unreconciled_yuan{center="HZ01",department="GA"} 0.1\n' in text


def test_a_department_without_overdue_cases_disappears(metrics: DaemonMetrics) -> None:
    metrics.publish(hall())
    figures = hall()
    figures.overdue = Counter({("HZ01", "SCJG", "W1"): 1})
    figures.oldest_overdue_seconds = {("HZ01", "SCJG"): 2628601.0}
    metrics.publish(figures)
    text, samples = scrape(metrics)
    assert series(samples, "jiancha_cases_overdue") == {
        labels(center="HZ01", department="SCJG", window="W1"): 1
    }
    assert series(samples, "jiancha_oldest_overdue_age_seconds") == {
        labels(center="HZ01", department="SCJG"): 2628601
    }
    assert 'department="GA",window="W3"' not in text


def test_no_hall_series_before_the_first_evaluation(metrics: DaemonMetrics) -> None:
    text, samples = scrape(metrics)
    assert "jiancha_cases_open" not in text
    assert series(samples, "jiancha_state_store_up") == {labels(): 1}
    assert len(series(samples, "jiancha_build_info")) == 1


def test_source_health(metrics: DaemonMetrics) -> None:
    success = dt.datetime(2026, 11, 10, 9, 59, 30, tzinfo=SH)
    metrics.set_source("approval", SourceHealth(True, success, 0, 60))
    metrics.set_source("bank", SourceHealth(False, None, 3, 300))
    metrics.set_source("queue", SourceHealth(None, None, 0))  # not polled yet
    metrics.set_store_up(False)
    metrics.calendar_confirmed_until = dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=SH)
    _, samples = scrape(metrics)
    assert series(samples, "jiancha_source_up") == {
        labels(source="approval"): 1,
        labels(source="bank"): 0,
        labels(source="queue"): 0,
    }
    assert series(samples, "jiancha_source_last_success_timestamp_seconds") == {
        labels(source="approval"): success.timestamp()
    }
    assert series(samples, "jiancha_source_consecutive_failures") == {
        labels(source="approval"): 0,
        labels(source="bank"): 3,
        labels(source="queue"): 0,
    }
    assert series(samples, "jiancha_source_poll_interval_seconds") == {
        labels(source="approval"): 60,
        labels(source="bank"): 300,
    }
    assert series(samples, "jiancha_state_store_up") == {labels(): 0}
    assert series(samples, "jiancha_calendar_confirmed_until_timestamp_seconds") == {
        labels(): dt.datetime(2026, 12, 31, 15, 59, 59, tzinfo=dt.UTC).timestamp()
    }


def test_event_counters_and_histograms(metrics: DaemonMetrics) -> None:
    metrics.rows_ingested.labels("approval", "cases").inc(7)
    metrics.rows_rejected.labels("approval", "bad_time").inc()
    metrics.polls.labels("approval", "ok").inc()
    metrics.poll_duration.labels("approval").observe(0.3)
    metrics.findings_detected.labels("case.overdue", "red").inc(2)
    metrics.alert_pushes.labels("failed").inc()
    text, samples = scrape(metrics)
    assert samples[("jiancha_rows_ingested_total", labels(source="approval", entity="cases"))] == 7
    assert (
        samples[("jiancha_rows_rejected_total", labels(source="approval", reason="bad_time"))] == 1
    )
    assert samples[("jiancha_polls_total", labels(source="approval", outcome="ok"))] == 1
    assert samples[("jiancha_poll_duration_seconds_count", labels(source="approval"))] == 1
    assert (
        samples[("jiancha_poll_duration_seconds_bucket", labels(source="approval", le="0.25"))] == 0
    )
    assert (
        samples[("jiancha_poll_duration_seconds_bucket", labels(source="approval", le="0.5"))] == 1
    )
    assert (
        samples[("jiancha_findings_detected_total", labels(rule="case.overdue", severity="red"))]
        == 2
    )
    assert samples[("jiancha_alertmanager_pushes_total", labels(outcome="failed"))] == 1
    assert "_created" not in text


def test_only_bounded_label_names_and_the_jiancha_prefix(metrics: DaemonMetrics) -> None:
    metrics.publish(hall())
    metrics.set_source("approval", SourceHealth(True, AT, 0))
    metrics.rows_ingested.labels("approval", "cases").inc()
    metrics.rows_rejected.labels("approval", "bad_time").inc()
    metrics.polls.labels("approval", "ok").inc()
    metrics.poll_duration.labels("approval").observe(1)
    metrics.evaluation_duration.observe(0.2)
    metrics.store_write_duration.labels("poll").observe(0.02)
    metrics.findings_detected.labels("case.overdue", "red").inc()
    metrics.findings_resolved.labels("case.overdue", "red").inc()
    metrics.alert_pushes.labels("ok").inc()
    _, samples = scrape(metrics)
    names = {name for name, _ in samples}
    assert all(name.startswith("jiancha_") for name in names)
    used = {key for _, label_set in samples for key, _ in label_set}
    bucket_labels = {"le"}  # histogram buckets, Prometheus' own
    assert used - bucket_labels <= ALLOWED_LABELS
    assert {"center", "department", "window", "rule", "severity", "source"} <= used


# --- the endpoint's exposition: the hall rendered once per evaluation ----------------------


def _samples(text: str) -> set[tuple[str, frozenset[tuple[str, str]], float]]:
    return {
        (s.name, frozenset(s.labels.items()), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    "accept",
    [None, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"],
)
def test_the_exposition_says_what_the_registry_says(
    metrics: DaemonMetrics, accept: str | None
) -> None:
    metrics.set_source("approval", SourceHealth(True, AT, 0, 60))
    metrics.rows_ingested.labels("approval", "cases").inc(3)
    metrics.publish(hall())
    body, content_type = metrics.exposition(accept)
    text = body.decode()
    if accept is None:
        assert content_type.startswith("text/plain")
        expected = generate_latest(metrics.registry).decode()
        assert _samples(text) == _samples(expected)
    else:
        assert content_type.startswith("application/openmetrics-text")
        assert text.endswith("# EOF\n") and text.count("# EOF") == 1
        names = {name for name, _, _ in _samples(generate_latest(metrics.registry).decode())}
        assert {"jiancha_cases_open", "jiancha_source_up"} <= {
            f.name for f in openmetrics_families(text)
        }
        assert names  # both formats carry the hall and the live metrics


def test_live_metrics_move_at_once_the_hall_with_the_next_evaluation(
    metrics: DaemonMetrics,
) -> None:
    body, _ = metrics.exposition(None)
    assert "jiancha_cases_open" not in body.decode()  # nothing evaluated yet
    metrics.publish(hall())
    metrics.polls.labels("approval", "ok").inc()
    text = metrics.exposition(None)[0].decode()
    assert 'jiancha_polls_total{outcome="ok",source="approval"} 1.0' in text
    assert "jiancha_cases_open{" in text
    emptier = hall()
    emptier.cases_open.clear()
    metrics.publish(emptier)
    assert "jiancha_cases_open{" not in metrics.exposition(None)[0].decode()


# --- the hall's text, its lines kept from evaluation to evaluation --------------------------

_label_values = st.sampled_from(["HZ01", "HZ02", "", 'a"b', "a\\b", "a\nb", "a\rb", "市场监管"])
_values = st.one_of(
    st.integers(-3, 3),
    st.integers(0, 10**12),
    st.sampled_from([0.5, 1e-7, 2628001.0, 1e21, -0.0, float("inf")]),
)


@st.composite
def _figures(draw: st.DrawFn) -> HallFigures:
    place = st.tuples(_label_values, _label_values)
    window = st.tuples(_label_values, _label_values, _label_values)
    small = st.integers(0, 6)  # a few samples per family: the lines path; more: whole
    many = st.integers(0, 30)
    return HallFigures(
        at=AT,
        cases_open=Counter(draw(st.dictionaries(place, _values, max_size=draw(many)))),
        cases_suspended=Counter(draw(st.dictionaries(place, _values, max_size=draw(small)))),
        due_soon=Counter(draw(st.dictionaries(window, _values, max_size=draw(many)))),
        overdue=Counter(draw(st.dictionaries(window, _values, max_size=draw(small)))),
        oldest_overdue_seconds=draw(st.dictionaries(place, _values, max_size=draw(small))),
        findings_open=Counter(
            draw(
                st.dictionaries(
                    st.tuples(
                        st.sampled_from(["case.overdue", "fee.unauthorized"]), _label_values
                    ).map(lambda r: (r[0], "red", r[1], "SCJG")),
                    _values,
                    max_size=draw(small),
                )
            )
        ),
        unreconciled_fee_fen=Counter(
            draw(st.dictionaries(place, st.integers(0, 10**9), max_size=draw(small)))
        ),
        concluded=Counter(
            draw(
                st.dictionaries(
                    st.tuples(_label_values, _label_values, st.sampled_from(["on_time", "late"])),
                    st.integers(0, 9),
                    max_size=draw(small),
                )
            )
        ),
        month={
            center: MonthFigures(
                accepted=draw(small), decided=draw(small), decided_on_time=draw(small)
            )
            for center in draw(st.sets(_label_values, max_size=3))
        },
        unconfirmed_deadlines=draw(small),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(_figures(), min_size=1, max_size=5), data=st.data())
def test_the_hall_text_kept_line_by_line_is_what_prometheus_client_renders(
    sequence: list[HallFigures], data: st.DataObject
) -> None:
    text = _HallText(PROMETHEUS_ACCEPT)
    for figures in sequence:
        assert text.render(figures) == _render(figures, PROMETHEUS_ACCEPT)
        # A few samples changed, as an evaluation changes them: lines reused, a few new.
        changed = copy.deepcopy(figures)
        for key in data.draw(st.lists(st.sampled_from([*changed.due_soon] or [None]))):
            if key is not None:
                changed.due_soon[key] = data.draw(_values)
        changed.cases_open[("HZ03", "GA")] = data.draw(_values)
        assert text.render(changed) == _render(changed, PROMETHEUS_ACCEPT)


def _count_renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the samples of each prometheus-client render of the hall text."""
    rendered: list[int] = []
    original = _HallText._text

    def counted(self: _HallText, *families: Any) -> bytes:
        rendered.append(sum(len(f.samples) for f in families))
        return original(self, *families)

    monkeypatch.setattr(_HallText, "_text", counted)
    return rendered


def test_the_hall_text_renders_only_new_series(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _HallText(PROMETHEUS_ACCEPT)
    figures = hall()
    first = text.render(figures)
    rendered = _count_renders(monkeypatch)
    assert text.render(figures) == first and rendered == []
    assert ("HZ01", "GA", "W3") in figures.overdue
    figures.overdue[("HZ01", "GA", "W3")] += 2.5  # a known series, another value
    assert text.render(figures) == _render(figures, PROMETHEUS_ACCEPT)
    assert rendered == []  # its name and labels kept, its value formatted alone
    figures.overdue[("HZ01", "GA", "W9")] = 3  # a new series
    assert text.render(figures) == _render(figures, PROMETHEUS_ACCEPT)
    assert rendered == [1]  # rendered alone


def test_the_hall_text_renders_many_new_samples_without_the_rest_of_their_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    figures = hall()
    figures.overdue.update({("HZ02", "GA", f"W{n:02d}"): n + 1 for n in range(40)})
    text = _HallText(PROMETHEUS_ACCEPT)
    text.render(figures)
    rendered = _count_renders(monkeypatch)
    for n in range(12):  # a dozen of the family's 42 samples change
        figures.overdue[("HZ02", "GA", f"W{n:02d}")] += 100
    figures.overdue.update({("HZ09", "GA", f"W{n:02d}"): 7 for n in range(3)})  # three new
    assert text.render(figures) == _render(figures, PROMETHEUS_ACCEPT)
    assert rendered == [3]  # the new series alone, in one call
