"""A seeded demo month for the report tests: a generated hall run through the daemon.

October 2026 (with the second half of September before it) in the example's vendor
schema, in SQLite: three departments, six windows, four items, ~6 cases a working day,
some concluded late, some still open, a few with a 补正 suspension, some withdrawn, and
ratings. Applicant names and ID numbers are in the raw tables, as in a real hall. The
daemon polls it once and evaluates every six hours from Sep 20 to Nov 1 06:00, as it
would have live, so the state store holds the ledger and the SLA records of the month.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

from monitor.calendar import WorkingCalendar
from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.demo import EXAMPLE_DIR, sql_statements
from monitor.settings import Settings
from tests.hall_time import SH

SEED = 7
ITEMS = [  # code, name, department, kind (1 即办 2 承诺), statutory, promised, fee standard
    ("I-A", "居住证签注", "GA", "1", 0, 0, 0),
    ("I-B", "食品经营许可", "SCJ", "2", 20, 5, 0),
    ("I-C", "建筑工程施工许可", "ZJJ", "2", 10, 3, 0),
    ("I-D", "不动产登记", "ZJJ", "2", 30, 10, 80),
]
WINDOWS = {"GA": ["W01", "W02"], "SCJ": ["W03", "W04"], "ZJJ": ["W05", "W06"]}
NAMES = ["张三", "李四", "王五", "赵六", "钱七", "孙八"]
START, END = dt.date(2026, 9, 14), dt.date(2026, 10, 31)
CLOCK = dt.datetime(2026, 11, 1, 6, 30, tzinfo=SH)
HASH_KEY = "report-test-key"


def compact(instant: dt.datetime) -> str:
    return instant.strftime("%Y%m%d%H%M%S")


@dataclass
class RawCase:
    id: str
    item: str
    department: str
    window: str
    name: str
    id_number: str
    accepted_at: dt.datetime
    concluded_at: dt.datetime | None
    result_code: str | None
    suspension: tuple[dt.datetime, dt.datetime] | None
    fee_yuan: int


def generate(calendar: WorkingCalendar) -> tuple[list[RawCase], list[tuple[Any, ...]]]:
    rng = random.Random(SEED)
    cases: list[RawCase] = []
    ratings: list[tuple[Any, ...]] = []
    day = START
    while day <= END:
        if calendar.is_working_day(day):
            for n in range(rng.randint(4, 8)):
                code, _, department, kind, _statutory, promised, fee = rng.choice(ITEMS)
                window = rng.choice(WINDOWS[department])
                accepted = dt.datetime.combine(
                    day, dt.time(9 + rng.randint(0, 6), rng.randint(0, 59)), SH
                )
                suspension = None
                concluded: dt.datetime | None
                result = "0"
                if kind == "1":  # immediate: mostly the same day, sometimes the next
                    late = rng.random() < 0.15
                    done = calendar.nth_working_day_after(day, 1) if late else day
                    concluded = dt.datetime.combine(done, dt.time(16, rng.randint(0, 59)), SH)
                    concluded = max(concluded, accepted + dt.timedelta(minutes=5))
                else:
                    if rng.random() < 0.15:  # 补正 from the next working day, 2 days long
                        start = calendar.nth_working_day_after(day, 1)
                        end = calendar.nth_working_day_after(start, 2)
                        suspension = (
                            dt.datetime.combine(start, dt.time(10), SH),
                            dt.datetime.combine(end, dt.time(10), SH),
                        )
                    extra = 2 if suspension else 0
                    took = rng.randint(1, promised + 3) + extra
                    if suspension:
                        took = max(took, extra + 1)
                    done = calendar.nth_working_day_after(day, took)
                    concluded = dt.datetime.combine(done, dt.time(10 + rng.randint(0, 6)), SH)
                    if rng.random() < 0.08:
                        result = "1"  # 退回: no decision
                if concluded.date() > END or rng.random() < 0.05:
                    concluded, result = None, None  # still open at the end
                serial = len(cases) + 1
                cases.append(
                    RawCase(
                        id=f"BJ{serial:04d}",
                        item=code,
                        department=department,
                        window=window,
                        name=rng.choice(NAMES) + str(n),
                        id_number=f"3301061990{rng.randint(10000000, 99999999)}",
                        accepted_at=accepted,
                        concluded_at=concluded,
                        result_code=result,
                        suspension=suspension,
                        fee_yuan=fee,
                    )
                )
            for n in range(rng.randint(1, 4)):
                department = rng.choice(list(WINDOWS))
                ratings.append(
                    (
                        f"PJ{day:%m%d}{n}",
                        "HZ01",
                        department,
                        rng.choice(WINDOWS[department]),
                        compact(dt.datetime.combine(day, dt.time(17, n), SH)),
                        rng.choice([1, 1, 1, 2, 2, 3, 4, 5]),
                    )
                )
        day += dt.timedelta(days=1)
    return cases, ratings


def write_hall(database: Path, cases: list[RawCase], ratings: list[tuple[Any, ...]]) -> None:
    engine = create_engine(f"sqlite:///{database}")
    updated = "20260901080000"
    with engine.begin() as conn:
        for statement in sql_statements(EXAMPLE_DIR / "schema.sql"):
            conn.execute(text(statement))
        conn.execute(
            text(
                "CREATE TABLE PJ (ID VARCHAR(20) PRIMARY KEY, ZXBM VARCHAR(10), "
                "BMBM VARCHAR(10), CKBM VARCHAR(10), PJSJ VARCHAR(14), MYD INTEGER)"
            )
        )
        for code, name, department, kind, statutory, promised, fee in ITEMS:
            conn.execute(
                text("INSERT INTO SXML VALUES (:a, :b, :c, :d, :e, :f, :g, NULL, NULL, :u)"),
                {
                    "a": code,
                    "b": name,
                    "c": department,
                    "d": kind,
                    "e": str(statutory),
                    "f": str(promised),
                    "g": fee,
                    "u": updated,
                },
            )
        for c in cases:
            conn.execute(
                text(
                    "INSERT INTO SL_BJ VALUES (:id, :item, 'HZ01', :dept, :win, :name, :idn,"
                    " :acc, :acc, '1', NULL, :done, :res, :acc, :fee, :upd)"
                ),
                {
                    "id": c.id,
                    "item": c.item,
                    "dept": c.department,
                    "win": c.window,
                    "name": c.name,
                    "idn": c.id_number,
                    "acc": compact(c.accepted_at),
                    "done": compact(c.concluded_at) if c.concluded_at else None,
                    "res": c.result_code,
                    "fee": c.fee_yuan,
                    "upd": compact(c.accepted_at),
                },
            )
            if c.suspension is not None:
                conn.execute(
                    text("INSERT INTO TBCX VALUES (:id, 1, '1', :s, :e, :s)"),
                    {"id": c.id, "s": compact(c.suspension[0]), "e": compact(c.suspension[1])},
                )
        for row in ratings:
            conn.execute(
                text("INSERT INTO PJ VALUES (:a, :b, :c, :d, :e, :f)"),
                dict(zip("abcdef", row, strict=True)),
            )
    engine.dispose()


def month_config(workdir: Path, override: Path | None = None) -> Config:
    data = yaml.safe_load((EXAMPLE_DIR / "jiancha.yaml").read_text(encoding="utf-8"))
    (source,) = [s for s in data["sources"] if s["name"] == "approval"]
    source["url"] = f"sqlite:///{workdir / 'hall.db'}"
    source["entities"] = {
        k: v for k, v in source["entities"].items() if k in ("items", "cases", "suspensions")
    }
    source["entities"]["evaluations"] = {
        "query": "SELECT ID AS id, ZXBM AS center, BMBM AS department, CKBM AS window, "
        "PJSJ AS rated_at, MYD AS level, PJSJ AS updated_at FROM PJ"
    }
    data["sources"] = [source]
    data["state"] = {"url": f"sqlite:///{workdir / 'state.db'}"}
    data["alerting"] = {}
    data["report"] = {"directory": str(workdir / "reports")}
    if override is not None:
        data["calendar"]["override"] = str(override)
    return parse_config(data, workdir)


def settings() -> Settings:
    return Settings(applicant_hash_key=HASH_KEY, clock_start=CLOCK)  # type: ignore[arg-type]


def run_daemon(config: Config, instants: list[dt.datetime]) -> None:
    daemon = Daemon(config, settings())
    daemon.start()
    try:
        daemon.poll("approval")
        for at in instants:
            daemon.evaluate(at)
    finally:
        daemon.close()


def month_instants() -> list[dt.datetime]:
    at = dt.datetime(2026, 9, 20, tzinfo=SH)
    instants = []
    while at <= dt.datetime(2026, 11, 1, 6, tzinfo=SH):
        instants.append(at)
        at += dt.timedelta(hours=6)
    return instants
