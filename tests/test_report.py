"""The monthly bulletin of October 2026 on the simulated demo hall, end to end.

The hall (tests/demo_hall.py, two centers at a quarter of the demo's traffic) is
backfilled from mid-September to early November and the daemon's supervision replayed
over it (:func:`monitor.demo.replay.replay`: one poll, an evaluation at the close of
every working day), as ``jiancha demo --no-live`` does. The bulletin's figures are then
checked against figures computed here from the hall's raw vendor tables with nothing but
the working-day calendar, and its counts by rule against the simulator's ground truth;
the PDF is rendered (pdftoppm), its Chinese headings extracted (pdftotext) and its fonts
checked embedded (pdffonts); the month is regenerated after a calendar correction; and
no name or ID number of the raw tables reaches any output.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from sqlalchemy import Table

from monitor import report as report_module
from monitor.calendar import WorkingCalendar
from monitor.cli import main
from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.deadlines import DeadlinePolicy
from monitor.demo.config import render_config
from monitor.demo.replay import CLOSING_TIME, replay
from monitor.demo.schema import HCP_PJ, PD_QH, SL_BJ, SXML, TBCX, YH_JYMX
from monitor.demo.simulator import SimulationSpec
from monitor.monthly import (
    ReportError,
    build_report,
    load_inputs,
    month_period,
    previous_month,
)
from monitor.report import generate, generate_apart, step_count
from monitor.settings import Settings
from monitor.store import StateStore
from tests.demo_hall import SHANGHAI as SH
from tests.demo_hall import DemoHall, demo_hall
from tests.services import require_binary, unavailable

SPEC = SimulationSpec(centers=2, windows=20, arrivals_per_window=7.0)  # ten windows a center
FIRST = dt.date(2026, 9, 14)  # the hall's first day (a Monday)
END = dt.datetime(2026, 11, 6, 18, 0, tzinfo=SH)  # backfilled and replayed up to here
OCTOBER = (dt.datetime(2026, 10, 1, tzinfo=SH), dt.datetime(2026, 11, 1, tzinfo=SH))
SETTINGS = Settings(applicant_hash_key="report-test")  # type: ignore[arg-type]
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
DECIDED = {None, "0", "4", "6"}  # BJJGDM mapped to a decision (approved, forwarded)
HEADINGS = (
    "2026年10月电子监察通报",
    "主要指标",
    "问题分类统计",
    "部门排名",
    "窗口排名",
    "红牌办件清单",
    "收费异常",
    "每日在办件与超期件",
    "日历版本",
    "规则参数",
)
SHEETS = (
    "主要指标",
    "问题分类",
    "部门排名",
    "窗口排名",
    "红牌办件",
    "收费异常",
    "每日趋势",
    "日历版本",
)


# --- the hall's raw tables, read back as a supervisor would read them --------------------


def instant(text: str | None) -> dt.datetime | None:
    return None if not text else dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=SH)


@dataclass(frozen=True)
class RawCase:
    id: str
    item: str
    center: str
    accepted_at: dt.datetime
    recorded_at: dt.datetime
    promised_on: dt.date | None  # CNBJSJ: the source's promise wins over the catalogue
    concluded_at: dt.datetime | None
    result: str | None
    suspensions: tuple[tuple[dt.datetime, dt.datetime | None], ...]

    @property
    def decided(self) -> bool:
        return self.concluded_at is not None and self.result in DECIDED


@dataclass
class RawHall:
    cases: list[RawCase]
    immediate: set[str]  # item codes of 即办件
    promised_days: dict[str, int]
    statutory_days: dict[str, int]
    ratings: list[tuple[dt.datetime, str, int]]  # rated at, center, MYD
    names: set[str]  # SQRMC, DFHM: fictitious applicants' and payers' names
    id_numbers: set[str]  # SQRZJHM, SFZH


def rows(hall: DemoHall, table: Table) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    return [dict(zip(names, row, strict=True)) for row in hall.db.rows(table)]


def read_raw(hall: DemoHall) -> RawHall:
    suspensions: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    for row in rows(hall, TBCX):
        start = instant(row["TBCXKSRQ"])
        assert start is not None
        suspensions[row["SBLSH"]].append((start, instant(row["TBCXJSRQ"])))
    cases = []
    names: set[str] = set()
    id_numbers: set[str] = set()
    for row in rows(hall, SL_BJ):
        names.add(row["SQRMC"])
        id_numbers.add(row["SQRZJHM"])
        if row["SLZTDM"] != "1":
            continue
        try:
            accepted = instant(row["SLSJ"])
        except ValueError:  # the unreadable rows the daemon rejects (bad_time)
            continue
        assert accepted is not None
        promised = instant(row["CNBJSJ"])
        cases.append(
            RawCase(
                id=row["SBLSH"],
                item=row["SXBM"],
                center=row["ZXBM"],
                accepted_at=accepted,
                recorded_at=instant(row["LRSJ"]) or accepted,
                promised_on=None if promised is None else promised.date(),
                concluded_at=instant(row["BJSJ"]),
                result=row["BJJGDM"],
                suspensions=tuple(suspensions[row["SBLSH"]]),
            )
        )
    items = rows(hall, SXML)
    for row in rows(hall, PD_QH):
        id_numbers.add(row["SFZH"])
    for row in rows(hall, YH_JYMX):
        names.add(row["DFHM"])
    ratings = []
    for row in rows(hall, HCP_PJ):
        rated = instant(row["PJSJ"])
        assert rated is not None
        ratings.append((rated, row["ZXBM"], int(row["MYD"])))
    return RawHall(
        cases=cases,
        immediate={i["SXBM"] for i in items if i["BJLX"] == "1"},
        promised_days={i["SXBM"]: int(i["CNSX"]) for i in items},
        statutory_days={i["SXBM"]: int(i["FDSX"]) for i in items},
        ratings=ratings,
        names={n for n in names if n},
        id_numbers={n for n in id_numbers if n},
    )


# --- figures counted here from the raw tables, with the calendar only ---------------------


def in_period(when: dt.datetime | None, period: tuple[dt.datetime, dt.datetime]) -> bool:
    return when is not None and period[0] <= when < period[1]


class Recount:
    """The law's counting (DESIGN.md §1) over the raw cases, with one working calendar."""

    def __init__(self, raw: RawHall, calendar: WorkingCalendar, instants: Sequence[dt.datetime]):
        self.raw = raw
        self.calendar = calendar
        self.instants = instants  # when the daemon evaluated

    def suspended_days(self, case: RawCase, at: dt.datetime) -> int:
        """Working days in the (start, end] spans of the special procedures begun by ``at``."""
        spans = sorted(
            (start.date(), min(end, at).date() if end is not None else at.date())
            for start, end in case.suspensions
            if start <= at
        )
        merged: list[tuple[dt.date, dt.date]] = []  # overlapping procedures count once
        for start, end in spans:
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return sum(self.calendar.working_days_between(s, e) for s, e in merged)

    def due(self, case: RawCase, at: dt.datetime) -> dt.datetime:
        """The promised deadline as of ``at``: acceptance day not counted, extended by the
        special procedures begun by then."""
        calendar = self.calendar
        promise = case.promised_on or calendar.nth_working_day_after(
            case.accepted_at.date(), self.raw.promised_days[case.item]
        )
        day = calendar.nth_working_day_after(promise, self.suspended_days(case, at))
        return dt.datetime.combine(day, dt.time(23, 59, 59), SH)

    def used_days(self, case: RawCase) -> int:
        """Working days from acceptance to conclusion, less special procedures."""
        assert case.concluded_at is not None
        elapsed = self.calendar.working_days_between(
            case.accepted_at.date(), case.concluded_at.date()
        )
        return elapsed - self.suspended_days(case, case.concluded_at)

    def on_time(self, case: RawCase) -> bool:
        assert case.concluded_at is not None
        return case.concluded_at <= self.due(case, case.concluded_at)

    def kpis(
        self, period: tuple[dt.datetime, dt.datetime], center: str | None = None
    ) -> dict[str, float | int]:
        cases = [c for c in self.raw.cases if center is None or c.center == center]
        accepted = [c for c in cases if in_period(c.accepted_at, period)]
        decided = [c for c in cases if c.decided and in_period(c.concluded_at, period)]
        ratings = [
            level
            for rated, place, level in self.raw.ratings
            if in_period(rated, period) and (center is None or place == center)
        ]
        concluded = [
            c for c in accepted if c.concluded_at is not None and c.concluded_at < period[1]
        ]
        on_site = [
            c
            for c in accepted
            if c.decided
            and c.concluded_at < period[1]  # type: ignore[operator]
            and c.concluded_at.date() == c.accepted_at.date()  # type: ignore[union-attr]
        ]
        statutory = self.raw.statutory_days
        timed = [c for c in decided if statutory[c.item] > 0]
        law = sum(statutory[c.item] for c in timed)
        return {
            "受理件数": len(accepted),
            "办结件数": len(decided),
            "办结率": len(concluded) / len(accepted),
            "按时办结率": sum(self.on_time(c) for c in decided) / len(decided),
            "即办件比例": sum(c.item in self.raw.immediate for c in accepted) / len(accepted),
            "现场办结率": len(on_site) / len(accepted),
            "承诺提速率": sum(statutory[c.item] - self.raw.promised_days[c.item] for c in timed)
            / law,
            "实际提速率": sum(statutory[c.item] - self.used_days(c) for c in timed) / law,
            "满意率": sum(level <= 2 for level in ratings) / len(ratings),
        }

    def overdue_at(self, case: RawCase, at: dt.datetime) -> bool:
        """``case.overdue`` at an evaluation: in the system by then, still open, not
        suspended, and past its promised deadline."""
        return (
            case.accepted_at <= at
            and case.recorded_at <= at
            and (case.concluded_at is None or case.concluded_at > at)
            and not any(s <= at and (e is None or e > at) for s, e in case.suspensions)
            and at > self.due(case, at)
        )

    def late_seen_at(self, case: RawCase) -> dt.datetime | None:
        """When ``case.concluded_late`` opened: the first evaluation that saw a late
        decision (once the case was typed in); None if it was on time or is not seen."""
        if not case.decided or self.on_time(case):
            return None
        seen = max(case.concluded_at, case.recorded_at)  # type: ignore[type-var]
        return next((t for t in self.instants if t >= seen), None)

    def overdue_spans(self, case: RawCase) -> list[tuple[dt.datetime, dt.datetime | None]]:
        """When ``case.overdue`` was open: from the evaluation that first saw it to the one
        that no longer did."""
        spans: list[tuple[dt.datetime, dt.datetime | None]] = []
        for t in self.instants:
            if self.overdue_at(case, t):
                if not spans or spans[-1][1] is not None:
                    spans.append((t, None))
            elif spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], t)
        return spans

    def by_rule(self, period: tuple[dt.datetime, dt.datetime]) -> dict[str, int]:
        """New ``case.overdue`` and ``case.concluded_late`` cards of the period."""
        late = [c for c in self.raw.cases if in_period(self.late_seen_at(c), period)]
        overdue = [
            c
            for c in self.raw.cases
            if any(in_period(start, period) for start, _ in self.overdue_spans(c))
        ]
        return {"case.concluded_late": len(late), "case.overdue": len(overdue)}

    def red_cases(self, period: tuple[dt.datetime, dt.datetime]) -> set[str]:
        """Cases overdue at some time in the period, or whose late decision it saw."""
        red = {c.id for c in self.raw.cases if in_period(self.late_seen_at(c), period)}
        for case in self.raw.cases:
            for start, end in self.overdue_spans(case):
                if start < period[1] and (end is None or end > period[0]):
                    red.add(case.id)
        return red


# --- the month ------------------------------------------------------------------------------


@dataclass
class Month:
    hall: DemoHall
    raw: RawHall
    recount: Recount
    files: dict[str, Path]
    workdir: Path


def closing_times(calendar: WorkingCalendar) -> list[dt.datetime]:
    """When the replay evaluated (:func:`monitor.demo.replay.replay_instants`)."""
    day, times = FIRST, []
    while day <= END.date():
        at = dt.datetime.combine(day, CLOSING_TIME, SH)
        if calendar.is_working_day(day) and at < END:
            times.append(at)
        day += dt.timedelta(days=1)
    return [*times, END]


def calendar_of(config: Config, holidays: Iterable[dt.date] = ()) -> WorkingCalendar:
    return WorkingCalendar(
        config.calendar.first_year, config.calendar.last_year, extra_holidays=holidays
    )


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterable[Month]:
    workdir = tmp_path_factory.mktemp("month")
    hall = demo_hall(workdir, END, days=(END.date() - FIRST).days, spec=SPEC)
    replay(hall.config, SETTINGS, FIRST, END)
    files = generate(hall.config, "2026-10", END, SH, directory=workdir / "reports")
    calendar = calendar_of(hall.config)
    raw = read_raw(hall)
    recount = Recount(raw, calendar, closing_times(calendar))
    yield Month(hall, raw, recount, {p.suffix: p for p in files}, workdir)
    hall.db.close()


def sheet_rows(path: Path, sheet: str) -> list[tuple]:
    workbook = openpyxl.load_workbook(path)
    return [tuple(row) for row in workbook[sheet].iter_rows(min_row=3, values_only=True)]


def kpis(path: Path) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in sheet_rows(path, "主要指标")}


def by_rule(path: Path) -> dict[str, tuple[int, int]]:
    return {r[0]: (r[3], r[4]) for r in sheet_rows(path, "问题分类")}


# --- the tests -----------------------------------------------------------------------------


def test_xlsx_figures_equal_figures_from_the_raw_tables(month: Month) -> None:
    expected = month.recount.kpis(OCTOBER)
    figures = kpis(month.files[".xlsx"])
    print(f"\nOctober 2026, recounted from the raw tables: {expected}")
    for label, value in expected.items():
        assert figures[label][0] == pytest.approx(value), label
    assert expected["受理件数"] > 1000
    assert 0.9 < expected["按时办结率"] < 1  # the simulator injects late conclusions
    counted = month.recount.by_rule(OCTOBER)
    print(f"new red cards by rule, recounted: {counted}")
    rules = by_rule(month.files[".xlsx"])
    for rule, new in counted.items():
        assert rules[rule][0] == new, rule
        assert new > 10


def test_counts_by_rule_equal_the_ground_truth(month: Month) -> None:
    """Per rule, the findings the simulator expected to open in October (at one of the
    daemon's evaluations) and those expected still open at its end."""
    instants = month.recount.instants
    visible: dict[tuple[str, str, str], list[bool]] = {}
    for e in month.hall.db.ground_truth():
        key = (e.rule, e.subject_kind, e.subject_id)
        seen = visible.setdefault(key, [False] * len(instants))
        for n, t in enumerate(instants):
            seen[n] = seen[n] or e.visible_at(t)
    last = max(n for n, t in enumerate(instants) if t < OCTOBER[1])
    new: Counter[str] = Counter()
    open_at_end: Counter[str] = Counter()
    for (rule, _, _), seen in visible.items():
        opened = [n for n in range(len(instants)) if seen[n] and (n == 0 or not seen[n - 1])]
        new[rule] += any(in_period(instants[n], OCTOBER) for n in opened)
        open_at_end[rule] += seen[last]
    rules = by_rule(month.files[".xlsx"])
    print(f"\nnew in October by rule (ground truth): {dict(sorted(new.items()))}")
    assert {r: v[0] for r, v in rules.items() if v[0]} == {r: n for r, n in new.items() if n}
    assert {r: v[1] for r, v in rules.items() if v[1]} == {
        r: n for r, n in open_at_end.items() if n
    }
    assert len([r for r, n in new.items() if n]) >= 12  # nearly every rule fired


def test_previous_month_and_change(month: Month) -> None:
    figures = kpis(month.files[".xlsx"])
    september = month.recount.kpis((dt.datetime(2026, 9, 1, tzinfo=SH), OCTOBER[0]))
    for label in ("受理件数", "按时办结率", "即办件比例"):
        value, previous, change = figures[label]
        assert previous == pytest.approx(september[label]), label
        assert change == pytest.approx(value - previous), label


def test_red_cases_are_the_months(month: Month) -> None:
    red = sheet_rows(month.files[".xlsx"], "红牌办件")
    assert {r[0] for r in red} == month.recount.red_cases(OCTOBER)
    lateness = [r[7] for r in red]
    assert lateness == sorted(lateness, reverse=True) and lateness[0] > 0
    cases = {c.id: c for c in month.raw.cases}
    last = max(t for t in month.recount.instants if t < OCTOBER[1])
    for case_id, _item, _dept, _window, accepted, due, concluded, *_ in red:
        case = cases[case_id]
        assert accepted == case.accepted_at.replace(tzinfo=None)
        if concluded is None:  # open at the end of October
            assert due.date() == month.recount.due(case, last).date()
        else:
            assert case.concluded_at is not None
            assert concluded == case.concluded_at.replace(tzinfo=None)
            assert concluded >= dt.datetime(2026, 9, 30)  # not an earlier month's red case
            assert due.date() == month.recount.due(case, case.concluded_at).date()


def test_tables_are_ranked_and_consistent(month: Month) -> None:
    departments = sheet_rows(month.files[".xlsx"], "部门排名")
    assert [r[0] for r in departments] == list(range(1, len(departments) + 1))
    reds = [r[6] for r in departments]
    assert reds == sorted(reds, reverse=True)
    windows = sheet_rows(month.files[".xlsx"], "窗口排名")
    assert sum(r[3] for r in windows) == sum(r[2] for r in departments)  # accepted
    assert sum(r[2] for r in departments) == kpis(month.files[".xlsx"])["受理件数"][0]
    red_cases = sheet_rows(month.files[".xlsx"], "红牌办件")
    assert sum(r[5] for r in departments) == len(red_cases)
    trend = sheet_rows(month.files[".xlsx"], "每日趋势")
    assert [r[0].date() for r in trend] == [
        dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(31)
    ]
    # The daily overdue count is the recount's open overdue cards at the end of each day.
    for day, _open, overdue in trend[::5]:
        end_of_day = dt.datetime.combine(day.date(), dt.time(23, 59, 59), SH)
        assert overdue == sum(
            any(s <= end_of_day and (e is None or e > end_of_day) for s, e in spans)
            for spans in map(month.recount.overdue_spans, month.raw.cases)
        ), day


def test_fee_table_names_cases_and_amounts_in_yuan(month: Month) -> None:
    fees = sheet_rows(month.files[".xlsx"], "收费异常")
    case_ids = {c.id for c in month.raw.cases}
    rules = Counter(r[0] for r in fees)
    assert {"收费未进专户", "收费金额不符", "有费无件（体外循环）"} <= rules.keys()
    for title, note, subject, _item, _window, standard, due, paid, at_issue in fees:
        if title == "有费无件（体外循环）":  # a deposit: the end of its transaction id
            assert subject.startswith("…") and len(subject) == 7 and due is None
            assert note.endswith("到账")
        else:
            assert subject in case_ids  # a case id is no personal data: in full
        assert at_issue > 0
        if note == "超标准收费" and paid == due:
            assert at_issue == pytest.approx(due - standard)
    title = openpyxl.load_workbook(month.files[".xlsx"])["收费异常"]["A1"].value
    assert f"涉及金额合计 {sum(r[8] for r in fees):,.2f}" in title


def test_pdf_renders_with_embedded_cjk_font(month: Month, tmp_path: Path) -> None:
    for binary in ("pdftoppm", "pdftotext", "pdffonts"):
        require_binary(binary)
    pdf = month.files[".pdf"]
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 2 and pages[0].stat().st_size > 10_000
    extracted = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for heading in HEADINGS:
        assert heading in extracted, heading
    assert "\ufffd" not in extracted  # no glyph without a character behind it
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert fonts and all("Noto-Sans-CJK" in line for line in fonts)  # one face, no fallback
    for line in fonts:
        name, emb = line.split()[0], line.split()[-5]
        assert emb == "yes", f"font {name} is not embedded"


def _text_of_outputs(files: dict[str, Path]) -> str:
    workbook = openpyxl.load_workbook(files[".xlsx"])
    cells = [
        str(value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if isinstance(value, str)  # numbers are figures: 0.000649350649350677 is no ID
    ]
    pdf_text = subprocess.run(
        ["pdftotext", str(files[".pdf"]), "-"], check=True, capture_output=True, text=True
    ).stdout
    return "\n".join([files[".html"].read_text(encoding="utf-8"), *cells, pdf_text])


def test_no_name_or_id_number_in_any_output(month: Month) -> None:
    require_binary("pdftotext")
    everything = _text_of_outputs(month.files)
    assert not ID_NUMBER.search(everything)
    assert len(month.raw.id_numbers) > 2000 and len(month.raw.names) > 1000
    assert all(ID_NUMBER.fullmatch(n) for n in month.raw.id_numbers)  # the needles are real
    leaked = {n for n in month.raw.id_numbers | month.raw.names if n in everything}
    assert not leaked
    account = month.hall.simulator.catalogue.centers[0].designated_account
    assert account not in everything  # the designated account: masked
    assert "…" + account[-4:] in everything


def test_regenerating_after_a_calendar_correction_reproduces_the_month(
    month: Month, tmp_path: Path
) -> None:
    for database in ("hall.db", "state.db"):  # WAL mode: copied through SQLite itself
        with (
            sqlite3.connect(month.workdir / database) as source,
            sqlite3.connect(tmp_path / database) as copy,
        ):
            source.backup(copy)
    # Local holidays in mid-October: every deadline across them moves.
    holidays = [dt.date(2026, 10, 14), dt.date(2026, 10, 15), dt.date(2026, 10, 16)]
    override = tmp_path / "calendar.yaml"
    override.write_text(yaml.safe_dump({"holidays": [d.isoformat() for d in holidays]}))
    data = yaml.safe_load(
        render_config(
            month.hall.simulator.catalogue,
            url=f"sqlite:///{tmp_path / 'hall.db'}",
            state_url=f"sqlite:///{tmp_path / 'state.db'}",
        )
    )
    data["calendar"]["override"] = str(override)
    corrected = parse_config(data, tmp_path)
    december = dt.datetime(2026, 12, 2, 9, tzinfo=SH)
    daemon = Daemon(corrected, SETTINGS)
    daemon.start()
    try:
        for name in daemon.sources:
            assert daemon.poll(name, full=True)
        daemon.evaluate(dt.datetime(2026, 12, 1, 17, 30, tzinfo=SH))
    finally:
        daemon.close()
    again = {
        p.suffix: p
        for p in generate(
            corrected, "2026-10", december, SH, formats=["xlsx"], directory=tmp_path / "again"
        )
    }
    for sheet in SHEETS:
        assert sheet_rows(again[".xlsx"], sheet) == sheet_rows(month.files[".xlsx"], sheet), sheet
    # And the correction matters: recounted with it, October would look different (the
    # hall stamps its promised dates, but the working days a case took are counted).
    new_calendar = calendar_of(corrected, holidays)
    recounted = Recount(month.raw, new_calendar, month.recount.instants).kpis(OCTOBER)
    bulletin = kpis(again[".xlsx"])["实际提速率"][0]
    assert recounted["实际提速率"] > bulletin + 0.005
    (version,) = [r[0] for r in sheet_rows(again[".xlsx"], "日历版本")]
    assert version == month.recount.calendar.version != new_calendar.version


def test_the_daemon_writes_last_month_on_the_first(
    month: Month, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon makes the report in a process of its own: not with this process's code.
    def not_here(*_: Any, **__: Any) -> None:
        raise AssertionError("the report was made in the daemon's process")

    monkeypatch.setattr(report_module, "generate", not_here)
    config = month.hall.config.model_copy(deep=True)
    config.report.directory = month.workdir / "daemon-reports"
    config.report.formats = ["xlsx"]
    centers = [c.code for c in month.hall.simulator.catalogue.centers]
    config.report.centers = centers
    first = dt.datetime(2026, 11, 1, 6, 0, tzinfo=SH)
    daemon = Daemon(config, SETTINGS.model_copy(update={"clock_start": first}))
    daemon.start()
    try:
        scheduler = daemon.build_scheduler()
        job = scheduler.get_job("report")
        assert str(job.trigger) == "cron[day='1', hour='6', minute='0']"
        assert job.max_instances == 1 and job.coalesce
        capfd.readouterr()
        daemon._run_report()  # the hall clock says Nov 1 06:00: October is reported
    finally:
        daemon.close()
    err = capfd.readouterr().err
    assert "report_written" in err and "job_failed" not in err  # the child logs as the daemon
    directory = month.workdir / "daemon-reports"
    names = ["jiancha-report-2026-10", *(f"jiancha-report-2026-10-{c}" for c in centers)]
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{name}.xlsx" for name in names)
    assert "━" not in err  # no progress bar under the daemon
    whole = kpis(directory / "jiancha-report-2026-10.xlsx")
    assert whole == kpis(month.files[".xlsx"])
    for center in centers:
        figures = kpis(directory / f"jiancha-report-2026-10-{center}.xlsx")
        expected = month.recount.kpis(OCTOBER, center)
        assert figures["受理件数"][0] == expected["受理件数"] > 0
        assert figures["按时办结率"][0] == pytest.approx(expected["按时办结率"])
    assert whole["受理件数"][0] == sum(
        kpis(directory / f"jiancha-report-2026-10-{c}.xlsx")["受理件数"][0] for c in centers
    )


def test_a_report_made_apart_gives_back_its_files_or_its_failure(
    month: Month, tmp_path: Path
) -> None:
    config = month.hall.config.model_copy(deep=True)
    config.report.directory = tmp_path
    config.report.formats = ["html"]
    now = dt.datetime(2026, 11, 1, 6, 0, tzinfo=SH)
    ballast = b"x" * 1_000_000_000  # this process holds a gigabyte more than its child
    written = generate_apart(config, "2026-10", now, SH)
    assert written.paths == [tmp_path / "jiancha-report-2026-10.html"]
    assert written.paths[0].stat().st_size > 0
    # The child's own peak: its interpreter at least, and not this process's.
    assert 10_000_000 < written.peak_rss_bytes < len(ballast)
    del ballast
    with pytest.raises(ReportError, match="2026-13"):
        generate_apart(config, "2026-13", now, SH)


def test_cli_writes_the_formats_asked(month: Month, tmp_path: Path, capsys) -> None:
    config = str(month.hall.config_path)
    out = tmp_path / "out"
    at = END.isoformat()
    argv = ["report", "--config", config, "--month", "2026-10", "--at", at]
    assert main([*argv, "--format", "xlsx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "jiancha-report-2026-10.xlsx")]
    assert kpis(Path(printed[0])) == kpis(month.files[".xlsx"])
    assert main(["report", "--config", config, "--month", "2026-13", "--at", at]) == 2
    assert "--month" in capsys.readouterr().err
    assert main(["report", "--config", config, "--month", "2026-12", "--at", at]) == 2
    assert "has not begun" in capsys.readouterr().err
    assert main([*argv, "--format", "docx"]) == 2
    assert "--format" in capsys.readouterr().err


def test_month_to_date_and_a_month_without_records(month: Month, tmp_path: Path) -> None:
    """What an operator gets right after the demo's replay: this month so far, and a
    previous month the daemon never watched."""
    (november,) = generate(
        month.hall.config, "2026-11", END, SH, formats=["xlsx"], directory=tmp_path
    )
    figures = kpis(november)
    expected = month.recount.kpis((OCTOBER[1], END))
    assert figures["受理件数"][0] == expected["受理件数"]
    assert figures["按时办结率"][0] == pytest.approx(expected["按时办结率"])
    trend = sheet_rows(november, "每日趋势")
    assert [r[0].date() for r in trend][-1] == END.date()
    cover = [r[1] for r in openpyxl.load_workbook(november)["说明"].iter_rows(values_only=True)]
    assert "2026-11-01 至 2026-11-06 18:00（月中，截至生成时）" in cover

    (august,) = generate(
        month.hall.config, "2026-08", END, SH, formats=["xlsx"], directory=tmp_path
    )
    assert all(values == (None, None, None) for values in kpis(august).values())
    cover = [r[1] for r in openpyxl.load_workbook(august)["说明"].iter_rows(values_only=True)]
    assert any("本期没有办件研判记录" in str(c) for c in cover)
    assert any("上月没有办件研判记录" in str(c) for c in cover)


def test_the_month_read_alone_equals_the_month_read_from_everything(month: Month) -> None:
    """``jiancha report`` reads only what the month and the previous one need; every
    bulletin made so equals the one made from all the store holds."""
    config = month.hall.config
    policy = DeadlinePolicy(tz=SH, end_of_day=config.calendar.end_of_day)
    store = StateStore(config.state.url, config.state.schema_name)
    store.open()
    try:
        everything = load_inputs(store)
        for name in ("2026-09", "2026-10", "2026-11"):
            period = month_period(name, policy, END)
            previous = month_period(previous_month(name), policy, END)
            alone = load_inputs(store, period=period, previous=previous)
            assert len(alone.sla) < len(everything.sla) or name == "2026-10"
            for center in (None, *sorted({r.center for r in everything.sla})):
                assert build_report(alone, period, previous, policy, END, center) == (
                    build_report(everything, period, previous, policy, END, center)
                ), (name, center)
    finally:
        store.close()


def test_progress_steps_are_reported(month: Month, tmp_path: Path) -> None:
    steps: list[str] = []
    generate(
        month.hall.config,
        "2026-10",
        END,
        SH,
        formats=["html"],
        directory=tmp_path,
        step=steps.append,
    )
    assert steps == [
        "读取办件研判记录",
        "读取问题台账",
        "读取事项与评价",
        "统计 全部中心",
        "绘制图表",
        "生成 HTML",
    ]
    assert len(steps) == step_count(centers=1, formats=1)  # the progress bar's total


def test_charts_find_a_cjk_font_installed_after_matplotlib_listed_its_fonts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """matplotlib lists the fonts once and caches the list: fonts-noto-cjk installed after
    a first run is not on it. The charts look among the system's fonts then, rather than
    failing for a font that is there."""
    from matplotlib import font_manager

    from exporters.report import charts

    if not any("CJK" in Path(p).name for p in font_manager.findSystemFonts()):
        unavailable("Debian's fonts-noto-cjk is not installed")
    manager = font_manager.fontManager
    stale = [f for f in manager.ttflist if f.name not in charts.CJK_FAMILIES]
    monkeypatch.setattr(manager, "ttflist", stale)
    assert charts.cjk_family() in charts.CJK_FAMILIES
    assert any(f.name in charts.CJK_FAMILIES for f in manager.ttflist)  # added to the list
