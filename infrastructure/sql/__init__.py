"""The durable event store on SQLAlchemy: SQLite embedded, PostgreSQL shared.

    store = await SqlEventStore.open("var/ledger.db")            # SQLite
    await upgrade_database("postgresql+asyncpg://.../ledger")    # once per deploy
    store = await SqlEventStore.open(
        "postgresql+asyncpg://.../ledger", secrets=SecretBox.from_config(...)
    )

`verify_streams` checks every stream's hash chain. docs/storage.md tells how
to choose between the databases, what each column holds, and how keys rotate.
"""

from loginledger.infrastructure.sql.errors import (
    DatabaseSchemaError,
    SchemaTooNewError,
    SchemaUpgradeRequiredError,
    StoreConfigurationError,
    StoreUnavailableError,
)
from loginledger.infrastructure.sql.migrate import upgrade_database
from loginledger.infrastructure.sql.settings import StoreSettings
from loginledger.infrastructure.sql.store import SqlEventStore
from loginledger.infrastructure.sql.verify import (
    StreamFinding,
    StreamHead,
    Tampering,
    VerificationReport,
    verify_streams,
)

__all__ = [
    "DatabaseSchemaError",
    "SchemaTooNewError",
    "SchemaUpgradeRequiredError",
    "SqlEventStore",
    "StoreConfigurationError",
    "StoreSettings",
    "StoreUnavailableError",
    "StreamFinding",
    "StreamHead",
    "Tampering",
    "VerificationReport",
    "upgrade_database",
    "verify_streams",
]
