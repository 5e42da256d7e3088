"""Alembic's entry point for loginledger's migrations.

`upgrade_database` hands Alembic an open connection, already inside the
transaction that holds the migration lock. The Alembic command line works
too, given a `sqlalchemy.url` and loginledger's migrations as its script
location; offline mode (`--sql`) prints the SQL for a DBA to run.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from loginledger.infrastructure.sql.engine import create_engine, database_url
from loginledger.infrastructure.sql.schema import VERSION_TABLE
from loginledger.infrastructure.sql.settings import StoreSettings


def run_on(connection: Connection) -> None:
    """Run the pending migrations through `connection`."""
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    """Open the database at `url` and run the pending migrations."""
    engine = create_engine(database_url(url), StoreSettings())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    """Print the migrations' SQL instead of running it."""
    context.configure(url=url, version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Run the migrations as the way Alembic was invoked asks."""
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        run_on(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        msg = "set sqlalchemy.url to the loginledger database to migrate"
        raise SystemExit(msg)
    if context.is_offline_mode():
        run_offline(url)
    else:
        asyncio.run(run_from_url(url))


main()
