"""The daemon: settings, canonical model, calendar, deadlines, sources, scan engine and CLI."""
