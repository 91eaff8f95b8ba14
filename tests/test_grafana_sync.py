"""``jiancha grafana sync`` against a local Grafana fake that checks what the real API expects.

Grafana cannot run here, so the fake implements the endpoints the sync uses as Grafana's
HTTP API documents them — paths, methods, bearer token, JSON bodies (folder ``uid`` and
``title``; datasource ``name``/``type``/``access``/``url``; ``POST /api/dashboards/db``
with ``dashboard``, ``folderUid`` and ``overwrite``), status codes (404 unknown, 409 a
duplicate folder or datasource, 412 an existing dashboard without overwrite, 400 an
unknown folder) — and keeps state, so a second run sees what the first one wrote.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from grafana.sync import load_dashboards
from monitor.cli import main

TOKEN = "glsa_test_token"
PROMETHEUS = "http://prometheus:9090"
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def require(condition: bool, message: str, status: int = 400) -> None:
    if not condition:
        raise ApiError(status, message)


class FakeGrafana:
    """Folders, datasources and dashboards of one organisation, behind Grafana's HTTP API."""

    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid -> {"dashboard", "folderUid"}
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        self._ids = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method: str) -> None:
                body = None
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    body = json.loads(self.rfile.read(length))
                with fake.lock:
                    fake.requests.append((method, self.path, body))
                    try:
                        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                            raise ApiError(401, "Unauthorized")
                        if method in {"POST", "PUT"}:
                            content_type = self.headers.get("Content-Type", "")
                            require(content_type.startswith("application/json"), "bad type")
                            require(isinstance(body, dict), "body must be a JSON object")
                        status, answer = fake.route(method, self.path, body)
                    except ApiError as exc:
                        status, answer = exc.status, {"message": exc.message}
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # --- the API ----------------------------------------------------------------------

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if (method, path) == ("GET", "/api/frontend/settings"):
            return 200, {"buildInfo": {"version": "11.5.2", "edition": "Open Source"}}
        if match := re.fullmatch(r"/api/folders/([^/]+)", path):
            return self.folder(method, match.group(1), body)
        if (method, path) == ("POST", "/api/folders"):
            return self.create_folder(body)
        if match := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
            return self.datasource(method, match.group(1), body)
        if (method, path) == ("POST", "/api/datasources"):
            return self.create_datasource(body)
        if match := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
            require(method == "GET", "method not allowed", 405)
            return self.get_dashboard(match.group(1))
        if (method, path) == ("POST", "/api/dashboards/db"):
            return self.save_dashboard(body)
        raise ApiError(404, "Not found")

    def folder(self, method: str, uid: str, body: Any) -> tuple[int, Any]:
        require(uid in self.folders, "folder not found", 404)
        folder = self.folders[uid]
        if method == "PUT":
            require(set(body) <= {"title", "version", "overwrite", "description"}, "bad keys")
            require(
                body.get("overwrite") is True or body.get("version") == folder["version"],
                "the folder has been changed by someone else",
                412,
            )
            folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, folder

    def create_folder(self, body: dict[str, Any]) -> tuple[int, Any]:
        require(set(body) <= {"uid", "title", "parentUid", "description"}, "bad keys")
        require(isinstance(body.get("title"), str) and bool(body["title"]), "title is required")
        uid = body.get("uid")
        require(isinstance(uid, str) and bool(UID.match(uid)), "invalid uid")
        require(uid not in self.folders, "a folder with the same uid already exists", 409)
        self.folders[uid] = {
            "id": self.next_id(),
            "uid": uid,
            "title": body["title"],
            "url": f"/dashboards/f/{uid}/",
            "version": 1,
        }
        return 200, self.folders[uid]

    DATASOURCE_KEYS: ClassVar[set[str]] = {
        "name",
        "uid",
        "type",
        "access",
        "url",
        "jsonData",
        "basicAuth",
        "isDefault",
        "readOnly",
        "secureJsonData",
        "user",
        "database",
    }

    def check_datasource(self, body: dict[str, Any]) -> None:
        require(
            set(body) <= self.DATASOURCE_KEYS, f"unknown keys {set(body) - self.DATASOURCE_KEYS}"
        )
        for key in ("name", "type", "access", "url"):
            require(isinstance(body.get(key), str) and bool(body[key]), f"{key} is required")
        require(body["access"] in {"proxy", "direct"}, "access must be proxy or direct")
        require(isinstance(body.get("jsonData", {}), dict), "jsonData must be an object")

    def stored_datasource(self, body: dict[str, Any], id_: int, uid: str) -> dict[str, Any]:
        return {
            "id": id_,
            "uid": uid,
            "orgId": 1,
            "basicAuth": False,
            "isDefault": False,
            "readOnly": False,
            "typeLogoUrl": "public/app/plugins/datasource/prometheus/img/logo.svg",
            "jsonData": {},
            **copy.deepcopy(body),
        }

    def datasource(self, method: str, uid: str, body: Any) -> tuple[int, Any]:
        require(uid in self.datasources, "Data source not found", 404)
        if method == "PUT":
            self.check_datasource(body)
            require(body.get("uid", uid) == uid, "uid cannot change")
            stored = self.stored_datasource(body, self.datasources[uid]["id"], uid)
            self.datasources[uid] = stored
            return 200, {
                "datasource": stored,
                "id": stored["id"],
                "message": "Datasource updated",
                "name": stored["name"],
            }
        return 200, self.datasources[uid]

    def create_datasource(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.check_datasource(body)
        uid = body.get("uid") or f"auto{self._ids}"
        names = {d["name"] for d in self.datasources.values()}
        require(
            uid not in self.datasources and body["name"] not in names,
            "data source with the same name already exists",
            409,
        )
        stored = self.stored_datasource(body, self.next_id(), uid)
        self.datasources[uid] = stored
        return 200, {
            "datasource": stored,
            "id": stored["id"],
            "message": "Datasource added",
            "name": stored["name"],
        }

    def get_dashboard(self, uid: str) -> tuple[int, Any]:
        require(uid in self.dashboards, "Dashboard not found", 404)
        entry = self.dashboards[uid]
        folder = self.folders.get(entry["folderUid"] or "", {})
        return 200, {
            "dashboard": entry["dashboard"],
            "meta": {
                "folderUid": entry["folderUid"] or "",
                "folderTitle": folder.get("title", "General"),
                "version": entry["dashboard"]["version"],
                "url": f"/d/{uid}",
            },
        }

    def save_dashboard(self, body: dict[str, Any]) -> tuple[int, Any]:
        require(
            set(body) <= {"dashboard", "folderUid", "folderId", "overwrite", "message"}, "bad keys"
        )
        dashboard = body.get("dashboard")
        require(
            isinstance(dashboard, dict) and bool(dashboard.get("title")),
            "dashboard.title is required",
        )
        uid = dashboard.get("uid")
        require(isinstance(uid, str) and bool(UID.match(uid)), "invalid dashboard uid")
        folder_uid = body.get("folderUid")
        require(folder_uid is None or folder_uid in self.folders, "folder not found")
        existing = self.dashboards.get(uid)
        if existing is not None:
            require(
                body.get("overwrite") is True
                or dashboard.get("version") == existing["dashboard"]["version"],
                "A dashboard with the same uid already exists",
                412,
            )
        elif dashboard.get("id") is not None:
            raise ApiError(404, "Dashboard not found")
        version = 1 if existing is None else existing["dashboard"]["version"] + 1
        id_ = existing["dashboard"]["id"] if existing else self.next_id()
        stored = {**copy.deepcopy(dashboard), "id": id_, "version": version}
        self.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid}
        return 200, {
            "id": stored["id"],
            "uid": uid,
            "url": f"/d/{uid}",
            "status": "success",
            "version": version,
            "slug": uid,
        }

    def writes(self) -> list[tuple[str, str, Any]]:
        with self.lock:
            return [r for r in self.requests if r[0] != "GET"]


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def run_sync(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    grafana.requests.clear()
    code = main(["grafana", "sync", "--url", grafana.url, "--token", TOKEN, *extra])
    out, err = capsys.readouterr()
    return code, out + err


DASHBOARDS = load_dashboards()


def test_first_run_creates_folder_datasource_and_dashboards(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run_sync(grafana, capsys, "--prometheus-url", PROMETHEUS)
    assert code == 0, output
    uids = [d["uid"] for d in DASHBOARDS]
    assert [(m, p) for m, p, _ in grafana.requests] == [
        ("GET", "/api/frontend/settings"),
        ("GET", "/api/folders/jiancha"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/jiancha-prometheus"),
        ("POST", "/api/datasources"),
        *[
            request
            for uid in uids
            for request in (("GET", f"/api/dashboards/uid/{uid}"), ("POST", "/api/dashboards/db"))
        ],
    ]
    writes = grafana.writes()
    assert writes[0][2] == {"title": "电子监察", "uid": "jiancha"}
    assert writes[1][2] == {
        "name": "Prometheus（电子监察）",
        "uid": "jiancha-prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": PROMETHEUS,
        "jsonData": {"timeInterval": "15s", "httpMethod": "POST"},
    }
    for (_, _, body), model in zip(writes[2:], DASHBOARDS, strict=True):
        assert body == {
            "dashboard": {**model, "id": None},
            "folderUid": "jiancha",
            "overwrite": True,
            "message": "jiancha grafana sync",
        }
    assert {uid: e["folderUid"] for uid, e in grafana.dashboards.items()} == dict.fromkeys(
        uids, "jiancha"
    )
    lines = output.strip().splitlines()
    assert lines[0] == "folder 电子监察 (jiancha): created"
    assert lines[1] == "datasource Prometheus（电子监察） (jiancha-prometheus): created"
    assert "dashboard 电子监察 · 大厅总览 (jiancha-hall): created" in lines
    assert lines[-1] == "6 created, 0 updated, 0 unchanged"


def test_second_run_changes_nothing_and_says_so(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_sync(grafana, capsys)[0] == 0
    state = copy.deepcopy((grafana.folders, grafana.datasources, grafana.dashboards))
    code, output = run_sync(grafana, capsys)
    assert code == 0, output
    assert grafana.writes() == []
    assert (grafana.folders, grafana.datasources, grafana.dashboards) == state
    assert output.strip().splitlines()[-1] == "0 created, 0 updated, 6 unchanged"
    assert all(line.endswith(": unchanged") for line in output.strip().splitlines()[:-1])


def test_drift_is_put_back_and_only_that(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_sync(grafana, capsys)[0] == 0
    # Someone edits a panel title in the UI, another dashboard is moved out of the
    # folder, the folder is renamed, and Prometheus moves.
    grafana.dashboards["jiancha-fees"]["dashboard"]["title"] = "收费"
    grafana.dashboards["jiancha-health"]["folderUid"] = None
    grafana.folders["jiancha"]["title"] = "监察"
    grafana.datasources["jiancha-prometheus"]["jsonData"]["manualKey"] = "kept"
    code, output = run_sync(grafana, capsys, "--prometheus-url", "http://prom.internal:9090")
    assert code == 0, output
    writes = grafana.writes()
    assert [(m, p) for m, p, _ in writes] == [
        ("PUT", "/api/folders/jiancha"),
        ("PUT", "/api/datasources/uid/jiancha-prometheus"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
    ]
    assert writes[0][2] == {"title": "电子监察", "overwrite": True}
    assert writes[1][2]["url"] == "http://prom.internal:9090"
    assert writes[1][2]["jsonData"] == {
        "timeInterval": "15s",
        "httpMethod": "POST",
        "manualKey": "kept",
    }
    assert [body["dashboard"]["uid"] for _, _, body in writes[2:]] == [
        "jiancha-fees",
        "jiancha-health",
    ]
    assert grafana.dashboards["jiancha-fees"]["dashboard"]["title"] == "电子监察 · 收费监管"
    assert grafana.dashboards["jiancha-fees"]["dashboard"]["version"] == 2
    assert grafana.dashboards["jiancha-health"]["folderUid"] == "jiancha"
    assert output.strip().splitlines()[-1] == "0 created, 4 updated, 2 unchanged"
    again = run_sync(grafana, capsys, "--prometheus-url", "http://prom.internal:9090")[1]
    assert again.strip().endswith("0 created, 0 updated, 6 unchanged")


def test_a_refused_token_is_an_error_and_writes_nothing(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana.requests.clear()
    code = main(["grafana", "sync", "--url", grafana.url, "--token", "wrong"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Unauthorized" in err
    assert grafana.writes() == []
    assert grafana.folders == {}


def test_an_unreachable_grafana_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.services import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["grafana", "sync", "--url", url, "--token", TOKEN]) == 1
    assert f"cannot reach {url}" in capsys.readouterr().err


def test_the_token_can_come_from_the_environment(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert main(["grafana", "sync", "--url", grafana.url]) == 0
    assert capsys.readouterr().out.strip().endswith("6 created, 0 updated, 0 unchanged")
