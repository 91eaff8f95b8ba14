"""Statement source: a watched folder of bank statements (CSV, XLSX) of the fee accounts.

Banks deliver the statements of the designated fee accounts (收费专户) as files: a daily
export dropped into a folder by SFTP, a mail robot or a clerk. Each poll reads the files
that are new *by content*: a file is identified by the sha256 of its bytes, so the same
statement delivered twice, or under another name, is read once, and a rejected file is
read again only when its content changes. The source itself remembers nothing; the
caller records :attr:`EntityBatch.files` in the same transaction as the payments (the
daemon's state store, or a :class:`~monitor.sources.base.MemoryFileLedger` for a one-shot
scan), so a restart neither loses nor doubles a file.

A file is taken whole or not at all. One that is structurally broken is rejected with a
reason from :data:`FILE_REJECT_REASONS` and yields no payment: a CSV that does not end
with a line break or has a line with the wrong number of fields (a half-written file), a
header without a configured column, text that is not in the configured encoding, an XLSX
that is not a complete workbook. A file modified less than ``min_age_seconds`` ago, or
while it is being read, is left for a later poll. Within a well-formed file, a line that
does not map (a bad amount, no transaction id) is a row reject in the vocabulary of
:mod:`monitor.sources.mapping`, and the rest of the file is accepted.

What a statement looks like is configuration: ``columns`` maps canonical payment fields
to header texts, ``skip_rows`` skips title lines above the header, and the first line
whose first non-empty cell (or any cell, on a line without a transaction id) contains a
``footer_markers`` entry (合计, 总计…) starts the trailer: after it, only complete
transaction lines (fitting the table, with an id, a time and an amount) are read, the
rest (printing time, signatures) is ignored. Besides the payment's own fields, a
statement may give:

- ``amount_yuan`` / ``amount_fen``: a signed amount (positive = deposit). ``1,234.50``,
  ``¥80``, ``￥1,000.00``, ``-20.00``, ``(20.00)`` and ``80元`` are read exactly; a value
  with more than two decimals (including an XLSX number that is not exactly a fen
  amount) is rejected, never rounded;
- ``credit_yuan`` and ``debit_yuan`` (or ``_fen``): the 贷方/借方 column pair, a debit
  becoming a negative amount;
- ``direction``: a 借/贷 indicator; a debit makes the amount negative (``value_maps``
  may translate the bank's codes to ``credit``/``debit``);
- ``paid_date`` and ``paid_time``: the transaction time split over two columns.

Payments are identified by the bank's transaction id, so two overlapping statements of
one account never count a deposit twice. Payer names and ID numbers (``payer_name``,
``payer_id_number``) leave this module only as keyed hashes, and no cell content is ever
logged.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import fnmatch
import hashlib
import io
import os
import re
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import structlog
from openpyxl.utils.datetime import from_excel

from monitor.config import StatementSourceConfig
from monitor.privacy import ApplicantHasher
from monitor.sources.base import (
    EntityBatch,
    FileLedger,
    ProcessedFile,
    SourceQueryError,
    SourceUnavailable,
)
from monitor.sources.mapping import Reject, RowContext, RowError, log_reject, map_payment, row_key
from monitor.timeparse import TimeParseError, parse_date

log = structlog.get_logger(__name__)

# Why a whole file was rejected (a metric label, like mapping.REJECT_REASONS for rows).
FILE_REJECT_REASONS = (
    "empty",  # no content, or no header line
    "truncated",  # half-written: no final line break, a short line, a cut character or zip
    "bad_encoding",  # not text in the configured encoding
    "missing_column",  # a configured column is not in the header
    "unreadable",  # not a CSV or XLSX this source can read at all
)

# Statement columns: the payment's own fields, and the helpers that become one of them.
_PAYMENT_FIELDS = frozenset(
    {"id", "account", "paid_at", "reference", "payer_name", "payer_id_number", "case_id"}
    | {"center", "amount_yuan", "amount_fen"}
)
_PAIR_FIELDS = frozenset({"credit_yuan", "credit_fen", "debit_yuan", "debit_fen"})
_MONEY_FIELDS = _PAIR_FIELDS | {"amount_yuan", "amount_fen"}
_STATEMENT_FIELDS = _PAIR_FIELDS | {"direction", "paid_date", "paid_time"}
# 借/贷 indicators as banks print them, when value_maps does not say otherwise.
_DIRECTIONS = {
    **dict.fromkeys(("贷", "贷方", "收", "收入", "入账", "c", "cr", "credit", "+"), "credit"),
    **dict.fromkeys(("借", "借方", "付", "支出", "出账", "d", "dr", "debit", "-"), "debit"),
}
_XLSX_SUFFIXES = (".xlsx", ".xlsm")
# Excel stores dates as day numbers; below this bound a number in a time column is one.
_EXCEL_MAX_SERIAL = 2958466
_CURRENCY = re.compile(r"^(?:RMB|CNY|[¥￥])", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# Dates as Chinese banks print them: 2026年10月9日, 2026/10/9, 2026.10.09, with a time or not.
_LOCAL_TIME = re.compile(
    r"(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?"
    r"(?:\s*T?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)


class _FileRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _Line:
    """One transaction line: its line number and its cells by canonical field."""

    number: int
    cells: Mapping[str, Any]


def _configuration_problem(config: StatementSourceConfig) -> str | None:
    """What in the configuration makes every file unreadable, before any file is consumed."""
    columns = set(config.columns)
    unknown = sorted(columns - _PAYMENT_FIELDS - _STATEMENT_FIELDS)
    if unknown:
        return f"columns.{unknown[0]} is not a statement field"
    try:
        codecs.lookup(config.encoding)
    except LookupError:
        return f"encoding {config.encoding!r} is unknown"
    if "id" not in columns:
        return "columns.id (the bank's transaction id) is required"
    if not columns & _MONEY_FIELDS:
        return "columns needs amount_yuan, amount_fen or a credit_/debit_ column"
    if columns & {"amount_yuan", "amount_fen"} and columns & _PAIR_FIELDS:
        return "columns: give either amount_* or credit_*/debit_*, not both"
    if not columns & {"paid_at", "paid_date"}:
        return "columns needs paid_at (or paid_date with paid_time)"
    if "account" not in columns and config.account is None:
        return "account is required when the statement has no account column"
    return None


class StatementSource:
    """A folder of bank statements of the designated fee accounts, read file by file."""

    full_poll_lists_all = False  # statements get archived: a missing file deletes nothing
    entities: tuple[str, ...] = ("payments",)

    def __init__(
        self,
        config: StatementSourceConfig,
        tz: ZoneInfo,
        hasher: ApplicantHasher,
        ledger: FileLedger,
    ) -> None:
        self.config = config
        self.name = config.name
        self.display_url = str(config.directory)
        self._tz = tz
        self._hasher = hasher
        self._ledger = ledger
        self._problem = _configuration_problem(config)
        self._markers = tuple(_SPACES.sub("", m) for m in config.footer_markers if m.strip())

    def close(self) -> None:
        """Nothing is held open between polls."""

    def next_since(self, watermark: dt.datetime | None) -> dt.datetime | None:
        """Files are selected by content, not by time: every poll looks at the whole folder."""
        return None

    def poll(self, entity: str, since: dt.datetime | None = None) -> EntityBatch:
        """Read every statement not consumed before; ``since`` is ignored."""
        if entity != "payments":
            raise SourceQueryError(self.name, f"{entity}: a statement folder delivers payments")
        if self._problem is not None:
            raise SourceQueryError(self.name, self._problem)
        ctx = RowContext(
            tz=self._tz,
            hasher=self._hasher,
            value_maps=self.config.value_maps,
            default_center=self.config.center,
        )
        batch = EntityBatch()
        digests: set[str] = set()
        for path in self._candidates():
            content = self._settled_content(path)
            if content is None:
                continue
            digest = hashlib.sha256(content).hexdigest()
            if digest in digests or self._ledger.known(self.name, digest):
                log.debug("statement_already_read", source=self.name, file=path.name)
                continue
            digests.add(digest)
            batch.files.append(self._consume(path, digest, content, ctx, batch))
        return batch

    def _candidates(self) -> list[Path]:
        """Files matching the patterns (case-blind), by name; hidden and lock files skipped."""
        directory = self.config.directory
        try:
            with os.scandir(directory) as entries:
                names = [e.name for e in entries if e.is_file()]
        except OSError as exc:
            raise SourceUnavailable(
                self.name, f"cannot list {directory}: {exc.strerror or exc}"
            ) from exc
        patterns = [p.lower() for p in self.config.patterns]
        return [
            directory / name
            for name in sorted(names)
            # "~$x.xlsx" is Excel's lock file beside an open workbook; dot files are
            # uploads in progress for most transfer tools.
            if not name.startswith((".", "~$"))
            and any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns)
        ]

    def _settled_content(self, path: Path) -> bytes | None:
        """The file's bytes, or None while it may still be being written (retry later)."""
        try:
            before = path.stat()
            if time.time() - before.st_mtime < self.config.min_age_seconds:
                log.debug("statement_too_young", source=self.name, file=path.name)
                return None
            content = path.read_bytes()
            after = path.stat()
        except FileNotFoundError:
            return None  # archived or renamed since the listing
        except OSError as exc:
            log.warning(
                "statement_unreadable", source=self.name, file=path.name, error=exc.strerror
            )
            return None
        if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
            log.debug("statement_changed_while_read", source=self.name, file=path.name)
            return None
        return content

    def _consume(
        self,
        path: Path,
        digest: str,
        content: bytes,
        ctx: RowContext,
        batch: EntityBatch,
    ) -> ProcessedFile:
        try:
            lines = self._lines(path, content)
        except _FileRejected as exc:
            log.warning(
                "statement_rejected",
                source=self.name,
                file=path.name,
                reason=exc.reason,
                detail=exc.detail,
            )
            return ProcessedFile(
                path.name, digest, "rejected", reason=exc.reason, detail=exc.detail
            )
        rejected = 0
        for line in lines:
            key = row_key("payments", {"id": _text(line.cells.get("id"))})
            try:
                batch.records.append(map_payment(self._payment_row(line.cells, ctx), ctx))
            except RowError as exc:
                rejected += 1
                detail = f"{path.name} line {line.number}: {exc.detail}"
                reject = Reject("payments", key, exc.reason, detail)
                batch.rejects.append(reject)
                log_reject(reject, self.name)  # a file is read once: every reject is new
        batch.rows += len(lines)
        log.info(
            "statement_read", source=self.name, file=path.name, rows=len(lines), rejected=rejected
        )
        return ProcessedFile(path.name, digest, "accepted", rows=len(lines))

    def _lines(self, path: Path, content: bytes) -> list[_Line]:
        if not content:
            raise _FileRejected("empty", "the file is empty")
        suffix = path.suffix.lower()
        if suffix in _XLSX_SUFFIXES:
            return self._table(_xlsx_rows(content), fixed_width=False)
        if suffix == ".xls":
            raise _FileRejected("unreadable", "legacy .xls is not supported: export XLSX or CSV")
        return self._table(_csv_rows(content, self.config), fixed_width=True)

    def _table(self, rows: Iterable[tuple[int, list[Any]]], *, fixed_width: bool) -> list[_Line]:
        """The transaction lines under the header; raises _FileRejected for a broken file.

        ``fixed_width``: every line must have the header's number of fields (CSV); a
        line that does not was cut short or run together with the next one.
        """
        config = self.config
        numbered = iter(rows)
        for _ in range(config.skip_rows):
            next(numbered, None)
        header: list[str] | None = None
        for _number, cells in numbered:
            if not _blank(cells):
                header = [_header_text(c) for c in cells]
                break
        if header is None:
            raise _FileRejected("empty", "no header line")
        position: dict[str, int] = {}
        for index, title in enumerate(header):
            position.setdefault(title, index)
        missing = [f"{title} ({f})" for f, title in config.columns.items() if title not in position]
        if missing:
            raise _FileRejected("missing_column", "not in the header: " + ", ".join(missing))
        width = len(header)
        lines: list[_Line] = []
        in_trailer = False
        for number, cells in numbered:
            if _blank(cells):
                continue
            # Trailing empty fields (a comma at the end of each line) still fit.
            fits = not fixed_width or (len(cells) >= width and _blank(cells[width:]))
            mapped = {
                f: cells[position[t]] if position[t] < len(cells) else None
                for f, t in config.columns.items()
            }
            if self._is_footer(cells, mapped.get("id")):
                in_trailer = True
                continue
            if in_trailer and not (fits and _complete(mapped)):
                continue  # printing time, signatures: not part of the table
            if not fits:
                raise _FileRejected(
                    "truncated", f"line {number} has {len(cells)} fields, the header {width}"
                )
            lines.append(_Line(number, mapped))
        return lines

    def _is_footer(self, cells: list[Any], transaction_id: Any) -> bool:
        """A summary line: a marker in its first cell, or anywhere on a line without an id."""
        texts = [_SPACES.sub("", t) for t in map(_text, cells) if t is not None]
        candidates = texts if _text(transaction_id) is None else texts[:1]
        return any(marker in text for text in candidates for marker in self._markers)

    def _payment_row(self, cells: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
        """The cells as map_payment expects them: text, one time, a signed amount in fen."""
        row: dict[str, Any] = {
            f: _text(v)
            for f, v in cells.items()
            if f not in _MONEY_FIELDS and f not in _STATEMENT_FIELDS and f != "paid_at"
        }
        if "paid_at" in cells:
            row["paid_at"] = _time_value(cells["paid_at"])
        else:
            row["paid_at"] = _date_and_time(cells.get("paid_date"), cells.get("paid_time"), ctx)
        if row.get("account") is None:
            row["account"] = self.config.account
        row["amount_fen"] = _amount_fen(cells, ctx)
        return row


# --------------------------------------------------------------------------- reading


def _csv_rows(content: bytes, config: StatementSourceConfig) -> Iterator[tuple[int, list[Any]]]:
    try:
        text = content.decode(config.encoding)
    except UnicodeDecodeError as exc:
        if exc.end >= len(content):  # the last character was cut in half
            raise _FileRejected("truncated", "the file ends inside a character") from None
        raise _FileRejected(
            "bad_encoding", f"not {config.encoding} text (byte {exc.start}: {exc.reason})"
        ) from None
    if not text.strip():
        raise _FileRejected("empty", "the file has no text")
    if config.require_final_newline and not text.endswith(("\n", "\r")):
        raise _FileRejected("truncated", "the file does not end with a line break")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=config.delimiter, strict=True)
    try:
        for row in reader:
            yield reader.line_num, list(row)
    except csv.Error as exc:
        if "end of data" in str(exc):
            raise _FileRejected("truncated", "the file ends inside a quoted field") from None
        raise _FileRejected("unreadable", f"line {reader.line_num}: {exc}") from None


def _xlsx_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    """All rows of the first worksheet, read at once so that every error surfaces here."""
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except zipfile.BadZipFile:
        if content.startswith(b"PK\x03\x04"):  # a zip that was cut short
            raise _FileRejected("truncated", "the XLSX archive is incomplete") from None
        raise _FileRejected("unreadable", "not an XLSX workbook (not a zip archive)") from None
    except Exception as exc:  # openpyxl raises anything from KeyError to XML errors
        raise _FileRejected("unreadable", f"not a readable XLSX workbook ({exc!r:.100})") from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # exporters often write a wrong <dimension>: read every row
        return [(n, list(r)) for n, r in enumerate(sheet.iter_rows(values_only=True), start=1)]
    except Exception as exc:
        raise _FileRejected("unreadable", f"the worksheet cannot be read ({exc!r:.100})") from None
    finally:
        workbook.close()


# --------------------------------------------------------------------------- cells


def _blank(cells: Iterable[Any]) -> bool:
    return all(_text(c) is None for c in cells)


def _complete(cells: Mapping[str, Any]) -> bool:
    """Whether a line has an id, a time and an amount: a transaction, not trailer text."""
    return all(
        any(_text(cells.get(f)) is not None for f in group)
        for group in (("id",), ("paid_at", "paid_date"), _MONEY_FIELDS)
    )


def _header_text(value: Any) -> str:
    return "" if value is None else str(value).replace("\ufeff", "").strip()


def _text(value: Any) -> str | None:
    """A cell as text: XLSX whole numbers without ``.0``, empty cells as None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _time_value(value: Any) -> Any:
    """A time cell for parse_time: Excel day numbers, 2026年10月9日 and 2026/10/9 9:05."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Larger numbers are YYYYMMDD[hhmmss] or epoch seconds, which parse_time reads.
        return from_excel(value) if 0 < value < _EXCEL_MAX_SERIAL else value
    if not isinstance(value, str):
        return value
    text = value.strip()
    local = _LOCAL_TIME.fullmatch(text)
    if local is None:
        return text
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in local.groups())
    return f"{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"


def _date_and_time(day_value: Any, time_value: Any, ctx: RowContext) -> dt.datetime | None:
    """The transaction time from a date column and a time-of-day column (10:15:00, 101500)."""
    try:
        day = parse_date(_time_value(day_value), ctx.tz)
    except TimeParseError as exc:
        raise RowError("bad_time", f"paid_date: {exc}") from None
    if day is None:
        return None
    if isinstance(time_value, dt.datetime):
        clock = time_value.time()
    elif isinstance(time_value, dt.time):
        clock = time_value
    else:
        text = _text(time_value)
        if text is None:
            clock = dt.time()
        else:
            digits = text.replace(":", "").zfill(6)
            if not re.fullmatch(r"\d{6}", digits):
                raise RowError("bad_time", "paid_time: not a time of day")
            try:
                clock = dt.time(int(digits[:2]), int(digits[2:4]), int(digits[4:]))
            except ValueError as exc:
                raise RowError("bad_time", f"paid_time: {exc}") from None
    return dt.datetime.combine(day, clock.replace(tzinfo=None), tzinfo=ctx.tz)


def _decimal(value: Any, field: str) -> Decimal | None:
    """An amount exactly as written: 1,234.50  ¥80  ￥1,000.00  -20.00  (20.00)  80元."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RowError("bad_number", f"{field}: not an amount")
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        # XLSX numbers arrive as float: its shortest repr is the number Excel shows.
        number = Decimal(repr(value))
    else:
        text = _SPACES.sub("", str(value)).replace(",", "").replace("，", "")
        if not text:
            return None
        negative = text[:1] in "(（" and text[-1:] in ")）"
        if negative:
            text = text[1:-1]
        sign = text[0] if text[:1] in "+-" else ""
        text = _CURRENCY.sub("", text[len(sign) :]).removesuffix("元")
        try:
            number = Decimal(sign + text)
        except InvalidOperation:
            raise RowError("bad_number", f"{field}: not an amount") from None
        if negative:
            number = -number
    if not number.is_finite():
        raise RowError("bad_number", f"{field}: not a finite amount")
    return number


def _fen_of(cells: Mapping[str, Any], money: str) -> int | None:
    """``<money>_fen`` or ``<money>_yuan`` in integer fen; more than two decimals is an error."""
    for unit, scale in (("fen", 1), ("yuan", 100)):
        field = f"{money}_{unit}"
        amount = _decimal(cells.get(field), field)
        if amount is None:
            continue
        fen = amount * scale
        if fen != fen.to_integral_value():
            raise RowError("bad_number", f"{field}: not a whole number of fen")
        return int(fen)
    return None


def _amount_fen(cells: Mapping[str, Any], ctx: RowContext) -> int | None:
    """Signed amount in fen: positive for money into the account, negative for money out."""
    amount = _fen_of(cells, "amount")
    if amount is None:
        credit, debit = _fen_of(cells, "credit"), _fen_of(cells, "debit")
        if credit and debit:
            raise RowError("bad_value", "credit and debit amounts on one line")
        if credit is None and debit is None:
            return None  # map_payment reports the missing amount
        amount = (credit or 0) - abs(debit or 0)
    if "direction" in cells and _direction(cells["direction"], ctx) == "debit":
        amount = -abs(amount)
    return amount


def _direction(value: Any, ctx: RowContext) -> str:
    text = _text(value)
    if text is None:
        raise RowError("missing_field", "direction is missing")
    codes = ctx.value_maps.get("direction")
    if codes is not None:
        if text not in codes:
            raise RowError("bad_value", f"direction: code {text!r} is not in value_maps.direction")
        direction = codes[text].strip().lower()
    else:
        direction = _DIRECTIONS.get(text.lower(), "")
    if direction not in ("credit", "debit"):
        raise RowError("bad_value", f"direction: {text!r} is neither credit nor debit")
    return direction
