"""An event store that counts what the use cases ask of it.

The duplicate storm's cost is mostly the number of store calls it makes, so
the benchmark reports them beside the time: loads, appends attempted, and
appends refused with a version conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loginledger.domain import (
    DomainEvent,
    EventStore,
    LoadedStream,
    RecordedEvent,
    VersionConflictError,
)


@dataclass
class StoreCalls:
    """How many times each store call was made."""

    loads: int = 0
    appends: int = 0
    conflicts: int = 0
    waits: int = 0


class CountingEventStore:
    """Passes every call to `inner` and counts it in `calls`."""

    def __init__(self, inner: EventStore) -> None:
        self._inner = inner
        self.calls = StoreCalls()

    async def load(self, stream_id: str) -> LoadedStream:
        """Count, then load from the inner store."""
        self.calls.loads += 1
        return await self._inner.load(stream_id)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        """Count, then append to the inner store, counting a conflict too."""
        self.calls.appends += 1
        try:
            return await self._inner.append(stream_id, expected_version, events)
        except VersionConflictError:
            self.calls.conflicts += 1
            raise

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        """Count, then wait on the inner store."""
        self.calls.waits += 1
        await self._inner.wait_for_append(stream_id, after_version)

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        """Read from the inner store, uncounted."""
        return await self._inner.read_all(after_position, limit)
