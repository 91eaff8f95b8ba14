"""Exporters: renderers of findings and figures (JSON lines and tables so far)."""
