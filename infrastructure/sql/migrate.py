"""Creating and upgrading the schema with the Alembic migrations shipped here.

SQLite upgrades itself when the store opens: one file, one application. A
PostgreSQL database is shared by every instance of the application, so its
upgrade is an explicit step of a deployment (`upgrade_database`), and a store
that finds the schema missing or older refuses to open. Either way a schema
newer than the code is refused: an older loginledger must not write to it.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from loginledger.infrastructure.sql.engine import (
    WRITE_OPTION,
    create_engine,
    database_url,
    is_sqlite,
)
from loginledger.infrastructure.sql.errors import (
    SchemaTooNewError,
    SchemaUpgradeRequiredError,
)
from loginledger.infrastructure.sql.schema import VERSION_TABLE
from loginledger.infrastructure.sql.settings import StoreSettings

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")

# Any constant will do, as long as only migrations use it: concurrent
# upgrades of one PostgreSQL database queue on it instead of racing.
_MIGRATION_LOCK = 7_413_920_118


def alembic_config() -> Config:
    """An Alembic configuration pointing at loginledger's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The schema revision this code was written for."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        msg = f"no migrations found in {MIGRATIONS}"
        raise RuntimeError(msg)
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None if it has no loginledger schema."""
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    )
    return context.get_current_revision()


def check_schema(connection: Connection) -> None:
    """Refuse a schema that is not exactly the one this code uses.

    Raises:
        SchemaTooNewError: a newer loginledger migrated the database.
        SchemaUpgradeRequiredError: the schema is missing or older.
    """
    revision = current_revision(connection)
    _refuse_newer(revision)
    if revision != head_revision():
        raise SchemaUpgradeRequiredError(revision, head_revision())


async def upgrade_database(
    location: str | os.PathLike[str] | URL, settings: StoreSettings | None = None
) -> str:
    """Create or upgrade loginledger's schema in the database at `location`.

    Safe to run from several processes at once: they queue on a lock and the
    later ones find nothing left to do.

    Returns:
        The revision the database is now at.

    Raises:
        SchemaTooNewError: a newer loginledger already migrated the database.
    """
    url = database_url(location)
    engine = create_engine(url, settings or StoreSettings())
    try:
        writer = engine.execution_options(**{WRITE_OPTION: True})
        async with writer.begin() as connection:
            await upgrade_within(connection, sqlite=is_sqlite(url))
    finally:
        await engine.dispose()
    return head_revision()


async def upgrade_within(connection: AsyncConnection, *, sqlite: bool) -> None:
    """Upgrade through `connection`, inside its open transaction."""
    if not sqlite:
        # Transaction-scoped: released by the commit or rollback.
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
        )
    await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    revision = current_revision(connection)
    _refuse_newer(revision)
    if revision == head_revision():
        return

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    logger.info(
        "loginledger schema upgraded from %s to %s",
        revision or "nothing",
        head_revision(),
        extra={"event": "schema_upgraded"},
    )


def _refuse_newer(revision: str | None) -> None:
    if revision is None:
        return
    known = {script.revision for script in _scripts().walk_revisions()}
    if revision not in known:
        raise SchemaTooNewError(revision, head_revision())
