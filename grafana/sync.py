"""``jiancha grafana sync``: the folder, datasource and dashboards on an existing Grafana.

For a Grafana that file provisioning cannot reach (a shared or managed one), this puts
the same things there over Grafana's HTTP API with grafana-client: the folder 电子监察
(uid ``jiancha``), the Prometheus datasource (uid ``jiancha-prometheus``, defined in
grafana/provisioning/datasources/jiancha.yml, pointed at the given Prometheus URL) and
every dashboard of grafana/dashboards/ in that folder. Each object is read by uid first
and written only when it is missing or differs, so a second run changes nothing and says
so: the run reports, per object, created, updated or unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from grafana import DASHBOARD_DIR, DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID, PACKAGE_DIR

DATASOURCE_FILE = PACKAGE_DIR / "provisioning" / "datasources" / "jiancha.yml"
MESSAGE = "jiancha grafana sync"
# Keys of the provisioning file that the HTTP API does not take (or that a sync onto a
# shared Grafana must not impose: it does not make itself the default datasource).
PROVISIONING_ONLY = {"editable", "isDefault", "orgId", "version"}

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass(frozen=True)
class Change:
    kind: str  # folder, datasource, dashboard
    uid: str
    title: str
    action: str  # created, updated, unchanged

    def __str__(self) -> str:
        return f"{self.kind} {self.title} ({self.uid}): {self.action}"


def datasource_model(prometheus_url: str) -> dict[str, Any]:
    """The provisioned datasource as the HTTP API takes it, at ``prometheus_url``."""
    (provisioned,) = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))["datasources"]
    model = {k: v for k, v in provisioned.items() if k not in PROVISIONING_ONLY}
    model["url"] = prometheus_url
    if model["uid"] != DATASOURCE_UID:  # the dashboards refer to it by this uid
        raise ValueError(f"{DATASOURCE_FILE}: uid must be {DATASOURCE_UID!r}")
    return model


def load_dashboards(directory: Path = DASHBOARD_DIR) -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    ]


def _get(call: Any, *args: Any) -> dict[str, Any] | None:
    """The object Grafana returns, or None when it answers 404."""
    try:
        found: dict[str, Any] = call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise
    return found


def _differs(wanted: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether any key we set has another value in Grafana (nested dicts: our keys only)."""
    for key, value in wanted.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            if _differs(value, current[key]):
                return True
        elif current.get(key) != value:
            return True
    return False


def sync_folder(api: GrafanaApi) -> Change:
    current = _get(api.folder.get_folder, FOLDER_UID)
    if current is None:
        api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        action = CREATED
    elif current.get("title") != FOLDER_TITLE:
        api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
        action = UPDATED
    else:
        action = UNCHANGED
    return Change("folder", FOLDER_UID, FOLDER_TITLE, action)


def sync_datasource(api: GrafanaApi, prometheus_url: str) -> Change:
    wanted = datasource_model(prometheus_url)
    current = _get(api.datasource.get_datasource_by_uid, DATASOURCE_UID)
    if current is None:
        api.datasource.create_datasource(wanted)
        action = CREATED
    elif _differs(wanted, current):
        # PUT replaces the whole model: keep Grafana's jsonData keys we do not set.
        update = wanted | {"jsonData": (current.get("jsonData") or {}) | wanted["jsonData"]}
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, update)
        action = UPDATED
    else:
        action = UNCHANGED
    return Change("datasource", DATASOURCE_UID, wanted["name"], action)


def sync_dashboard(api: GrafanaApi, model: dict[str, Any]) -> Change:
    uid = model["uid"]
    current = _get(api.dashboard.get_dashboard, uid)
    if current is None:
        action = CREATED
    else:
        stored = {k: v for k, v in current["dashboard"].items() if k not in {"id", "version"}}
        in_folder = current.get("meta", {}).get("folderUid") == FOLDER_UID
        action = UNCHANGED if stored == model and in_folder else UPDATED
    if action != UNCHANGED:
        api.dashboard.update_dashboard(
            {
                "dashboard": {**model, "id": None},
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": MESSAGE,
            }
        )
    return Change("dashboard", uid, model["title"], action)


def sync(
    api: GrafanaApi, prometheus_url: str, dashboards: Iterable[dict[str, Any]]
) -> list[Change]:
    """Folder, then datasource, then each dashboard; what happened to each."""
    changes = [sync_folder(api), sync_datasource(api, prometheus_url)]
    changes += [sync_dashboard(api, model) for model in dashboards]
    return changes


def connect(url: str, token: str | None, timeout: float = 10) -> GrafanaApi:
    """A client for the Grafana at ``url``; fails here if it is unreachable or refuses us."""
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    api.health.check()  # GET /api/frontend/settings (needs a valid token)
    return api
