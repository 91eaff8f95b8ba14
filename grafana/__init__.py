"""Grafana for jiancha: dashboards (built by grafana.build), provisioning, and sync."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DASHBOARD_DIR = PACKAGE_DIR / "dashboards"
DATASOURCE_UID = "jiancha-prometheus"
FOLDER_UID = "jiancha"
FOLDER_TITLE = "电子监察"
