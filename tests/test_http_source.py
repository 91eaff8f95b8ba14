"""The HTTP source against a real local HTTP server: paging, auth, mapping, typed failures."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from monitor.config import HttpSourceConfig
from monitor.model import Evaluation, Ticket, TicketStatus
from monitor.privacy import ApplicantHasher
from monitor.sources import open_source
from monitor.sources.base import SourceQueryError, SourceUnavailable
from monitor.sources.http import HttpSource, dig, since_value
from tests.services import free_port

SH = ZoneInfo("Asia/Shanghai")
HASHER = ApplicantHasher(b"http-test-key")
TOKEN = "tk-9f8e7d6c5b4a-secret"
PASSWORD = "pw-Zq81!secret"
ID_NUMBER = "330106199001011234"

Reply = tuple[int, Any]  # status, JSON-able body (or bytes sent as they are)
Route = Callable[[dict[str, str], Any], Reply]


@dataclass
class Api:
    """What the test server answers, and every request it saw."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    base_url: str = ""

    def queries(self, path: str) -> list[dict[str, str]]:
        return [query for seen, query, _ in self.requests if seen == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        api = self.server.api
        api.requests.append((url.path, query, dict(self.headers)))
        route = api.routes.get(url.path)
        missing: Reply = (404, {"error": "no such path"})
        status, body = missing if route is None else route(query, self.headers)
        payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        # The client may have given up already (the timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: Api


@pytest.fixture
def api() -> Iterator[Api]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = Api(base_url=f"http://127.0.0.1:{server.server_address[1]}/api/v1")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.api
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sources() -> Iterator[Callable[..., HttpSource]]:
    opened: list[HttpSource] = []

    def make(base_url: str, **overrides: Any) -> HttpSource:
        data: dict[str, Any] = {
            "name": "queue",
            "kind": "http",
            "base_url": base_url,
            "center": "HZ01",
            "timeout_seconds": 2,
            "entities": {"tickets": TICKET_ENTITY},
        }
        source = open_source(HttpSourceConfig.model_validate(data | overrides), SH, HASHER)
        assert isinstance(source, HttpSource)
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, 9, hour, minute, tzinfo=SH)


def ticket(n: int, **changes: Any) -> dict[str, Any]:
    """A queue system's ticket as its API spells it (nested, camelCase, codes)."""
    record: dict[str, Any] = {
        "ticketId": f"Q{n:03}",
        "no": f"A{n:03}",
        "window": {"code": "W01", "dept": "SCJ"},
        "times": {
            "take": f"2026-10-09 09:{n:02}:00",
            "call": f"2026-10-09 10:{n:02}:00",
            "end": None,
        },
        "state": "1",
        "consult": "0",
        "idNo": ID_NUMBER,
        "modified": f"2026-10-09T10:{n:02}:00+08:00",
    }
    return record | changes


TICKET_ENTITY: dict[str, Any] = {
    "path": "/tickets",
    "records_path": "data.rows",
    "fields": {
        "id": "ticketId",
        "number": "no",
        "window": "window.code",
        "department": "window.dept",
        "issued_at": "times.take",
        "called_at": "times.call",
        "finished_at": "times.end",
        "status": "state",
        "consultation": "consult",
        "applicant_id_number": "idNo",
        "updated_at": "modified",
    },
    "value_maps": {"status": {"0": "waiting", "1": "called", "2": "served", "3": "absent"}},
}


def entity(**changes: Any) -> dict[str, Any]:
    return {"tickets": TICKET_ENTITY | changes}


def paged(records: list[dict[str, Any]], style: str) -> Route:
    """A list endpoint paging ``records`` by page number, offset or cursor."""

    def route(query: dict[str, str], _headers: Any) -> Reply:
        size = int(query.get("size") or query.get("limit") or len(records))
        if style == "page":
            start = (int(query["page"]) - 1) * size
        elif style == "offset":
            start = int(query["start"])
        else:
            start = int(query.get("cursor", "c0")[1:])
        page = records[start : start + size]
        following = f"c{start + size}" if start + size < len(records) else None
        return 200, {"data": {"rows": page}, "meta": {"next": following}}

    return route


# --------------------------------------------------------------------------- mapping


def test_tickets_are_mapped_through_dotted_paths_and_value_maps(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged(
        [ticket(1), ticket(2, state="2", times={"take": "20261009091500"}, consult="是")],
        "none",
    )
    source = sources(api.base_url)
    assert source.entities == ("tickets",)
    assert source.full_poll_lists_all is True
    batch = source.poll("tickets")
    assert batch.rejects == []
    assert batch.rows == 2
    first, second = batch.records
    assert isinstance(first, Ticket)
    assert (first.id, first.number, first.window, first.department) == (
        "Q001",
        "A001",
        "W01",
        "SCJ",
    )
    assert (first.center, first.status, first.consultation) == ("HZ01", TicketStatus.CALLED, False)
    assert (first.issued_at, first.called_at, first.finished_at) == (at(9, 1), at(10, 1), None)
    assert first.applicant_key == HASHER.key_for(ID_NUMBER)
    assert ID_NUMBER not in repr(batch.records)
    assert (second.status, second.consultation, second.issued_at) == (
        TicketStatus.SERVED,
        True,
        at(9, 15),
    )
    assert batch.watermark == at(10, 2)
    assert source.next_since(batch.watermark) == at(9, 57)  # 300 s overlap


def test_unmapped_canonical_fields_are_read_by_their_own_name(api: Api, sources) -> None:
    api.routes["/api/v1/evaluations"] = lambda q, h: (
        200,
        {
            "code": 0,
            "result": {
                "list": [
                    {"id": "E1", "window": "W01", "rated_at": "2026-10-09 10:00:00", "score": 1},
                    {"id": "E2", "window": "W02", "rated_at": "2026-10-09 10:05:00", "score": 5},
                ]
            },
        },
    )
    source = sources(
        api.base_url,
        entities={
            "evaluations": {
                "path": "evaluations",
                "records_path": "result.list",
                "fields": {"level": "score"},
            }
        },
    )
    batch = source.poll("evaluations")
    assert [(e.id, e.window, e.level, e.is_bad) for e in batch.records] == [
        ("E1", "W01", 1, False),
        ("E2", "W02", 5, True),
    ]
    assert isinstance(batch.records[0], Evaluation)
    assert batch.records[0].rated_at == at(10)


def test_json_amounts_are_exact_fen(api: Api, sources) -> None:
    """JSON numbers are parsed as Decimal: 0.07 yuan is 7 fen, not 7.000000000000001."""
    api.routes["/api/v1/pay"] = lambda q, h: (
        200,
        b'[{"id": "P1", "acct": "6222", "yuan": 0.07, "at": "2026-10-09 10:00:00"},'
        b' {"id": "P2", "acct": "6222", "yuan": 1234.5, "at": "2026-10-09 10:00:00"},'
        b' {"id": "P3", "acct": "6222", "yuan": 0.125, "at": "2026-10-09 10:00:00"}]',
    )
    payments = {
        "path": "pay",
        "fields": {"account": "acct", "amount_yuan": "yuan", "paid_at": "at"},
    }
    batch = sources(api.base_url, entities={"payments": payments}).poll("payments")
    assert {p.id: p.amount_fen for p in batch.records} == {"P1": 7, "P2": 123450}
    assert [(r.key, r.reason) for r in batch.rejects] == [("P3", "bad_number")]


def test_records_that_do_not_map_are_rejected_and_logged_once(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged(
        [
            ticket(1),
            ticket(2, state="9"),
            ticket(3, times={"take": None}),
            ticket(4, modified="last tuesday"),
            {"no": "A005", "times": {"take": "2026-10-09 09:05:00"}},
            "not an object",
            ticket(7),
        ],
        "none",
    )
    source = sources(api.base_url)
    with capture_logs() as logs:
        first = source.poll("tickets")
        second = source.poll("tickets")
    assert [t.id for t in first.records] == ["Q001", "Q007"]
    expected = [
        ("Q002", "bad_value"),
        ("Q003", "missing_field"),
        ("Q004", "bad_time"),
        (None, "missing_field"),
        (None, "invalid"),
    ]
    assert [(r.key, r.reason) for r in first.rejects] == expected
    assert [(r.key, r.reason) for r in second.rejects] == expected
    assert first.rows == 7
    logged = [(e["key"], e["reason"]) for e in logs if e["event"] == "row_rejected"]
    assert logged == expected  # once, although both polls rejected them
    assert ID_NUMBER not in repr(logs)


# --------------------------------------------------------------------------- paging


@pytest.mark.parametrize("count", [5, 4, 0])
def test_page_number_pagination_stops_on_a_short_or_empty_page(
    api: Api, sources, count: int
) -> None:
    api.routes["/api/v1/tickets"] = paged([ticket(n) for n in range(1, count + 1)], "page")
    source = sources(
        api.base_url,
        entities=entity(pagination={"style": "page", "page_size": 2, "first_page": 1}),
    )
    batch = source.poll("tickets")
    assert [t.id for t in batch.records] == [f"Q{n:03}" for n in range(1, count + 1)]
    pages = [q["page"] for q in api.queries("/api/v1/tickets")]
    # 5 records: 2 + 2 + 1 (short); 4: 2 + 2 + 0 (empty); 0: one empty page.
    assert pages == {5: ["1", "2", "3"], 4: ["1", "2", "3"], 0: ["1"]}[count]
    assert {q["size"] for q in api.queries("/api/v1/tickets")} == {"2"}


def test_offset_pagination_with_custom_parameter_names(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged([ticket(n) for n in range(1, 8)], "offset")
    paging = {"style": "offset", "offset_param": "start", "size_param": "limit", "page_size": 3}
    batch = sources(api.base_url, entities=entity(pagination=paging)).poll("tickets")
    assert len(batch.records) == 7
    assert [(q["start"], q["limit"]) for q in api.queries("/api/v1/tickets")] == [
        ("0", "3"),
        ("3", "3"),
        ("6", "3"),
    ]


def test_cursor_pagination_follows_the_next_cursor(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged([ticket(n) for n in range(1, 6)], "cursor")
    paging = {"style": "cursor", "next_cursor_path": "meta.next", "page_size": 2}
    batch = sources(api.base_url, entities=entity(pagination=paging)).poll("tickets")
    assert [t.id for t in batch.records] == ["Q001", "Q002", "Q003", "Q004", "Q005"]
    assert [q.get("cursor") for q in api.queries("/api/v1/tickets")] == [None, "c2", "c4"]


def test_a_list_longer_than_max_pages_fails_instead_of_being_cut(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged([ticket(n) for n in range(1, 10)], "page")
    paging = {"style": "page", "page_size": 2, "max_pages": 3}
    source = sources(api.base_url, entities=entity(pagination=paging))
    with pytest.raises(SourceQueryError, match="max_pages"):
        source.poll("tickets")
    assert len(api.queries("/api/v1/tickets")) == 3


def test_a_cursor_that_repeats_fails_instead_of_looping(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = lambda q, h: (
        200,
        {"data": {"rows": [ticket(1)]}, "meta": {"next": "same"}},
    )
    paging = {"style": "cursor", "next_cursor_path": "meta.next"}
    with pytest.raises(SourceQueryError, match="same cursor"):
        sources(api.base_url, entities=entity(pagination=paging)).poll("tickets")


def test_since_parameter_is_sent_in_the_configured_format(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged([ticket(1)], "none")
    source = sources(
        api.base_url + "?appid=hall-7",
        since_format="compact",
        entities=entity(since_param="updatedSince", params={"centerCode": "HZ01"}),
    )
    assert source.display_url == api.base_url  # the query is not part of what is shown
    source.poll("tickets")
    source.poll("tickets", at(10, 30))
    source.poll("tickets", dt.datetime(2026, 10, 9, 2, 30, tzinfo=dt.UTC))
    queries = api.queries("/api/v1/tickets")
    assert [q["updatedSince"] for q in queries] == [
        "19700101080000",  # a full poll: everything since the epoch, like the SQL source
        "20261009103000",
        "20261009103000",  # the same instant in UTC is sent as Beijing time
    ]
    assert all(q["centerCode"] == "HZ01" and q["appid"] == "hall-7" for q in queries)


def test_since_formats() -> None:
    instant = at(10, 30)
    assert since_value(instant, SH, "aware") == "2026-10-09T10:30:00+08:00"
    assert since_value(instant, SH, "datetime") == "2026-10-09 10:30:00"
    assert since_value(instant, SH, "compact") == "20261009103000"
    assert since_value(instant, SH, "epoch") == int(instant.timestamp())
    assert since_value(None, SH, "epoch") == 0


def test_dotted_paths() -> None:
    body = {"data": {"rows": [{"id": 1}, {"id": 2}]}, "meta": None}
    assert dig(body, "") is body
    assert dig(body, "data.rows.1.id") == 2
    assert dig(body, "meta") is None
    assert dig(body, "data.missing") is not None  # the MISSING marker, not a JSON null
    assert dig(body, "data.rows.5") is dig(body, "meta.next")


# --------------------------------------------------------------------------- auth


def _require(expected: str) -> Route:
    def route(_query: dict[str, str], headers: Any) -> Reply:
        if headers.get("Authorization") != expected:
            return 401, {"error": "unauthorized"}
        return 200, {"data": {"rows": [ticket(1)]}}

    return route


def test_bearer_token_is_sent_and_never_logged(
    api: Api, sources, caplog: pytest.LogCaptureFixture
) -> None:
    api.routes["/api/v1/tickets"] = _require(f"Bearer {TOKEN}")
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        good = sources(api.base_url, auth={"kind": "bearer", "token": TOKEN})
        assert [t.id for t in good.poll("tickets").records] == ["Q001"]
        wrong = sources(api.base_url, auth={"kind": "bearer", "token": "other"})
        with pytest.raises(SourceQueryError, match="HTTP 401") as refused:
            wrong.poll("tickets")
        with pytest.raises(SourceQueryError, match="HTTP 401"):
            sources(api.base_url).poll("tickets")
    shown = repr(logs) + caplog.text + str(refused.value) + good.display_url + repr(good.__dict__)
    assert TOKEN not in shown


def test_basic_auth_from_config_or_url(api: Api, sources) -> None:
    expected = "Basic " + base64.b64encode(f"jiancha:{PASSWORD}".encode()).decode()
    api.routes["/api/v1/tickets"] = _require(expected)
    configured = sources(
        api.base_url, auth={"kind": "basic", "username": "jiancha", "password": PASSWORD}
    )
    assert len(configured.poll("tickets").records) == 1
    in_url = sources(api.base_url.replace("://", f"://jiancha:{PASSWORD}@"))
    assert len(in_url.poll("tickets").records) == 1
    assert in_url.display_url == api.base_url
    assert PASSWORD not in in_url.display_url
    wrong = sources(api.base_url, auth={"kind": "basic", "username": "jiancha", "password": "x"})
    with pytest.raises(SourceQueryError, match="HTTP 401") as refused:
        wrong.poll("tickets")
    assert not refused.value.retryable


@pytest.mark.parametrize("base_url", ["ftp://127.0.0.1/api", "/api/v1", "http://"])
def test_a_base_url_that_is_not_http_is_a_configuration_error(sources, base_url: str) -> None:
    with pytest.raises(SourceQueryError, match="base_url"):
        sources(base_url).poll("tickets")


def test_incomplete_auth_is_a_configuration_error(api: Api, sources) -> None:
    source = sources(api.base_url, auth={"kind": "basic", "username": "jiancha"})
    with pytest.raises(SourceQueryError, match=r"auth\.username and auth\.password"):
        source.poll("tickets")
    assert api.requests == []


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, SourceUnavailable),
        (500, SourceUnavailable),
        (429, SourceUnavailable),
        (403, SourceQueryError),
        (404, SourceQueryError),
        (400, SourceQueryError),
    ],
)
def test_http_status_errors_are_typed_by_whether_retrying_helps(
    api: Api, sources, status: int, error: type[Exception]
) -> None:
    api.routes["/api/v1/tickets"] = lambda q, h: (status, {"error": "nope"})
    with pytest.raises(error, match=f"tickets: HTTP {status} from GET /api/v1/tickets"):
        sources(api.base_url).poll("tickets")


def test_a_missing_endpoint_is_a_query_error(api: Api, sources) -> None:
    source = sources(api.base_url, entities=entity(path="/no-such-list"))
    with pytest.raises(SourceQueryError, match="HTTP 404"):
        source.poll("tickets")


def test_connection_refused_is_unavailable(sources) -> None:
    source = sources(f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(SourceUnavailable, match="source queue: tickets") as refused:
        source.poll("tickets")
    assert refused.value.retryable


def test_a_timeout_is_unavailable(api: Api, sources) -> None:
    def slow(_query: dict[str, str], _headers: Any) -> Reply:
        time.sleep(1.0)
        return 200, {"data": {"rows": []}}

    api.routes["/api/v1/tickets"] = slow
    with pytest.raises(SourceUnavailable, match=r"no answer within 0\.2s"):
        sources(api.base_url, timeout_seconds=0.2).poll("tickets")


def test_a_body_that_is_not_json_is_a_query_error(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = lambda q, h: (200, b"<html>login</html>")
    with pytest.raises(SourceQueryError, match="is not JSON"):
        sources(api.base_url).poll("tickets")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": {"rows": {"id": "Q1"}}}, "'data.rows' is a dict, not a list"),
        ({"data": {}}, "'data.rows' is not in the response"),
        ({"code": 500, "msg": "error"}, "'data.rows' is not in the response"),
    ],
)
def test_records_that_are_not_a_list_are_a_query_error(
    api: Api, sources, body: Any, message: str
) -> None:
    api.routes["/api/v1/tickets"] = lambda q, h: (200, body)
    with pytest.raises(SourceQueryError, match=message):
        sources(api.base_url).poll("tickets")


def test_a_null_list_is_an_empty_page(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = lambda q, h: (200, {"data": {"rows": None}})
    batch = sources(api.base_url).poll("tickets")
    assert batch.records == [] and batch.rows == 0


def test_close_closes_the_client(api: Api, sources) -> None:
    api.routes["/api/v1/tickets"] = paged([ticket(1)], "none")
    source = sources(api.base_url)
    source.poll("tickets")
    source.close()
    with pytest.raises(RuntimeError, match="closed"):
        source.poll("tickets")
