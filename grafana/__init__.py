"""Grafana dashboards, provisioning files and the dashboard sync command (to come)."""
