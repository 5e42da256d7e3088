"""Trying database work again after a transient failure, a bounded number of times.

Which failures are transient is the backend's call (SQLite busy, a dropped
PostgreSQL connection, a serialization failure). Work is tried again only
where that is safe: reads always, appends whose transaction never reached
COMMIT. A connection lost during COMMIT on PostgreSQL is reported as such,
since the server may have committed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from loginledger.infrastructure.sql.backend import Backend
from loginledger.infrastructure.sql.errors import StoreUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AmbiguousCommitError(Exception):
    """The connection was lost during COMMIT: the outcome is unknown.

    Raised from the driver's error by the work itself, which alone knows
    that it had reached COMMIT.
    """


class TransientRetry:
    """Runs work again after transient failures, up to `retries` more times."""

    def __init__(self, backend: Backend, retries: int) -> None:
        self._backend = backend
        self._attempts = retries + 1

    async def run(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """The result of `attempt`, tried again after each transient failure.

        Raises:
            StoreUnavailableError: a failure that is not transient, a commit
                whose outcome is unknown, or the last allowed attempt failed.
        """
        for number in range(1, self._attempts + 1):
            try:
                return await attempt()
            except AmbiguousCommitError as error:
                why = f"the connection was lost during COMMIT ({describe(error)})"
                raise StoreUnavailableError(
                    operation, why, outcome_unknown=True
                ) from error.__cause__
            except DBAPIError as error:
                self._give_up_unless_worth_retrying(operation, error, number)
                logger.warning(
                    "%s: transient database failure (%s), trying again "
                    "(attempt %d of %d)",
                    operation,
                    describe(error),
                    number + 1,
                    self._attempts,
                    extra={"event": "store_retry", "operation": operation},
                )
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _give_up_unless_worth_retrying(
        self, operation: str, error: DBAPIError, number: int
    ) -> None:
        if not self._backend.is_transient(error):
            raise StoreUnavailableError(operation, describe(error)) from error
        if number == self._attempts:
            why = (
                f"{self._attempts} attempts met transient failures, the last "
                f"{describe(error)}"
            )
            raise StoreUnavailableError(operation, why) from error


def describe(error: BaseException) -> str:
    """Name a database error without its message, which may quote values."""
    cause = error.__cause__ if isinstance(error, AmbiguousCommitError) else error
    orig = getattr(cause, "orig", None)
    state = getattr(orig, "sqlstate", None)
    name = type(orig if orig is not None else cause).__name__
    return f"{name}, SQLSTATE {state}" if state else name
