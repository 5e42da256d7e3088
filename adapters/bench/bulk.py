"""Filling a ledger database fast, with rows the store itself would have written.

Appending a million events one use case at a time takes a long time. The
bulk writer skips the use cases and the one-transaction-per-append, and
keeps everything that makes a row valid: the domain events come from the
login state machine's own commands, and each goes through the store's own
encoding (`EventMapper.to_stored`: secret fields encrypted and bound to
their slot), is sealed into its stream's hash chain (`chain.seal`) and
becomes the backend's insert parameters. `verify_streams` on the result
finds every stream intact, which the growth benchmark checks.

Rows are inserted a batch of logins at a time, in one transaction per
batch, in the order a busy service would have written them: a login's
`LoginStarted`, then, `LOGINS_IN_FLIGHT` logins later (while the user was
at the provider), the rest of its events together, as its callback appends
them within a few milliseconds. A projector that folds a batch of events at
a time thus meets each stream's callback events side by side, and its
start some batches earlier.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loginledger.adapters.bench.logins import BINDING, LOGIN_LIFETIME, REDIRECT_URI
from loginledger.domain import (
    CallbackOutcome,
    CodeRedemption,
    DomainEvent,
    Login,
)
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.backend import Backend
from loginledger.infrastructure.sql.chain import GENESIS, SealedEvent, seal
from loginledger.infrastructure.sql.engine import WRITE_OPTION
from loginledger.infrastructure.sql.mapper import EventMapper
from loginledger.infrastructure.sql.postgres import PostgresBackend
from loginledger.infrastructure.sql.sqlite import SqliteBackend
from loginledger.testing import default_grant

logger = logging.getLogger(__name__)

EVENTS_PER_LOGIN = 5
"""Started, claimed, exchanged, session started, and one duplicate answered."""

LOGINS_PER_BATCH = 2000
ROWS_PER_TRANSACTION = 50_000
# Bump when the generated rows change shape, so that cached databases from
# an older bench are not reused.
CACHE_FORMAT = 2
LOGINS_IN_FLIGHT = 200
"""Logins started between one login's start and its callback."""
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GeneratedLedger:
    """A database file the bulk writer filled, and what it holds."""

    path: Path
    events: int
    streams: int


def login_events(
    stream_id: str, started_at: datetime, touches: int = 0
) -> list[DomainEvent]:
    """The events of a login that became a session, built by its commands.

    Started, claimed, exchanged and session started, a duplicate callback
    answered, then `touches` uses of the session one minute apart.
    """
    login = Login(stream_id)
    at = started_at
    events: list[DomainEvent] = []

    def record(new: Sequence[DomainEvent]) -> None:
        nonlocal login
        login = login.evolve_all(new)
        events.extend(new)

    record([_started(login, at)])
    callback_id = f"{stream_id}-callback"
    record([login.claim_exchange(callback_id, at, timedelta(seconds=30), at)])
    grant = default_grant(_redemption(stream_id))
    record(login.complete_exchange(grant, f"{stream_id}-session", at))
    record([login.answer_callback("dup", at, at, CallbackOutcome.JOINED)])
    for minute in range(1, touches + 1):
        record([login.touch(at + timedelta(minutes=minute))])
    return events


class BulkWriter:
    """Writes whole streams into a store's database, many per transaction."""

    def __init__(self, store: SqlEventStore) -> None:
        self._store = store
        self._mapper = EventMapper(store.secrets)
        self._backend: Backend = (
            SqliteBackend()
            if store.engine.dialect.name == "sqlite"
            else PostgresBackend()
        )

    async def write(self, streams: Sequence[tuple[str, Sequence[DomainEvent]]]) -> int:
        """Write each (stream id, events) as a new stream; how many events.

        Every stream must be new: each is sealed from the chain's start.
        """
        sealed = _interleaved([self._sealed(sid, events) for sid, events in streams])
        # PostgreSQL numbers an append's rows from its transaction id plus
        # the row's offset, which must stay below EVENTS_PER_TRANSACTION.
        for start in range(0, len(sealed), ROWS_PER_TRANSACTION):
            await self._insert(sealed[start : start + ROWS_PER_TRANSACTION])
        return len(sealed)

    async def write_logins(
        self, prefix: str, logins: int, touches: int = 0
    ) -> list[str]:
        """Write `logins` whole logins, a batch at a time; their stream ids."""
        stream_ids: list[str] = []
        for first in range(0, logins, LOGINS_PER_BATCH):
            batch = range(first, min(first + LOGINS_PER_BATCH, logins))
            streams = [
                (
                    f"{prefix}-{number}",
                    login_events(
                        f"{prefix}-{number}",
                        _EPOCH + timedelta(seconds=number),
                        touches,
                    ),
                )
                for number in batch
            ]
            await self.write(streams)
            stream_ids += [stream_id for stream_id, _ in streams]
        return stream_ids

    def _sealed(
        self, stream_id: str, events: Sequence[DomainEvent]
    ) -> list[SealedEvent]:
        stored = [
            self._mapper.to_stored(stream_id, version, event, event.occurred_at)
            for version, event in enumerate(events, start=1)
        ]
        return seal(self._store.secrets, GENESIS, stored)

    async def _insert(self, sealed: Sequence[SealedEvent]) -> None:
        rows = [
            self._backend.insert_parameters(event, offset)
            for offset, event in enumerate(sealed, start=1)
        ]
        writer = self._store.engine.execution_options(**{WRITE_OPTION: True})
        async with writer.begin() as connection:
            await connection.execute(self._backend.insert_statement(), rows)


async def cached_ledger(directory: Path, events: int) -> GeneratedLedger:
    """A SQLite ledger of about `events` events, generated once and kept.

    The file lives in `directory` with its key file beside it, and is reused
    by later runs as long as its generation finished (a `.complete` marker)
    and `CACHE_FORMAT` is unchanged. Delete the directory to regenerate.
    """
    logins = max(1, -(-events // EVENTS_PER_LOGIN))
    path = directory / f"ledger-{logins * EVENTS_PER_LOGIN}-v{CACHE_FORMAT}.db"
    if not _is_complete(path):
        _make_room(path)
        logger.info("generating %s (%d logins)", path, logins)
        async with await SqlEventStore.open(path) as store:
            await BulkWriter(store).write_logins("aged", logins)
        _mark_complete(path)
    return GeneratedLedger(path, logins * EVENTS_PER_LOGIN, logins)


def copy_database(source: Path, target: Path) -> Path:
    """Copy a closed SQLite ledger and its key file to `target`."""
    remove_database(target)
    shutil.copyfile(source, target)
    shutil.copyfile(_key_file(source), _key_file(target))
    _key_file(target).chmod(0o600)
    return target


def remove_database(path: Path) -> None:
    """Delete a SQLite ledger with its WAL, shared memory and key files."""
    for suffix in ("", "-wal", "-shm", ".key", ".complete"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _is_complete(path: Path) -> bool:
    return path.with_name(path.name + ".complete").exists()


def _make_room(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_database(path)


def _mark_complete(path: Path) -> None:
    marker = path.with_name(path.name + ".complete")
    marker.write_text("generated by loginledger.adapters.bench\n", encoding="utf-8")


def _key_file(path: Path) -> Path:
    return path.with_name(path.name + ".key")


def _interleaved(streams: list[list[SealedEvent]]) -> list[SealedEvent]:
    """Each stream's first event in turn; the rest of each stream's events
    right after the first event of the stream `LOGINS_IN_FLIGHT` later."""
    ordered: list[SealedEvent] = []
    for index, events in enumerate(streams):
        ordered += events[:1]
        if index >= LOGINS_IN_FLIGHT:
            ordered += streams[index - LOGINS_IN_FLIGHT][1:]
    for events in streams[-LOGINS_IN_FLIGHT:]:
        ordered += events[1:]
    return ordered


def _started(login: Login, at: datetime) -> DomainEvent:
    return login.start(
        now=at,
        expires_at=at + LOGIN_LIFETIME,
        redirect_uri=REDIRECT_URI,
        nonce=f"nonce-{login.stream_id}",
        pkce_verifier=f"pkce-verifier-{login.stream_id}-0123456789abcdef",
        browser_binding=BINDING,
        return_to="/account",
    )


def _redemption(stream_id: str) -> CodeRedemption:
    return CodeRedemption(
        code=f"code-{stream_id}",
        redirect_uri=REDIRECT_URI,
        pkce_verifier=f"pkce-verifier-{stream_id}-0123456789abcdef",
        nonce=f"nonce-{stream_id}",
    )
