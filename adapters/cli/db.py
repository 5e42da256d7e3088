"""`loginledger db upgrade`: bring the ledger's schema to this version's.

SQLite ledgers upgrade themselves when the application opens them; a
PostgreSQL ledger is shared by every instance, so its upgrade is a step of
each deployment, run once before the new instances start. Several runs at
once are safe: they queue on a lock and the later ones find nothing to do.
"""

from __future__ import annotations

import asyncio

from loginledger.adapters.cli.ledger import display_location
from loginledger.adapters.cli.options import DEFAULT_DATABASE, Database
from loginledger.adapters.cli.output import stdout_console
from loginledger.infrastructure.sql import upgrade_database
from loginledger.infrastructure.sql.engine import database_url


def upgrade(database: Database = DEFAULT_DATABASE) -> None:
    """Create or upgrade the ledger's tables (a newer schema is refused)."""
    url = database_url(database)
    revision = asyncio.run(upgrade_database(url))
    stdout_console().print(
        f"the ledger at {display_location(url)} is at schema revision {revision}",
        highlight=False,
    )
