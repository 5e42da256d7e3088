"""The errors the SQL event store raises, under loginledger's root error.

A version conflict is the domain's own `VersionConflictError`; these cover what
only a database can do: be unreachable, or hold a schema that this code cannot
use as it is.
"""

from __future__ import annotations

from loginledger.domain.errors import LoginLedgerError


class StoreUnavailableError(LoginLedgerError):
    """The database could not be used, even after the retries that were safe.

    `outcome_unknown` is true when the connection failed while an append was
    committing: the events may or may not have been written, so reload the
    stream before deciding again.
    """

    def __init__(self, operation: str, why: str, *, outcome_unknown: bool = False):
        self.operation = operation
        self.outcome_unknown = outcome_unknown
        advice = (
            "the append may or may not have been written; reload the stream"
            if outcome_unknown
            else "nothing was written"
        )
        super().__init__(f"{operation} failed: {why}; {advice}")


class StoreConfigurationError(LoginLedgerError, ValueError):
    """The store was given a URL or a setting it cannot work with."""


class DatabaseSchemaError(LoginLedgerError):
    """The database's schema is not the one this version of loginledger uses."""

    def __init__(self, found: str | None, expected: str, advice: str):
        self.found = found
        self.expected = expected
        shown = "no loginledger schema" if found is None else f"revision {found!r}"
        super().__init__(
            f"the database holds {shown}, but this code needs revision "
            f"{expected!r}; {advice}"
        )


class SchemaUpgradeRequiredError(DatabaseSchemaError):
    """The schema is missing or older than the code: run the upgrade first."""

    def __init__(self, found: str | None, expected: str):
        super().__init__(
            found,
            expected,
            "run `loginledger.infrastructure.sql.upgrade_database(url)` "
            "(or `alembic upgrade head` with loginledger's migrations) first",
        )


class SchemaTooNewError(DatabaseSchemaError):
    """The schema was written by a newer loginledger than this one."""

    def __init__(self, found: str, expected: str):
        super().__init__(
            found,
            expected,
            "a newer loginledger migrated it; upgrade loginledger to use it",
        )
