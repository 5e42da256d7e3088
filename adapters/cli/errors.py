"""What the command line says when it cannot do what it was asked.

Every failure ends as one line on stderr that names what was wrong and what
to do about it, and an exit code: 2 when the command line or configuration
is wrong (fix the command), 1 when the work itself failed (the database, a
stream, a check). Library errors are mapped here by type; their messages
already name the offending value and never a secret's.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from loginledger.adapters.settings import SettingsError
from loginledger.domain.errors import EventSchemaError, LoginLedgerError
from loginledger.infrastructure.secrets import SecretConfigError
from loginledger.infrastructure.sql.errors import (
    SchemaTooNewError,
    SchemaUpgradeRequiredError,
    StoreConfigurationError,
    StoreUnavailableError,
)
from loginledger.infrastructure.sql.retry import describe

USAGE = 2
FAILURE = 1


class CliError(LoginLedgerError):
    """A command failed; the message says what happened and what to do."""

    exit_code = FAILURE


class UsageError(CliError):
    """The command line names something that cannot be used as given."""

    exit_code = USAGE


def explain(error: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for `error`."""
    if isinstance(error, CliError):
        return str(error), error.exit_code
    if isinstance(error, SchemaTooNewError):
        return (
            f"the database was migrated by a newer loginledger (schema "
            f"{error.found!r}, this one knows {error.expected!r}); upgrade "
            "loginledger to read it",
            FAILURE,
        )
    if isinstance(error, SchemaUpgradeRequiredError):
        return (
            f"the database's schema is {error.found or 'missing'!r}, this "
            f"loginledger needs {error.expected!r}; run `loginledger db upgrade` "
            "with the same --database first",
            FAILURE,
        )
    return _explain_other(error)


def _explain_other(error: BaseException) -> tuple[str, int]:
    if isinstance(error, StoreConfigurationError | SecretConfigError | SettingsError):
        return one_line(str(error)), USAGE
    if isinstance(error, StoreUnavailableError):
        return f"the database is unavailable: {error}", FAILURE
    if isinstance(error, EventSchemaError):
        return f"a stored event cannot be read: {one_line(str(error))}", FAILURE
    if isinstance(error, LoginLedgerError):
        return one_line(str(error)), FAILURE
    if isinstance(error, SQLAlchemyError):
        # The driver's message may quote statement values; name its class.
        return (
            f"the database cannot be read ({describe(error)}): is it a "
            "loginledger database, and is it intact?",
            FAILURE,
        )
    if isinstance(error, OSError):
        reason = error.strerror or type(error).__name__
        return f"cannot reach the database or a file: {reason}", FAILURE
    return (
        f"unexpected {type(error).__name__}; this is a bug in loginledger, "
        "please report it with the command you ran",
        FAILURE,
    )


def one_line(message: str) -> str:
    """`message` with its lines joined, for a single line on stderr."""
    lines = [line.strip(" -") for line in message.splitlines() if line.strip()]
    return "; ".join(lines).replace(":; ", ": ")
