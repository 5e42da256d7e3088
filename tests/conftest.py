"""Fixtures shared across the test suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from postgres_server import PostgresServer, fresh_database, require_server_binaries


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of its own for the session, stopped at its end.

    Skips the tests that use it where no server binaries are installed, and
    fails them instead when CI=true.
    """
    with PostgresServer(require_server_binaries()) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The session server's maintenance database, as a SQLAlchemy asyncpg URL."""
    return postgres_server.url()


@pytest.fixture
async def postgres_database_url(
    postgres_server: PostgresServer,
) -> AsyncIterator[str]:
    """A fresh, empty database for one test, as a SQLAlchemy asyncpg URL."""
    async with fresh_database(postgres_server) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the PostgreSQL server `postgres`.

    So `-m "not postgres"` leaves them out even where a test forgot the mark.
    """
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
