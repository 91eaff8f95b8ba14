"""A province-scale hall for the benchmark, written into PostgreSQL with COPY.

Deterministic (same seed, same rows): ``centers`` service centers, each with its
departments, windows and designated fee account; a catalogue of items; ``cases`` open
cases accepted over the six weeks before the benchmark instant (some overdue, some due
soon, a few suspended, with handling steps); about two queue tickets per case (the one
behind the case, consultations, absentees); the bank's deposits for the fee cases; a
sprinkling of ratings — and the usual share of violations (tickets and payments without
a case, money in the wrong account, wrong amounts, backfilled and double acceptances).
A row's update time (GXSJ) is when it last changed, as a source keeps it: a running step
or suspension when it started, not the benchmark's instant (which would put every one of
them into each incremental poll's overlap window).

Tables: the example's approval schema (SXML, SL_BJ, SP_HJ, TBCX, SF_JKD, times as
``YYYYMMDDhhmmss`` text) plus a queue system (PD_QH, PJ_PJ) and the bank's transaction
table (YH_JYLS), both with ``timestamp`` columns. :func:`daemon_config` points three SQL
sources at them. Used by ``bench/province.py``; run alone to fill a database::

    .venv/bin/python bench/hall.py --url postgresql://postgres@127.0.0.1/DB --cases 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from monitor.calendar import WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)  # the benchmark's evaluation instant
DEPARTMENTS = ("SCJ", "ZJJ", "BDC", "GAJ", "RSJ", "SWJ", "HBJ", "JTJ", "WJW", "MZJ")
CONSULTATION = "ZX001"

SCHEMA = """
CREATE TABLE SXML (SXBM VARCHAR(32) PRIMARY KEY, SXMC VARCHAR(200) NOT NULL, BMBM VARCHAR(32),
    BJLX VARCHAR(1), FDSX VARCHAR(8), CNSX VARCHAR(8), SFBZ DECIMAL(12, 2), QXSFRQ VARCHAR(8),
    TBCXSX VARCHAR(8), GXSJ VARCHAR(14) NOT NULL);
CREATE TABLE SL_BJ (SBLSH VARCHAR(40) PRIMARY KEY, SXBM VARCHAR(32), ZXBM VARCHAR(32),
    BMBM VARCHAR(32), CKBM VARCHAR(32), SQRMC VARCHAR(100), SQRZJHM VARCHAR(40),
    SBSJ VARCHAR(14), SLSJ VARCHAR(14), SLZTDM VARCHAR(1), CNBJSJ VARCHAR(14),
    BJSJ VARCHAR(14), BJJGDM VARCHAR(1), LRSJ VARCHAR(14), SFJE DECIMAL(12, 2),
    GXSJ VARCHAR(14) NOT NULL);
CREATE TABLE SP_HJ (SBLSH VARCHAR(40) NOT NULL, HJXH INTEGER NOT NULL, SPHJDM VARCHAR(1),
    HJMC VARCHAR(50), KSSJ VARCHAR(14), JSSJ VARCHAR(14), HJSX VARCHAR(8),
    GXSJ VARCHAR(14) NOT NULL, PRIMARY KEY (SBLSH, HJXH));
CREATE TABLE TBCX (SBLSH VARCHAR(40) NOT NULL, TBCXXH INTEGER NOT NULL, TBCXZL VARCHAR(1),
    TBCXKSRQ VARCHAR(14), TBCXJSRQ VARCHAR(14), GXSJ VARCHAR(14) NOT NULL,
    PRIMARY KEY (SBLSH, TBCXXH));
CREATE TABLE SF_JKD (JKDH VARCHAR(40) PRIMARY KEY, SBLSH VARCHAR(40) NOT NULL,
    JKJE DECIMAL(12, 2), GXSJ VARCHAR(14) NOT NULL);
CREATE TABLE PD_QH (QHID VARCHAR(40) PRIMARY KEY, QHHM VARCHAR(16), ZXBM VARCHAR(32),
    BMBM VARCHAR(32), CKBM VARCHAR(32), YWDM VARCHAR(32), SFZH VARCHAR(40),
    QHSJ TIMESTAMP NOT NULL, JHSJ TIMESTAMP, JSSJ TIMESTAMP, ZT VARCHAR(1), ZX BOOLEAN,
    GXSJ TIMESTAMP NOT NULL);
CREATE TABLE PJ_PJ (PJID VARCHAR(40) PRIMARY KEY, ZXBM VARCHAR(32), BMBM VARCHAR(32),
    CKBM VARCHAR(32), GH VARCHAR(16), SBLSH VARCHAR(40), PJSJ TIMESTAMP NOT NULL,
    MYD INTEGER NOT NULL, PJNR VARCHAR(200), ZGFKSJ TIMESTAMP, GXSJ TIMESTAMP NOT NULL);
CREATE TABLE YH_JYLS (JYLSH VARCHAR(40) PRIMARY KEY, SKZH VARCHAR(40) NOT NULL,
    JYJE DECIMAL(12, 2) NOT NULL, JYSJ TIMESTAMP NOT NULL, JKDH VARCHAR(40),
    FKRMC VARCHAR(100), YWBH VARCHAR(40), ZXBM VARCHAR(32), GXSJ TIMESTAMP NOT NULL);
"""
# Made after the COPY (faster): what the incremental queries and the fee join need.
INDEXES = """
CREATE INDEX sl_bj_gxsj ON SL_BJ (GXSJ);
CREATE INDEX sp_hj_gxsj ON SP_HJ (GXSJ);
CREATE INDEX tbcx_gxsj ON TBCX (GXSJ);
CREATE INDEX sf_jkd_sblsh ON SF_JKD (SBLSH);
CREATE INDEX pd_qh_gxsj ON PD_QH (GXSJ);
CREATE INDEX pj_pj_gxsj ON PJ_PJ (GXSJ);
CREATE INDEX yh_jyls_gxsj ON YH_JYLS (GXSJ);
ANALYZE;
"""

QUERIES: dict[str, dict[str, str]] = {
    "approval": {
        "items": "SELECT SXBM AS code, SXMC AS name, BMBM AS department, BJLX AS kind,"
        " FDSX AS statutory_limit_days, CNSX AS promised_limit_days,"
        " SFBZ AS fee_standard_yuan, QXSFRQ AS fee_abolished_on,"
        " TBCXSX AS max_suspension_days, GXSJ AS updated_at FROM SXML WHERE GXSJ >= :since",
        "cases": "SELECT SBLSH AS id, SXBM AS item, ZXBM AS center, BMBM AS department,"
        " CKBM AS window, SQRZJHM AS applicant_id_number, SBSJ AS received_at,"
        " SLSJ AS accepted_at, CNBJSJ AS promised_due_at, BJSJ AS concluded_at,"
        " BJJGDM AS result, LRSJ AS recorded_at, SFJE AS fee_due_yuan, GXSJ AS updated_at,"
        " (SELECT MIN(JKDH) FROM SF_JKD WHERE SF_JKD.SBLSH = SL_BJ.SBLSH) AS payment_reference"
        " FROM SL_BJ WHERE SLZTDM = '1' AND GXSJ >= :since",
        "steps": "SELECT SBLSH AS case_id, HJXH AS seq, HJMC AS name, KSSJ AS started_at,"
        " JSSJ AS ended_at, HJSX AS limit_days, GXSJ AS updated_at FROM SP_HJ"
        " WHERE GXSJ >= :since",
        "suspensions": "SELECT SBLSH AS case_id, TBCXXH AS seq, TBCXZL AS kind,"
        " TBCXKSRQ AS started_at, TBCXJSRQ AS ended_at, GXSJ AS updated_at FROM TBCX"
        " WHERE GXSJ >= :since",
    },
    "window": {
        "tickets": "SELECT QHID AS id, QHHM AS number, ZXBM AS center, BMBM AS department,"
        " CKBM AS window, YWDM AS service, SFZH AS applicant_id_number, QHSJ AS issued_at,"
        " JHSJ AS called_at, JSSJ AS finished_at, ZT AS status, ZX AS consultation,"
        " GXSJ AS updated_at FROM PD_QH WHERE GXSJ >= :since",
        "evaluations": "SELECT PJID AS id, ZXBM AS center, BMBM AS department, CKBM AS window,"
        " GH AS staff_id, SBLSH AS case_id, PJSJ AS rated_at, MYD AS level,"
        " PJNR AS comment, ZGFKSJ AS followed_up_at, GXSJ AS updated_at FROM PJ_PJ"
        " WHERE GXSJ >= :since",
    },
    "bank": {
        "payments": "SELECT JYLSH AS id, SKZH AS account, JYJE AS amount_yuan, JYSJ AS paid_at,"
        " JKDH AS reference, FKRMC AS payer_name, YWBH AS case_id, ZXBM AS center,"
        " GXSJ AS updated_at FROM YH_JYLS WHERE GXSJ >= :since",
    },
}
VALUE_MAPS: dict[str, dict[str, dict[str, dict[str, str]]]] = {
    "approval": {
        "items": {"kind": {"1": "immediate", "2": "promised"}},
        "cases": {
            "result": {
                "0": "approved",
                "1": "returned",
                "2": "void",
                "3": "void",
                "4": "forwarded",
                "5": "refused",
                "6": "approved",
            }
        },
        "suspensions": {"kind": {"1": "补正", "2": "听证", "3": "检验检测", "4": "专家评审"}},
    },
    "window": {
        "tickets": {
            "status": {
                "0": "waiting",
                "1": "called",
                "2": "served",
                "3": "absent",
                "4": "cancelled",
            }
        }
    },
}
SINCE_FORMATS = {"approval": "compact", "window": "datetime", "bank": "datetime"}


@dataclass(frozen=True)
class HallSpec:
    """How big the hall is. Tickets and payments default to the issue's proportions."""

    cases: int
    tickets: int | None = None  # default 2 per case
    payments: int | None = None  # default 1 per 2 cases
    seed: int = 1

    @property
    def centers(self) -> int:
        return max(1, self.cases // 10_000)

    @property
    def ticket_count(self) -> int:
        return self.tickets if self.tickets is not None else 2 * self.cases

    @property
    def payment_count(self) -> int:
        return self.payments if self.payments is not None else self.cases // 2


def center_code(number: int) -> str:
    return f"33{number:04d}"


def account_of(center: str) -> str:
    return f"3305016100{center}0123"


def compact(instant: dt.datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def naive(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(SHANGHAI).replace(tzinfo=None)


@dataclass(frozen=True)
class _Item:
    code: str
    department: str
    statutory: int
    promised: int
    fee_yuan: str  # "0.00" when free


def _items(rng: random.Random) -> list[_Item]:
    items = []
    for number in range(300):
        department = DEPARTMENTS[number % len(DEPARTMENTS)]
        promised = 0 if number % 20 == 0 else rng.choice((3, 5, 10, 10, 15, 20))
        statutory = min(60, max(5, 2 * promised))
        # Just over half the cases pay a fee (a few of them more than the bank shows).
        charged = number % 2 == 0 or number % 50 == 1
        fee = rng.choice(("80.00", "200.00", "50.00")) if charged else "0.00"
        items.append(_Item(f"3301{number:05d}", department, statutory, promised, fee))
    return items


class _Clock:
    """Compact strings of instants, memoised per minute (millions of rows, few minutes)."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def text(self, instant: dt.datetime) -> str:
        minute = int(instant.timestamp()) // 60
        found = self._cache.get(minute)
        if found is None:
            found = self._cache[minute] = compact(instant.replace(second=0))
        return found


TODAY_MINUTES = 90  # the hall opened at 08:30; the instant is 10:00
DAY_MINUTES = 8 * 60


def _working_instant(rng: random.Random, day: dt.date) -> dt.datetime:
    """A moment of the hall's opening hours on ``day`` (before the instant, today)."""
    minutes = DAY_MINUTES if day < AT.date() else TODAY_MINUTES
    return dt.datetime.combine(day, dt.time(8, 30), tzinfo=SHANGHAI) + dt.timedelta(
        minutes=rng.randrange(minutes)
    )


def _working_days_back() -> list[dt.date]:
    """The working days up to the instant's day, newest first (index = working days ago)."""
    calendar = WorkingCalendar(AT.year, AT.year, confirmed_until=dt.date(AT.year, 12, 31))
    day, days = AT.date(), []
    while len(days) < 120:
        if calendar.is_working_day(day):
            days.append(day)
        day -= dt.timedelta(days=1)
    return days


def _accepted(rng: random.Random, item: _Item, back: list[dt.date]) -> dt.datetime:
    """When an open case was accepted: mostly recently, with a tail past its limit.

    Its age in opening-hours minutes is exponential with a mean of 0.35 of its promised
    limit (about 6 % past the promise, 4 % in its last fifth, a few past the statutory
    limit); an immediate item's open case was accepted today.
    """
    if item.promised == 0:
        age = rng.randrange(TODAY_MINUTES)
    else:
        age = int(item.promised * DAY_MINUTES * min(2.5, rng.expovariate(1 / 0.35)))
    if age < TODAY_MINUTES:
        return AT - dt.timedelta(minutes=age + 1)
    days, minutes = divmod(age - TODAY_MINUTES, DAY_MINUTES)
    closing = dt.datetime.combine(
        back[min(days + 1, len(back) - 1)], dt.time(16, 30), tzinfo=SHANGHAI
    )
    return closing - dt.timedelta(minutes=minutes)


@dataclass
class _Case:
    id: str
    item: _Item
    center: str
    window: str
    accepted: dt.datetime
    applicant: str
    fee: bool


def _rows(spec: HallSpec) -> dict[str, Iterator[tuple[Any, ...]]]:
    """Row generators per table (consumed in this order: cases before what refers to them)."""
    rng = random.Random(spec.seed)
    items = _items(rng)
    clock = _Clock()
    stamp = clock.text(AT - dt.timedelta(days=60))
    back = _working_days_back()
    days = back[:30]
    cases: list[_Case] = []

    def sxml() -> Iterator[tuple[Any, ...]]:
        for item in items:
            kind = "1" if item.promised == 0 else "2"
            cap = "10" if item.code.endswith("7") else None
            yield (
                item.code,
                f"事项{item.code}",
                item.department,
                kind,
                str(item.statutory),
                str(item.promised),
                item.fee_yuan,
                None,
                cap,
                stamp,
            )

    def sl_bj() -> Iterator[tuple[Any, ...]]:
        for number in range(spec.cases):
            center = center_code(number % spec.centers)
            item = items[rng.randrange(len(items))]
            window = f"{center}W{DEPARTMENTS.index(item.department) * 3 + rng.randrange(3):02d}"
            accepted = _accepted(rng, item, back)
            applicant = f"3301{rng.randrange(10**14):014d}"
            if cases and rng.random() < 0.003:  # the same application accepted twice
                first = cases[rng.randrange(len(cases))]
                item, applicant = first.item, first.applicant
            recorded = accepted + dt.timedelta(minutes=1)
            if rng.random() < 0.005:  # typed in days later (补录)
                recorded = accepted + dt.timedelta(days=3, hours=2)
            if recorded > AT:
                recorded = AT - dt.timedelta(minutes=5)
            case = _Case(
                f"{center}{number:09d}",
                item,
                center,
                window,
                accepted,
                applicant,
                item.fee_yuan != "0.00",
            )
            cases.append(case)
            fee = item.fee_yuan
            if case.fee and rng.random() < 0.005:
                fee = "120.00"  # charged above the standard
            yield (
                case.id,
                item.code,
                center,
                item.department,
                window,
                None,
                applicant,
                clock.text(accepted - dt.timedelta(minutes=10)),
                clock.text(accepted),
                "1",
                None,
                None,
                None,
                clock.text(recorded),
                fee,
                clock.text(recorded),
            )

    def sf_jkd() -> Iterator[tuple[Any, ...]]:
        for case in cases:
            if case.fee:
                yield (f"JK{case.id}", case.id, case.item.fee_yuan, clock.text(case.accepted))

    def sp_hj() -> Iterator[tuple[Any, ...]]:
        for case in cases[::5]:
            started = case.accepted
            ended = started + dt.timedelta(hours=rng.randrange(2, 60))
            done = ended < AT
            yield (
                case.id,
                1,
                "1",
                "承办",
                clock.text(started),
                clock.text(ended) if done else None,
                "3",
                clock.text(ended if done else started),  # when the row last changed
            )

    def tbcx() -> Iterator[tuple[Any, ...]]:
        for case in cases[::33]:
            started = case.accepted + dt.timedelta(days=rng.randrange(1, 6))
            if started >= AT:
                continue
            ended = started + dt.timedelta(days=rng.randrange(1, 12))
            running = ended >= AT
            yield (
                case.id,
                1,
                rng.choice("1234"),
                clock.text(started),
                None if running else clock.text(ended),
                clock.text(started if running else ended),  # when the row last changed
            )

    def pd_qh() -> Iterator[tuple[Any, ...]]:
        made = 0
        for case in cases:
            if made >= spec.ticket_count:
                return
            if rng.random() < 0.01:  # no ticket behind this case (walk-in, online)
                continue
            called = case.accepted - dt.timedelta(minutes=rng.randrange(1, 10))
            finished = case.accepted + dt.timedelta(minutes=rng.randrange(1, 15))
            department = case.item.department
            yield (
                f"T{made:010d}",
                f"A{made % 1000:03d}",
                case.center,
                department,
                case.window,
                case.item.code,
                case.applicant if rng.random() < 0.5 else None,
                naive(called - dt.timedelta(minutes=20)),
                naive(called),
                naive(finished),
                "2",
                False,
                naive(min(finished, AT)),
            )
            made += 1
        while made < spec.ticket_count:
            center = center_code(rng.randrange(spec.centers))
            department_index = rng.randrange(len(DEPARTMENTS))
            window = f"{center}W{department_index * 3 + rng.randrange(3):02d}"
            called = _working_instant(rng, rng.choice(days))
            finished = called + dt.timedelta(minutes=rng.randrange(2, 20))
            roll = rng.random()
            if roll < 0.004:  # served, not consultation, and no case ever registered
                status, service, consultation = "2", items[department_index].code, False
            elif roll < 0.75:
                status, service, consultation = "2", CONSULTATION, True
            elif roll < 0.9:
                status, service, consultation = "3", items[department_index].code, False
            else:
                status, service, consultation = "4", items[department_index].code, False
            served = status == "2"
            yield (
                f"T{made:010d}",
                f"B{made % 1000:03d}",
                center,
                DEPARTMENTS[department_index],
                window,
                service,
                None,
                naive(called - dt.timedelta(minutes=15)),
                naive(called) if status in "23" else None,
                naive(finished) if served else None,
                status,
                consultation,
                naive(min(finished, AT)),
            )
            made += 1

    def pj_pj() -> Iterator[tuple[Any, ...]]:
        for number, case in enumerate(cases[::20]):
            rated = case.accepted + dt.timedelta(minutes=20)
            level = 5 if rng.random() < 0.03 else rng.choice((1, 1, 2, 3))
            followed = rated + dt.timedelta(days=2) if level >= 4 and rng.random() < 0.5 else None
            yield (
                f"PJ{number:09d}",
                case.center,
                case.item.department,
                case.window,
                f"G{rng.randrange(100):03d}",
                case.id,
                naive(rated),
                level,
                None,
                naive(followed) if followed else None,
                naive(followed or rated),
            )

    def yh_jyls() -> Iterator[tuple[Any, ...]]:
        made = 0
        for case in cases:
            if made >= spec.payment_count - spec.payment_count // 500:
                break
            if not case.fee:
                continue
            paid = case.accepted + dt.timedelta(minutes=10)
            if paid > AT or rng.random() < 0.02:  # not paid (yet)
                continue
            account = account_of(case.center)
            amount = case.item.fee_yuan
            roll = rng.random()
            if roll < 0.01:
                account = f"6222{case.center}9999"  # the department's own account
            elif roll < 0.015:
                amount = "60.00"
            yield (
                f"YH{made:010d}",
                account,
                amount,
                naive(paid),
                f"JK{case.id}",
                f"缴款人{made % 97}",
                case.id,
                case.center,
                naive(paid),
            )
            made += 1
        while made < spec.payment_count:  # deposits with no case behind them (有费无件)
            center = center_code(rng.randrange(spec.centers))
            paid = _working_instant(rng, rng.choice(days))
            yield (
                f"YH{made:010d}",
                account_of(center),
                "80.00",
                naive(paid),
                f"JKX{made:09d}",
                f"缴款人{made % 97}",
                None,
                center,
                naive(paid),
            )
            made += 1

    return {
        "SXML": sxml(),
        "SL_BJ": sl_bj(),
        "SF_JKD": sf_jkd(),
        "SP_HJ": sp_hj(),
        "TBCX": tbcx(),
        "PD_QH": pd_qh(),
        "PJ_PJ": pj_pj(),
        "YH_JYLS": yh_jyls(),
    }


def load_hall(dsn: str, spec: HallSpec) -> dict[str, int]:
    """Create the hall's tables in the (empty) database at ``dsn`` and COPY its rows in."""
    counts: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for table, rows in _rows(spec).items():
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                count = 0
                for row in rows:
                    copy.write_row(row)
                    count += 1
            counts[table] = count
        conn.execute(INDEXES)
    return counts


def daemon_config(source_url: str, state_url: str, spec: HallSpec) -> dict[str, Any]:
    """The daemon configuration (as YAML data) for the hall at ``source_url``."""
    sources = []
    for name, entities in QUERIES.items():
        sources.append(
            {
                "name": name,
                "kind": "sql",
                "url": source_url,
                "since_format": SINCE_FORMATS[name],
                "statement_timeout_seconds": 600,
                "entities": {
                    entity: {"query": query, "value_maps": VALUE_MAPS.get(name, {}).get(entity, {})}
                    for entity, query in entities.items()
                },
            }
        )
    centers = [center_code(n) for n in range(spec.centers)]
    return {
        "sources": sources,
        "calendar": {"first_year": 2024, "last_year": 2030},
        "state": {"url": state_url},
        "alerting": {"alertmanager_urls": []},
        "rules": {
            "offsystem": {"consultation_services": [CONSULTATION]},
            "fees": {"designated_accounts": {c: [account_of(c)] for c in centers}},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="psycopg URL of an empty database")
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for table, count in load_hall(args.url, HallSpec(args.cases, seed=args.seed)).items():
        print(f"{table:<8} {count:>9}")


if __name__ == "__main__":
    main()
