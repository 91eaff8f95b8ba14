"""Shared pytest fixtures for tests that use real PostgreSQL and MariaDB servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from tests.services import (
    free_port,
    in_ci,
    mariadb_database,
    postgres_database,
    require_binary,
    unavailable,
)

__all__ = ["free_port", "in_ci", "mariadb_url", "postgres_url", "require_binary", "unavailable"]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty MariaDB database (utf8mb4), dropped after the test."""
    with mariadb_database() as url:
        yield url


@pytest.fixture(scope="session")
def window_api() -> Iterator[str]:
    """The example hall's window system (tickets, ratings) as a local REST API; its URL."""
    from monitor.demo import ExampleWindowSystem

    with ExampleWindowSystem() as system:
        yield system.url


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that calls ``monitor.cli.main`` points structlog at its captured stderr,
    which is closed afterwards: give later tests the configuration they started with."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
