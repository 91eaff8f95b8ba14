"""The monthly bulletin on a seeded demo month (tests/report_month.py), end to end.

The XLSX figures are checked against figures computed here from the raw vendor tables
with nothing but the working-day calendar; the PDF is rendered (pdftoppm), its Chinese
headings extracted (pdftotext) and its fonts checked embedded (pdffonts); the month is
regenerated after a calendar correction; and no name or ID number reaches any output.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import yaml

from monitor.calendar import WorkingCalendar
from monitor.cli import main
from monitor.daemon import Daemon
from monitor.report import generate
from tests.hall_time import SH
from tests.report_month import (
    CLOCK,
    RawCase,
    month_config,
    month_instants,
    run_daemon,
    settings,
    write_hall,
)
from tests.report_month import (
    generate as generate_hall,
)
from tests.services import require_binary

OCTOBER = (dt.datetime(2026, 10, 1, tzinfo=SH), dt.datetime(2026, 11, 1, tzinfo=SH))
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
HEADINGS = (
    "月电子监察通报",
    "主要指标",
    "部门排名",
    "窗口排名",
    "红牌办件清单",
    "收费异常",
    "日历版本",
)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("month")
    calendar = WorkingCalendar(2024, 2030)
    cases, ratings = generate_hall(calendar)
    write_hall(workdir / "hall.db", cases, ratings)
    config = month_config(workdir)
    run_daemon(config, month_instants())
    files = generate(config, "2026-10", CLOCK, SH, directory=workdir / "reports")
    return workdir, config, cases, ratings, {p.suffix: p for p in files}


def sheet_rows(path: Path, sheet: str) -> list[tuple]:
    workbook = openpyxl.load_workbook(path)
    return [tuple(row) for row in workbook[sheet].iter_rows(min_row=3, values_only=True)]


def kpis(path: Path) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in sheet_rows(path, "主要指标")}


# --- independent figures from the raw tables ------------------------------------------


def due(case: RawCase, promised: int, calendar: WorkingCalendar) -> dt.datetime:
    extension = 0
    if case.suspension is not None:
        start, end = case.suspension
        extension = calendar.working_days_between(start.date(), end.date())
    day = calendar.nth_working_day_after(case.accepted_at.date(), promised + extension)
    return dt.datetime.combine(day, dt.time(23, 59, 59), SH)


def in_october(instant: dt.datetime | None) -> bool:
    return instant is not None and OCTOBER[0] <= instant < OCTOBER[1]


def independent(cases: list[RawCase], calendar: WorkingCalendar) -> dict[str, object]:
    from tests.report_month import ITEMS

    promised = {code: p for code, _, _, _, _, p, _ in ITEMS}
    immediate = {code for code, _, _, kind, _, _, _ in ITEMS if kind == "1"}
    accepted = [c for c in cases if in_october(c.accepted_at)]
    decided = [c for c in cases if in_october(c.concluded_at) and c.result_code == "0"]
    on_time = [c for c in decided if c.concluded_at <= due(c, promised[c.item], calendar)]
    # case.overdue opens at the first evaluation after the promised due instant (every
    # 6 h from midnight) if the case is still open then.
    overdue_new = 0
    for c in cases:
        first_after = due(c, promised[c.item], calendar) + dt.timedelta(seconds=1)
        if in_october(first_after) and (c.concluded_at is None or c.concluded_at > first_after):
            overdue_new += 1
    return {
        "accepted": len(accepted),
        "decided": len(decided),
        "on_time_ratio": len(on_time) / len(decided),
        "immediate_ratio": sum(c.item in immediate for c in accepted) / len(accepted),
        "case.concluded_late": len(decided) - len(on_time),
        "case.overdue": overdue_new,
    }


def test_xlsx_figures_equal_figures_from_the_raw_tables(month) -> None:
    _, _, cases, _, files = month
    expected = independent(cases, WorkingCalendar(2024, 2030))
    figures = kpis(files[".xlsx"])
    assert figures["受理件数"][0] == expected["accepted"]
    assert figures["办结件数"][0] == expected["decided"]
    assert figures["按时办结率"][0] == pytest.approx(expected["on_time_ratio"])
    assert figures["即办件比例"][0] == pytest.approx(expected["immediate_ratio"])
    assert 0 < expected["on_time_ratio"] < 1  # the month has late cases to find
    by_rule = {(r[0], r[2]): r[3] for r in sheet_rows(files[".xlsx"], "问题分类")}
    assert by_rule[("case.concluded_late", "红牌")] == expected["case.concluded_late"]
    assert by_rule[("case.overdue", "红牌")] == expected["case.overdue"]
    assert expected["case.overdue"] > 0


def test_xlsx_previous_month_and_change(month) -> None:
    _, _, cases, _, files = month
    figures = kpis(files[".xlsx"])
    september = [
        c for c in cases if dt.datetime(2026, 9, 1, tzinfo=SH) <= c.accepted_at < OCTOBER[0]
    ]
    # September's cases were accepted before the daemon's first evaluation on Sep 20,
    # and it judged them then: all of them are counted.
    assert figures["受理件数"][1] == len(september)
    assert figures["受理件数"][2] == figures["受理件数"][0] - len(september)
    value, previous, change = figures["按时办结率"]
    assert change == pytest.approx(value - previous)


def test_tables_are_ranked_and_consistent(month) -> None:
    _, _, _, _, files = month
    departments = sheet_rows(files[".xlsx"], "部门排名")
    assert [r[0] for r in departments] == list(range(1, len(departments) + 1))
    assert {r[1] for r in departments} == {"GA", "SCJ", "ZJJ"}
    reds = [r[6] for r in departments]
    assert reds == sorted(reds, reverse=True)
    windows = sheet_rows(files[".xlsx"], "窗口排名")
    assert sum(r[3] for r in windows) == sum(r[2] for r in departments)  # accepted
    red_cases = sheet_rows(files[".xlsx"], "红牌办件")
    assert red_cases and all(re.fullmatch(r"BJ\d{4}", r[0]) for r in red_cases)
    overdue_cases = sum(r[5] for r in departments)
    assert overdue_cases == len(red_cases)
    lateness = [r[7] for r in red_cases]
    assert lateness == sorted(lateness, reverse=True) and lateness[0] > 0
    trend = sheet_rows(files[".xlsx"], "每日趋势")
    assert [r[0].date() for r in trend][:2] == [dt.date(2026, 10, 1), dt.date(2026, 10, 2)]
    assert len(trend) == 31


def test_pdf_renders_with_embedded_cjk_font(month, tmp_path: Path) -> None:
    for binary in ("pdftoppm", "pdftotext", "pdffonts"):
        require_binary(binary)
    _, _, _, _, files = month
    pdf = files[".pdf"]
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and pages[0].stat().st_size > 10_000
    extracted = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for heading in HEADINGS:
        assert heading in extracted
    assert "2026年10月电子监察通报" in extracted
    assert "\ufffd" not in extracted  # no glyph without a character behind it
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert fonts and any("CJK" in line for line in fonts)
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


def test_no_name_or_id_number_in_any_output(month) -> None:
    require_binary("pdftotext")
    _, _, cases, _, files = month
    everything = _text_of_outputs(files)
    assert not ID_NUMBER.search(everything)
    for case in cases:
        assert case.id_number not in everything
        assert case.name not in everything
    assert "3305 0161 0000 0000 0123" not in everything  # a designated account: masked
    assert "…0123" in everything


def test_regenerating_after_a_calendar_correction_reproduces_the_month(
    month, tmp_path: Path
) -> None:
    workdir, _, cases, _, files = month
    shutil.copy(workdir / "hall.db", tmp_path / "hall.db")
    shutil.copy(workdir / "state.db", tmp_path / "state.db")
    # Local holidays in mid-October: every deadline across them moves.
    override = tmp_path / "calendar.yaml"
    override.write_text(
        yaml.safe_dump({"holidays": ["2026-10-14", "2026-10-15", "2026-10-16"]}),
        encoding="utf-8",
    )
    corrected = month_config(tmp_path, override)
    december = dt.datetime(2026, 12, 2, 9, tzinfo=SH)
    run_daemon(corrected, [dt.datetime(2026, 12, 1, 9, tzinfo=SH)])
    again = {
        p.suffix: p
        for p in generate(corrected, "2026-10", december, SH, directory=tmp_path / "again")
    }
    for sheet in (
        "主要指标",
        "问题分类",
        "部门排名",
        "窗口排名",
        "红牌办件",
        "收费异常",
        "每日趋势",
        "日历版本",
    ):
        assert sheet_rows(again[".xlsx"], sheet) == sheet_rows(files[".xlsx"], sheet), sheet
    # And the correction matters: recounted with it, October would look different.
    new_calendar = WorkingCalendar(
        2024,
        2030,
        extra_holidays=[dt.date(2026, 10, 14), dt.date(2026, 10, 15), dt.date(2026, 10, 16)],
    )
    assert independent(cases, new_calendar)["on_time_ratio"] != pytest.approx(
        kpis(files[".xlsx"])["按时办结率"][0]
    )
    (version,) = [r[0] for r in sheet_rows(again[".xlsx"], "日历版本")]
    assert version == WorkingCalendar(2024, 2030).version != new_calendar.version


def test_cli_writes_the_formats_asked(month, tmp_path: Path, capsys) -> None:
    _workdir, config, _, _, _ = month
    path = tmp_path / "jiancha.yaml"
    data = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "examples/vendor_pinyin/jiancha.yaml").read_text()
    )
    data["state"] = {"url": config.state.url}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert (
        main(
            [
                "report",
                "--config",
                str(path),
                "--month",
                "2026-10",
                "--format",
                "xlsx",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "out" / "jiancha-report-2026-10.xlsx")]
    assert kpis(Path(printed[0]))["受理件数"][0] > 0
    assert main(["report", "--config", str(path), "--month", "2026-13"]) == 2
    assert "--month" in capsys.readouterr().err
    assert main(["report", "--config", str(path), "--month", "2026-10", "--format", "docx"]) == 2
    assert "--format" in capsys.readouterr().err


def test_the_daemon_writes_last_month_on_the_first(month, capsys) -> None:
    workdir, config, _, _, _ = month
    config = config.model_copy(deep=True)
    config.report.directory = workdir / "daemon-reports"
    config.report.formats = ["xlsx", "html"]
    config.report.centers = ["HZ01"]
    daemon = Daemon(config, settings())
    daemon.start()
    try:
        scheduler = daemon.build_scheduler()
        job = scheduler.get_job("report")
        assert str(job.trigger) == "cron[day='1', hour='6', minute='0']"
        assert job.max_instances == 1 and job.coalesce
        capsys.readouterr()
        daemon._run_report()  # the hall clock says Nov 1 06:30: October is reported
    finally:
        daemon.close()
    written = sorted(p.name for p in (workdir / "daemon-reports").iterdir())
    assert written == [
        "jiancha-report-2026-10-HZ01.html",
        "jiancha-report-2026-10-HZ01.xlsx",
        "jiancha-report-2026-10.html",
        "jiancha-report-2026-10.xlsx",
    ]
    assert "━" not in capsys.readouterr().err  # no progress bar under the daemon
    whole = kpis(workdir / "daemon-reports" / "jiancha-report-2026-10.xlsx")
    center = kpis(workdir / "daemon-reports" / "jiancha-report-2026-10-HZ01.xlsx")
    assert whole == center  # the hall has one center


def test_progress_steps_are_reported(month, tmp_path: Path) -> None:
    _, config, _, _, _ = month
    steps: list[str] = []
    generate(config, "2026-10", CLOCK, SH, formats=["html"], directory=tmp_path, step=steps.append)
    assert steps[:3] == ["读取办件研判记录", "读取问题台账", "读取事项与评价"]
    assert "生成 HTML" in steps
    counted = Counter(steps)
    assert counted["生成 PDF"] == 0
