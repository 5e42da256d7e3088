"""Opening a ledger for analysis, without changing it.

`SqlEventStore.open` creates a missing SQLite file, creates a missing key
file and upgrades an old schema: right for an application starting up, wrong
for someone investigating a copy of a production database. `open_ledger`
refuses instead: a missing database or key file, and a schema that is not
exactly this code's, are errors that say what to do. Opening writes nothing;
of the commands, only `sessions` (catching the projections up), `projections
rebuild` and `db upgrade` write, and only derived tables or the schema.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from loginledger.adapters.cli.errors import CliError, UsageError
from loginledger.adapters.cli.options import DATABASE_ENV, SECRET_KEYS_ENV
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore, StoreSettings
from loginledger.infrastructure.sql.backend import Backend
from loginledger.infrastructure.sql.engine import (
    create_engine,
    database_url,
    is_sqlite,
)
from loginledger.infrastructure.sql.migrate import check_schema
from loginledger.infrastructure.sql.postgres import PostgresBackend
from loginledger.infrastructure.sql.retry import describe
from loginledger.infrastructure.sql.sqlite import SqliteBackend


@dataclass(frozen=True)
class Ledger:
    """An open ledger: its store, the keys it was written with, where it is."""

    store: SqlEventStore
    secrets: SecretBox
    location: str


def display_location(url: URL) -> str:
    """Where the database is, for messages: a file path, or the URL sans password."""
    if is_sqlite(url):
        return url.database or ""
    return url.render_as_string(hide_password=True)


@asynccontextmanager
async def open_ledger(database: str) -> AsyncIterator[Ledger]:
    """The ledger at `database`, opened for reading; closed on exit.

    Raises:
        CliError: the database or its keys are missing.
        DatabaseSchemaError: the schema is not the one this code uses.
    """
    url, location = _existing(database)
    secrets = load_secrets(url)

    settings = StoreSettings()
    engine = create_engine(url, settings)
    try:
        await _check_schema(engine, location)
        backend: Backend = SqliteBackend() if is_sqlite(url) else PostgresBackend()
        store = SqlEventStore(engine, backend, secrets, settings)
    except BaseException:
        await engine.dispose()
        raise
    try:
        yield Ledger(store, secrets, location)
    finally:
        await store.close()


def _existing(database: str) -> tuple[URL, str]:
    """The database's URL and location, refusing a SQLite file that is not there."""
    url = database_url(database)
    location = display_location(url)
    if is_sqlite(url) and not Path(location).is_file():
        msg = f"no ledger at {location}; name one with --database or {DATABASE_ENV}"
        raise UsageError(msg)
    return url, location


async def _check_schema(engine: AsyncEngine, location: str) -> None:
    """Refuse a database that is unreachable, damaged, or of another schema."""
    try:
        async with engine.connect() as connection:
            await connection.run_sync(check_schema)
    except (SQLAlchemyError, OSError) as error:
        # The driver's message may quote values; its class says enough.
        msg = (
            f"the database at {location} cannot be read ({describe(error)}): "
            "is it reachable, is it a loginledger ledger, and is it intact?"
        )
        raise CliError(msg) from None


def load_secrets(url: URL) -> SecretBox:
    """The keys the ledger at `url` was written with, never made up.

    From `LOGINLEDGER_SECRET_KEYS` when it is set, else from the key file
    beside a SQLite database.

    Raises:
        CliError: neither is there.
    """
    config = os.environ.get(SECRET_KEYS_ENV)
    if config:
        return SecretBox.from_config(config, source=SECRET_KEYS_ENV)
    if not is_sqlite(url):
        msg = (
            f"a PostgreSQL ledger is read with the keys it was written with; "
            f"set {SECRET_KEYS_ENV}"
        )
        raise UsageError(msg)
    key_file = Path(f"{url.database}.key")
    if not key_file.is_file():
        msg = (
            f"no key file at {key_file}: without the keys the ledger was "
            f"written with, its secrets and hash chains cannot be read; "
            f"restore the file or set {SECRET_KEYS_ENV}"
        )
        raise CliError(msg)
    return SecretBox.from_key_file(key_file)
