"""HTTP source: window systems (queue, evaluators) that expose REST endpoints returning JSON.

Each configured entity is a list endpoint, ``GET base_url + path``, whose records are
found at ``records_path`` (a dotted path, "" for the body itself) and whose fields are
mapped by ``fields`` (canonical field -> dotted path in a record; a canonical field not
named there is read under its own name). Lists are followed page by page (page number,
offset or cursor) until an empty page, a short page (page and offset styles), or no next
cursor; a list longer than ``max_pages`` pages fails the poll rather than return part of
it, since a full poll must list every live record. An entity with a ``since_param``
polls incrementally exactly like the SQL source: the parameter carries the watermark
(the largest ``updated_at`` seen, minus the overlap) in the configured format, and the
epoch on a full poll.

JSON numbers are read as :class:`~decimal.Decimal`, never float, so amounts stay exact.
A record that does not map is rejected with its reason (logged once per key and reason);
the poll goes on. Errors are typed by intent (see :mod:`monitor.sources.base`): no
answer, a timeout, a 5xx or a 429 is :class:`SourceUnavailable` (retrying can help); a
401/403/404 or other 4xx, a body that is not JSON, or records that are not a list is
:class:`SourceQueryError` (the configuration does not fit the system). Credentials go
only into the ``Authorization`` header: they are never part of a URL that is shown or
logged, and never part of an error message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterator, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog

from monitor.config import HttpEntity, HttpSourceConfig
from monitor.privacy import ApplicantHasher
from monitor.sources.base import (
    EntityBatch,
    SourceQueryError,
    SourceUnavailable,
    overlapping_since,
)
from monitor.sources.base import since_value as base_since_value
from monitor.sources.mapping import Reject, RowContext, RowMapper

log = structlog.get_logger(__name__)

_MISSING: Any = object()


def since_value(since: dt.datetime | None, tz: ZoneInfo, since_format: str) -> str | int:
    """The ``since`` query parameter: the SQL source's bound value, as URL text."""
    value = base_since_value(since, tz, since_format)
    if isinstance(value, dt.datetime):
        return value.isoformat() if value.tzinfo else value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.rows``, ``window.code``, ``items.0.id``), or
    ``_MISSING`` when the path does not exist. The empty path is ``data`` itself."""
    current = data
    for part in path.split(".") if path else ():
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


class _BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``, the token read only when a request is sent."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "_BearerAuth(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def _auth(config: HttpSourceConfig, url: httpx.URL) -> tuple[httpx.Auth | None, str | None]:
    """The client's authentication, or a description of what is missing for it."""
    auth = config.auth
    if auth is None:
        if url.username:  # user:password@ in base_url
            return httpx.BasicAuth(url.username, url.password), None
        return None, None
    if auth.kind == "bearer":
        if auth.token is None or not auth.token.get_secret_value():
            return None, "auth.token is required for bearer authentication"
        return _BearerAuth(auth.token.get_secret_value()), None
    if auth.username is None or auth.password is None:
        return None, "auth.username and auth.password are required for basic authentication"
    return httpx.BasicAuth(auth.username, auth.password.get_secret_value()), None


class HttpSource:
    """One window system's REST API, polled entity by entity."""

    full_poll_lists_all = True

    def __init__(self, config: HttpSourceConfig, tz: ZoneInfo, hasher: ApplicantHasher) -> None:
        self.config = config
        self.name = config.name
        self.entities = config.entity_names
        try:
            url = httpx.URL(config.base_url)
        except httpx.InvalidURL:
            url = httpx.URL("http://invalid.invalid/")
        # The base URL without credentials, query or fragment is what may be shown; a
        # query in base_url (?appid=…) is sent with every request instead.
        base = url.copy_with(username=None, password=None, query=None, fragment=None)
        self.display_url = str(base)
        self._base_params = list(url.params.multi_items())
        auth, self._problem = _auth(config, url)
        if url.scheme not in ("http", "https") or not url.host:
            self._problem = "base_url must be an http:// or https:// URL"
        self._tz = tz
        self._hasher = hasher
        self._client = httpx.Client(
            base_url=base,
            auth=auth,
            timeout=config.timeout_seconds,
            verify=config.verify_tls,
            follow_redirects=True,
            headers={"Accept": "application/json", "User-Agent": "jiancha"},
        )
        self._rows = RowMapper(config.name)

    def close(self) -> None:
        self._client.close()

    def next_since(self, watermark: dt.datetime | None) -> dt.datetime | None:
        return overlapping_since(watermark, self.config.overlap_seconds)

    def poll(self, entity: str, since: dt.datetime | None = None) -> EntityBatch:
        """Fetch every page of the entity's list (records changed since ``since``, or all)."""
        if self._problem is not None:
            raise SourceQueryError(self.name, self._problem)
        spec = self.config.entities.get(entity)
        if spec is None:
            raise SourceQueryError(self.name, f"{entity}: not configured for this source")
        ctx = RowContext(
            tz=self._tz,
            hasher=self._hasher,
            value_maps=spec.value_maps,
            default_center=self.config.center,
        )
        batch = EntityBatch()
        for records in self._pages(entity, spec, since):
            for record in records:
                batch.rows += 1
                if not isinstance(record, Mapping):
                    self._rows.reject(batch, Reject(entity, None, "invalid", "not a JSON object"))
                    continue
                self._rows.map(entity, _row(record, spec), ctx, batch)
        return batch

    def _pages(
        self, entity: str, spec: HttpEntity, since: dt.datetime | None
    ) -> Iterator[list[Any]]:
        """The records of each page, in order, until the list ends."""
        paging = spec.pagination
        params: dict[str, Any] = dict(spec.params)
        if spec.since_param:
            params[spec.since_param] = since_value(since, self._tz, self.config.since_format)
        if paging.style != "none":
            params[paging.size_param] = paging.page_size
        offset = 0
        cursor: str | None = None
        cursors_seen: set[str] = set()
        for page in range(paging.max_pages):
            query = dict(params)
            if paging.style == "page":
                query[paging.page_param] = paging.first_page + page
            elif paging.style == "offset":
                query[paging.offset_param] = offset
            elif paging.style == "cursor" and cursor is not None:
                query[paging.cursor_param] = cursor
            body = self._get(entity, spec.path, query)
            records = self._records(entity, spec, body)
            log.debug("http_page", source=self.name, entity=entity, page=page, records=len(records))
            yield records
            if paging.style == "none" or not records:
                return
            if paging.style in ("page", "offset") and len(records) < paging.page_size:
                return
            offset += len(records)
            if paging.style == "cursor":
                following = dig(body, paging.next_cursor_path)
                if following is _MISSING or following is None or following == "":
                    return
                cursor = str(following)
                if cursor in cursors_seen:
                    raise SourceQueryError(
                        self.name, f"{entity}: the API returned the same cursor twice"
                    )
                cursors_seen.add(cursor)
        raise SourceQueryError(
            self.name,
            f"{entity}: the list goes on beyond pagination.max_pages = {paging.max_pages} "
            "pages; raise it (or check that the API honours the paging parameters)",
        )

    def _get(self, entity: str, path: str, query: dict[str, Any]) -> Any:
        """One GET, its failure typed by whether retrying can help."""
        params = [*self._base_params, *query.items()]
        try:
            response = self._client.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(
                self.name, f"{entity}: no answer within {self.config.timeout_seconds:g}s"
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise SourceQueryError(self.name, f"{entity}: {_describe(exc)}") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailable(self.name, f"{entity}: {_describe(exc)}") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceQueryError(self.name, f"{entity}: {_describe(exc)}") from exc
        status = response.status_code
        where = f"HTTP {status} from GET {response.request.url.path}"
        if status in (408, 429) or status >= 500:
            raise SourceUnavailable(self.name, f"{entity}: {where}")
        if not 200 <= status < 300:
            raise SourceQueryError(self.name, f"{entity}: {where}")
        try:
            return response.json(parse_float=Decimal)
        except ValueError as exc:
            kind = response.headers.get("content-type", "no content type")
            raise SourceQueryError(
                self.name, f"{entity}: {where} is not JSON ({kind:.60})"
            ) from exc

    def _records(self, entity: str, spec: HttpEntity, body: Any) -> list[Any]:
        found = dig(body, spec.records_path)
        where = f"records_path {spec.records_path!r}" if spec.records_path else "the body"
        if found is _MISSING:
            raise SourceQueryError(self.name, f"{entity}: {where} is not in the response")
        if found is None:  # "rows": null on an empty page
            return []
        if not isinstance(found, list):
            kind = type(found).__name__
            raise SourceQueryError(self.name, f"{entity}: {where} is a {kind}, not a list")
        return found


def _row(record: Mapping[str, Any], spec: HttpEntity) -> dict[str, Any]:
    """The record under canonical names: mapped paths first, own names for the rest."""
    row = dict(record)
    for field, path in spec.fields.items():
        value = dig(record, path)
        row[field] = None if value is _MISSING else value
    return row


def _describe(exc: Exception) -> str:
    """The transport's own message (never carries the credentials, which stay in headers)."""
    message = str(exc).strip().splitlines()
    return message[0] if message else type(exc).__name__
