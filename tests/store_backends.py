"""Opening each kind of event store the same way, for tests that run on all.

`StoreOpener` opens (and reopens, to simulate a restart) the store of one
backend: the in-memory reference, a SQLite file, or a PostgreSQL database.
`Noted` is an event type of the tests' own, with one secret field, so the
store tests do not depend on the login stream's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loginledger.domain.events import DomainEvent, OptionalSecret
from loginledger.domain.ports import EventStore
from loginledger.infrastructure.memory import InMemoryEventStore
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore, upgrade_database
from loginledger.testing import FakeClock

BackendKind = Literal["memory", "sqlite", "postgres"]


class Noted(DomainEvent):
    """A test event: a note, and optionally a secret token."""

    note: str
    token: OptionalSecret = None


def noted(note: str, token: str | None = None) -> Noted:
    """A `Noted` event at a fixed time."""
    return Noted(occurred_at=FakeClock().now(), note=note, token=token)


@dataclass
class StoreOpener:
    """Opens the store of one backend, as often as a test needs.

    Every SQL store it opens shares one SecretBox, so a reopened store reads
    what an earlier one wrote. `close_all` closes whatever is still open.
    """

    kind: BackendKind
    location: str = ""
    secrets: SecretBox = field(default_factory=SecretBox.generate)
    _memory: InMemoryEventStore | None = None
    _open: list[SqlEventStore] = field(default_factory=list)
    _upgraded: bool = False

    @property
    def durable(self) -> bool:
        """Whether events outlive the store object (not in memory)."""
        return self.kind != "memory"

    async def open(self, **options: Any) -> EventStore:
        """A store on this backend; SQL stores accept `SqlEventStore.open` options."""
        if self.kind == "memory":
            self._memory = self._memory or InMemoryEventStore()
            return self._memory
        return await self.open_sql(**options)

    async def open_sql(self, **options: Any) -> SqlEventStore:
        """A SQL store on this backend's database."""
        if self.kind == "postgres" and not self._upgraded:
            await upgrade_database(self.location)
            self._upgraded = True
        options.setdefault("secrets", self.secrets)
        store = await SqlEventStore.open(self.location, **options)
        self._open.append(store)
        return store

    async def close(self, store: EventStore) -> None:
        """Close `store` (a no-op in memory)."""
        if isinstance(store, SqlEventStore):
            await store.close()

    async def close_all(self) -> None:
        """Close every SQL store this opener opened."""
        for store in self._open:
            await store.close()


def sqlite_opener(directory: Path) -> StoreOpener:
    """An opener for a SQLite file in `directory`."""
    return StoreOpener("sqlite", str(directory / "ledger.db"))
