"""Rows to canonical records: one function per entity, rejecting what cannot be mapped.

A source delivers rows as ``{canonical field name: raw value}`` (the SELECT's column
aliases). Here each row becomes a canonical model object or a :class:`Reject` that says
why, in a small fixed vocabulary (``missing_field``, ``bad_time``, ``bad_number``,
``negative_limit``, ``bad_value``, ``invalid``, ``unknown_item``, ``unknown_case``,
``outside_calendar``) so the reason can be a metric label. A reject carries the row's
key (case id, item code) — never an applicant's name or ID number — and never stops the
poll.

Applicant identities arrive as ``applicant_id_number`` (preferred) or
``applicant_name`` and leave this module only as a keyed hash in ``applicant_key``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError

from monitor.model import Case, Evaluation, Item, Payment, Record, Step, Suspension, Ticket
from monitor.privacy import ApplicantHasher
from monitor.sources.base import EntityBatch
from monitor.timeparse import TimeParseError, parse_date, parse_time

_T = TypeVar("_T")
log = structlog.get_logger(__name__)

REJECT_REASONS = (
    "missing_field",
    "bad_time",
    "bad_number",
    "negative_limit",
    "bad_value",
    "invalid",
    "unknown_item",
    "unknown_case",
    "outside_calendar",
)


@dataclass(frozen=True)
class Reject:
    """A row that could not be mapped, with why."""

    entity: str
    key: str | None
    reason: str
    detail: str


def log_reject(reject: Reject, source: str | None = None) -> None:
    """One warning per rejected row: its key and reason, never its content."""
    log.warning(
        "row_rejected",
        source=source,
        entity=reject.entity,
        key=reject.key,
        reason=reject.reason,
        detail=reject.detail,
    )


class RowError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RowContext:
    """What the mapping needs to know about its source, made anew for each poll.

    ``times`` holds the instants read so far, by their raw value (text, or a naive
    datetime from the driver): rows of one poll that carry the same time get the same
    datetime object. A queue system stamps thousands of tickets a minute of a busy
    day, and a province holds millions of instants (48 bytes each, and as many as four
    per row). Aware raw values are not shared: equal instants in different zones would
    be one object, and the record would no longer say what the source delivered.
    """

    tz: ZoneInfo
    hasher: ApplicantHasher
    value_maps: Mapping[str, Mapping[str, str]]
    default_center: str | None = None
    times: dict[str | dt.datetime, dt.datetime] = dataclasses.field(
        default_factory=dict, compare=False
    )


# Fields that carry identities; they are hashed and dropped, never copied.
_IDENTITY_FIELDS = ("applicant_id_number", "applicant_name")
# Update-time column used for the incremental watermark; not part of the model.
WATERMARK_FIELD = "updated_at"


def _text(row: Mapping[str, Any], field: str, ctx: RowContext) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip()
    if not text:
        return None
    mapping = ctx.value_maps.get(field)
    if mapping is not None:
        if text not in mapping:
            raise RowError("bad_value", f"{field}: code {text!r} is not in value_maps.{field}")
        return mapping[text]
    return text


def _present(value: _T | None, field: str) -> _T:
    if value is None:
        raise RowError("missing_field", f"{field} is missing")
    return value


def _required_text(row: Mapping[str, Any], field: str, ctx: RowContext) -> str:
    return _present(_text(row, field, ctx), field)


def _parsed(
    parser: Callable[[object, ZoneInfo], _T | None],
    row: Mapping[str, Any],
    field: str,
    ctx: RowContext,
) -> _T | None:
    try:
        return parser(row.get(field), ctx.tz)
    except TimeParseError as exc:
        raise RowError("bad_time", f"{field}: {exc}") from None


_SHARED_TIMES = 500_000  # at most this many instants kept per context, then started again


def _time(row: Mapping[str, Any], field: str, ctx: RowContext) -> dt.datetime | None:
    """The field's instant; equal raw values within one context share it (RowContext)."""
    raw = row.get(field)
    if raw is None:
        return None
    times = ctx.times
    shareable = type(raw) is str or (type(raw) is dt.datetime and raw.tzinfo is None)
    if shareable:
        shared = times.get(raw)
        if shared is not None:
            return shared
    try:
        value = parse_time(raw, ctx.tz)
    except TimeParseError as exc:
        raise RowError("bad_time", f"{field}: {exc}") from None
    if shareable and value is not None:
        if len(times) >= _SHARED_TIMES:
            times.clear()
        times[raw] = value
    return value


def _required_time(row: Mapping[str, Any], field: str, ctx: RowContext) -> dt.datetime:
    value = _time(row, field, ctx)
    if value is None:
        raise RowError("missing_field", f"{field} is missing")
    return value


def _date(row: Mapping[str, Any], field: str, ctx: RowContext) -> dt.date | None:
    return _parsed(parse_date, row, field, ctx)


def _integer(row: Mapping[str, Any], field: str, *, limit: bool = False) -> int | None:
    value = row.get(field)
    number: int | Decimal
    if type(value) is int:  # what drivers return for an integer column: no text round trip
        number = value
    else:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            number = value if type(value) is Decimal else Decimal(str(value).strip())
        except InvalidOperation:
            raise RowError("bad_number", f"{field}: not a number") from None
        if not number.is_finite():
            raise RowError("bad_number", f"{field}: not a finite number")
        if number != number.to_integral_value():
            raise RowError("bad_number", f"{field}: {number} is not a whole number")
    if limit and number < 0:
        raise RowError("negative_limit", f"{field}: {number} is negative")
    return int(number)


def _required_integer(row: Mapping[str, Any], field: str, *, limit: bool = False) -> int:
    return _present(_integer(row, field, limit=limit), field)


def _amount_text(value: object) -> str:
    return str(value).strip().replace(",", "").lstrip("¥￥")


def _fen(row: Mapping[str, Any], field: str) -> int | None:
    """Money from ``<field>_fen`` (integer fen) or ``<field>_yuan`` (exact decimal yuan)."""
    fen = _integer(row, f"{field}_fen")
    if fen is not None:
        return fen
    yuan = row.get(f"{field}_yuan")
    if yuan is None or (isinstance(yuan, str) and not yuan.strip()):
        return None
    try:
        # A numeric column arrives as a Decimal: the text's own value, without the text.
        number = yuan if type(yuan) is Decimal else Decimal(_amount_text(yuan))
        amount = number * 100
    except InvalidOperation:
        raise RowError("bad_number", f"{field}_yuan: not an amount") from None
    if not amount.is_finite():
        raise RowError("bad_number", f"{field}_yuan: not a finite amount")
    if amount != amount.to_integral_value():
        raise RowError("bad_number", f"{field}_yuan: more than two decimals")
    return int(amount)


_TRUE = frozenset({"1", "true", "t", "yes", "y", "是"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "否"})


def _flag(row: Mapping[str, Any], field: str, ctx: RowContext) -> bool | None:
    value = row.get(field)
    if value is None or isinstance(value, bool):
        return value
    text = _text(row, field, ctx)
    if text is None:
        return None
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise RowError("bad_value", f"{field}: {text!r} is not a yes/no value")


def _identity(row: Mapping[str, Any], fields: tuple[str, ...], ctx: RowContext) -> str | None:
    """Keyed hash of the first identity field present; the raw value goes no further."""
    for field in fields:
        value = row.get(field)
        if value is not None and str(value).strip():
            return ctx.hasher.key_for(value)
    return None


def _build(model: type[Record], fields: dict[str, Any]) -> Any:
    try:
        return model.__pydantic_validator__.validate_python(
            {k: v for k, v in fields.items() if v is not None}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or model.__name__
        raise RowError("invalid", f"{where}: {error['msg']}") from None


def map_item(row: Mapping[str, Any], ctx: RowContext) -> Item:
    kind = _text(row, "kind", ctx)
    promised = _required_integer(row, "promised_limit_days", limit=True)
    suspension_cap = _integer(row, "max_suspension_days", limit=True)
    return _build(
        Item,
        {
            "code": _required_text(row, "code", ctx),
            "name": _text(row, "name", ctx),
            "department": _text(row, "department", ctx),
            "kind": kind or ("immediate" if promised == 0 else "promised"),
            "statutory_limit_days": _required_integer(row, "statutory_limit_days", limit=True),
            "promised_limit_days": promised,
            "fee_standard_fen": _fen(row, "fee_standard"),
            "fee_abolished_on": _date(row, "fee_abolished_on", ctx),
            "max_suspension_days": None if suspension_cap is None else {"*": suspension_cap},
        },
    )


def map_case(row: Mapping[str, Any], ctx: RowContext) -> Case:
    return _build(
        Case,
        {
            "id": _required_text(row, "id", ctx),
            "item": _required_text(row, "item", ctx),
            "center": _text(row, "center", ctx) or ctx.default_center,
            "department": _text(row, "department", ctx),
            "window": _text(row, "window", ctx),
            "applicant_key": _identity(row, _IDENTITY_FIELDS, ctx),
            "received_at": _time(row, "received_at", ctx),
            "accepted_at": _required_time(row, "accepted_at", ctx),
            "promised_due_at": _time(row, "promised_due_at", ctx),
            "concluded_at": _time(row, "concluded_at", ctx),
            "result": _text(row, "result", ctx),
            "recorded_at": _time(row, "recorded_at", ctx),
            "fee_due_fen": _fen(row, "fee_due"),
            "payment_reference": _text(row, "payment_reference", ctx),
        },
    )


def map_step(row: Mapping[str, Any], ctx: RowContext) -> tuple[str, Step]:
    return _required_text(row, "case_id", ctx), _build(
        Step,
        {
            "seq": _required_integer(row, "seq"),
            "name": _text(row, "name", ctx),
            "started_at": _required_time(row, "started_at", ctx),
            "ended_at": _time(row, "ended_at", ctx),
            "limit_days": _integer(row, "limit_days", limit=True),
        },
    )


def map_suspension(row: Mapping[str, Any], ctx: RowContext) -> tuple[str, Suspension]:
    return _required_text(row, "case_id", ctx), _build(
        Suspension,
        {
            "seq": _required_integer(row, "seq"),
            "kind": _required_text(row, "kind", ctx),
            "started_at": _required_time(row, "started_at", ctx),
            "ended_at": _time(row, "ended_at", ctx),
        },
    )


def map_ticket(row: Mapping[str, Any], ctx: RowContext) -> Ticket:
    return _build(
        Ticket,
        {
            "id": _required_text(row, "id", ctx),
            "number": _text(row, "number", ctx),
            "center": _text(row, "center", ctx) or ctx.default_center,
            "department": _text(row, "department", ctx),
            "window": _text(row, "window", ctx),
            "service": _text(row, "service", ctx),
            "applicant_key": _identity(row, _IDENTITY_FIELDS, ctx),
            "issued_at": _required_time(row, "issued_at", ctx),
            "called_at": _time(row, "called_at", ctx),
            "finished_at": _time(row, "finished_at", ctx),
            "status": _text(row, "status", ctx),
            "consultation": _flag(row, "consultation", ctx),
        },
    )


def map_evaluation(row: Mapping[str, Any], ctx: RowContext) -> Evaluation:
    return _build(
        Evaluation,
        {
            "id": _required_text(row, "id", ctx),
            "center": _text(row, "center", ctx) or ctx.default_center,
            "department": _text(row, "department", ctx),
            "window": _text(row, "window", ctx),
            "staff_id": _text(row, "staff_id", ctx),
            "case_id": _text(row, "case_id", ctx),
            "rated_at": _required_time(row, "rated_at", ctx),
            # Vendors store 1-5 or words (非常满意…): value_maps.level maps words to 1-5.
            "level": _required_integer({"level": _text(row, "level", ctx)}, "level"),
            "comment": _text(row, "comment", ctx),
            "followed_up_at": _time(row, "followed_up_at", ctx),
        },
    )


_PAYER_FIELDS = ("payer_id_number", "payer_name")


def map_payment(row: Mapping[str, Any], ctx: RowContext) -> Payment:
    return _build(
        Payment,
        {
            "id": _required_text(row, "id", ctx),
            "account": _required_text(row, "account", ctx),
            "amount_fen": _present(_fen(row, "amount"), "amount_fen or amount_yuan"),
            "paid_at": _required_time(row, "paid_at", ctx),
            "reference": _text(row, "reference", ctx),
            "payer_key": _identity(row, _PAYER_FIELDS, ctx),
            "case_id": _text(row, "case_id", ctx),
            "center": _text(row, "center", ctx) or ctx.default_center,
        },
    )


MAPPERS: dict[str, Callable[[Mapping[str, Any], RowContext], Any]] = {
    "items": map_item,
    "cases": map_case,
    "steps": map_step,
    "suspensions": map_suspension,
    "tickets": map_ticket,
    "evaluations": map_evaluation,
    "payments": map_payment,
}

# Which column identifies a row in a reject (never an identity column).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "items": ("code",),
    "cases": ("id",),
    "steps": ("case_id", "seq"),
    "suspensions": ("case_id", "seq"),
    "tickets": ("id",),
    "evaluations": ("id",),
    "payments": ("id",),
}


def row_key(entity: str, row: Mapping[str, Any]) -> str | None:
    parts = [row.get(column) for column in ROW_KEYS[entity]]
    if all(p is None for p in parts):
        return None
    return "/".join("" if p is None else str(p).strip() for p in parts)


class RowMapper:
    """Maps one source's rows into a batch: records, the watermark, and rejects.

    The watermark is the largest ``updated_at`` seen. A reject is logged once per row
    key and reason for the life of the source, not again at every poll that re-reads it.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._logged: set[tuple[str, str | None, str]] = set()

    def map(
        self, entity: str, row: Mapping[str, Any], ctx: RowContext, batch: EntityBatch
    ) -> dt.datetime | None:
        """Map one row into ``batch``; its update time (None also when rejected)."""
        try:
            # Equal update times share one parse (RowContext.times), as the row's own do.
            updated = _time(row, WATERMARK_FIELD, ctx)
        except RowError as exc:
            self.reject(batch, Reject(entity, row_key(entity, row), exc.reason, exc.detail))
            return None
        if updated is not None and (batch.watermark is None or updated > batch.watermark):
            batch.watermark = updated
        try:
            batch.records.append(MAPPERS[entity](row, ctx))
        except RowError as exc:
            self.reject(batch, Reject(entity, row_key(entity, row), exc.reason, exc.detail))
            return None
        return updated

    def reject(self, batch: EntityBatch, reject: Reject) -> None:
        batch.rejects.append(reject)
        identity = (reject.entity, reject.key, reject.reason)
        if identity not in self._logged:
            self._logged.add(identity)
            log_reject(reject, self.source)
