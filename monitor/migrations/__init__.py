"""Alembic migrations of the state store (see :mod:`monitor.store`).

A new store is created from the table definitions in ``monitor/store.py`` and stamped
with the newest revision; an existing one is upgraded through ``versions/`` in order.
To change the schema: change the tables in ``monitor/store.py`` and add a revision here
that brings an existing store to the same shape (``op.add_column``, …).
"""
