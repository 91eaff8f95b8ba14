"""The example hall: the hand-counted vendor-style example loaded into a database.

``examples/vendor_pinyin`` is fifteen-odd cases worked out by hand, one for each rule and
each reject path. ``jiancha demo --example`` builds it as a SQLite file; tests load the
same SQL into PostgreSQL and MariaDB, and serve its window-system JSON over HTTP.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from monitor.timeparse import parse_time

SHANGHAI = ZoneInfo("Asia/Shanghai")

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "vendor_pinyin"


def sql_statements(path: Path) -> list[str]:
    """The statements of a plain SQL script (``--`` comments, ``;`` at line ends)."""
    body = "\n".join(
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("--")
    )
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def load_example(url: str, example_dir: Path = EXAMPLE_DIR) -> None:
    """Create the example tables and rows in the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for script in ("schema.sql", "seed.sql"):
                for statement in sql_statements(example_dir / script):
                    connection.execute(text(statement))
    finally:
        engine.dispose()


def build_demo(workdir: Path, example_dir: Path = EXAMPLE_DIR) -> Path:
    """A fresh SQLite example hall in ``workdir``; returns the path of its config."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "hall.db"
    database.unlink(missing_ok=True)
    load_example(f"sqlite:///{database.resolve()}", example_dir)
    statements = workdir / "statements"
    shutil.rmtree(statements, ignore_errors=True)
    shutil.copytree(example_dir / "statements", statements)
    config = workdir / "jiancha.yaml"
    shutil.copyfile(example_dir / "jiancha.yaml", config)
    return config


class _WindowApiHandler(BaseHTTPRequestHandler):
    """``GET /api/<name>?page=&size=&updated_since=`` over ``<name>.json`` (a list of rows)."""

    directory: Path

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        name = url.path.removeprefix("/api/")
        path = self.directory / f"{name}.json"
        if not re.fullmatch(r"[a-z_]+", name) or not path.is_file():
            self._send(404, {"code": 404, "msg": "no such list"})
            return
        query = parse_qs(url.query)
        rows = json.loads(path.read_text(encoding="utf-8"))
        since = query.get("updated_since", [None])[0]
        if since:
            floor = parse_time(since, SHANGHAI)
            rows = [r for r in rows if (parse_time(r["updateTime"], SHANGHAI) or floor) >= floor]
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("size", ["100"])[0])
        chunk = rows[(page - 1) * size : page * size]
        self._send(200, {"code": 0, "data": {"total": len(rows), "rows": chunk}})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo's terminal belongs to the daemon."""


class ExampleWindowSystem:
    """A stand-in for the hall's queue and evaluator REST API, serving the example's JSON.

    Real window systems expose lists like these (paged, filterable by update time); the
    example config's ``http`` source polls this one exactly as it would poll a real one.
    """

    def __init__(
        self, directory: Path = EXAMPLE_DIR / "window_api", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        handler = type("Handler", (_WindowApiHandler,), {"directory": directory})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="window-api", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}"

    def __enter__(self) -> ExampleWindowSystem:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
