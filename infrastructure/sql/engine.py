"""Engines for the two databases the store runs on, configured once.

One URL chooses: a file path or a `sqlite+aiosqlite:///...` URL gives the
embedded SQLite store, a `postgresql+asyncpg://...` URL the shared PostgreSQL
store. Every SQLite connection is set up the same way when it opens:

- `journal_mode=WAL`: readers never block the writer nor the writer them;
  the cost is the `-wal` and `-shm` files beside the database.
- `busy_timeout`: a connection that finds another process's write lock waits
  that long before failing with "database is locked".
- `synchronous`: NORMAL or FULL, see `StoreSettings.sqlite_synchronous`.

SQLite's Python driver starts transactions late and on its own terms; the
store takes that job over (as SQLAlchemy's SQLite documentation advises) so
that an append's transaction begins with `BEGIN IMMEDIATE`, taking the write
lock before it reads anything, and never upgrades a read lock halfway.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from loginledger.infrastructure.sql.errors import StoreConfigurationError
from loginledger.infrastructure.sql.settings import StoreSettings

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"

# An execution option read by the "begin" hook: the store sets it on the
# engine it appends through.
WRITE_OPTION = "loginledger_write"

_DRIVER_ALIASES = {
    "sqlite": SQLITE_DRIVER,
    SQLITE_DRIVER: SQLITE_DRIVER,
    "postgresql": POSTGRES_DRIVER,
    "postgres": POSTGRES_DRIVER,
    POSTGRES_DRIVER: POSTGRES_DRIVER,
}


def database_url(location: str | os.PathLike[str] | URL) -> URL:
    """The SQLAlchemy URL for a file path or a database URL.

    Raises:
        StoreConfigurationError: the URL names another database or driver, or
            an in-memory SQLite database (use InMemoryEventStore for that).
    """
    if isinstance(location, URL):
        url = location
    elif isinstance(location, os.PathLike) or "://" not in location:
        path = os.path.abspath(os.fspath(location))
        url = URL.create(SQLITE_DRIVER, database=path)
    else:
        url = _parse(location)

    driver = _DRIVER_ALIASES.get(url.drivername)
    if driver is None:
        msg = (
            f"unsupported database driver {url.drivername!r}; use "
            f"{SQLITE_DRIVER!r} or {POSTGRES_DRIVER!r}"
        )
        raise StoreConfigurationError(msg)
    url = url.set(drivername=driver)
    if driver == SQLITE_DRIVER and not url.database:
        msg = "a SQLite event store needs a file; use InMemoryEventStore instead"
        raise StoreConfigurationError(msg)
    return url


def is_sqlite(url: URL) -> bool:
    """Whether `url` names the embedded SQLite database."""
    return url.get_backend_name() == "sqlite"


def create_engine(url: URL, settings: StoreSettings) -> AsyncEngine:
    """An async engine for `url`, with every connection configured.

    Its errors never quote statement parameters (`hide_parameters`): they
    hold ciphertexts and hashes, which have no business in a log either.
    """
    if is_sqlite(url):
        return _create_sqlite_engine(url, settings)
    return create_async_engine(
        url,
        pool_size=settings.pool_size,
        hide_parameters=True,
        connect_args={"server_settings": {"application_name": "loginledger"}},
    )


def _parse(location: str) -> URL:
    try:
        return make_url(location)
    except ArgumentError:
        # The error would echo the URL, password included.
        msg = "the database URL is not a valid SQLAlchemy URL"
        raise StoreConfigurationError(msg) from None


def _create_sqlite_engine(url: URL, settings: StoreSettings) -> AsyncEngine:
    engine = create_async_engine(
        url, pool_size=settings.pool_size, hide_parameters=True
    )
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(settings.busy_timeout.total_seconds() * 1000)}",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
    )

    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    event.listen(engine.sync_engine, "connect", configure)
    event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


def _begin_sqlite(connection: Connection) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")
