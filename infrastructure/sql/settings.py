"""How the SQL event store trades durability, patience and latency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from loginledger.infrastructure.sql.errors import StoreConfigurationError

SqliteSynchronous = Literal["NORMAL", "FULL"]


@dataclass(frozen=True)
class StoreSettings:
    """Tuning of `SqlEventStore`; the defaults suit a login service.

    Attributes:
        sqlite_synchronous: SQLite's `synchronous` pragma in WAL mode. NORMAL
            (default) syncs the log at checkpoints only: a power cut may lose
            the last commits, never corrupt the file. FULL syncs at every
            commit: nothing committed is lost, at a slower append.
        busy_timeout: how long a SQLite connection waits for another process's
            write lock before the attempt counts as a transient failure.
        transient_retries: how many more times an append or read is tried
            after a transient failure (SQLite busy, a dropped PostgreSQL
            connection before commit) before StoreUnavailableError.
        poll_interval: how often `wait_for_append` re-reads the stream when
            nothing woke it. None picks the database's default: 50 ms on
            SQLite, whose waiters can learn of other processes' appends only
            by polling, and 2 s on PostgreSQL, where LISTEN/NOTIFY wakes them
            and the poll is only a safety net.
        pool_size: connections the engine keeps open.
    """

    sqlite_synchronous: SqliteSynchronous = "NORMAL"
    busy_timeout: timedelta = timedelta(seconds=5)
    transient_retries: int = 3
    poll_interval: timedelta | None = None
    pool_size: int = 5

    def __post_init__(self) -> None:
        if self.sqlite_synchronous not in ("NORMAL", "FULL"):
            msg = (
                f"sqlite_synchronous must be 'NORMAL' or 'FULL', "
                f"got {self.sqlite_synchronous!r}"
            )
            raise StoreConfigurationError(msg)
        if self.busy_timeout < timedelta(0):
            msg = f"busy_timeout must not be negative, got {self.busy_timeout}"
            raise StoreConfigurationError(msg)
        if self.transient_retries < 0:
            msg = f"transient_retries must be >= 0, got {self.transient_retries}"
            raise StoreConfigurationError(msg)
        if self.poll_interval is not None and self.poll_interval <= timedelta(0):
            msg = f"poll_interval must be positive, got {self.poll_interval}"
            raise StoreConfigurationError(msg)
        if self.pool_size < 1:
            msg = f"pool_size must be >= 1, got {self.pool_size}"
            raise StoreConfigurationError(msg)
