"""An event store in memory, faithful to the port's concurrency contract.

It checks expected versions exactly as a database's unique key on
(stream id, version) would, writes all events of an append or none, and keeps
events as their JSON payloads so that what comes back out is what a database
would give back. It serves tests, the demo and host applications' own race
tests; it keeps nothing across restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from loginledger.domain.errors import VersionConflictError
from loginledger.domain.events import DomainEvent, JsonObject, decode_event
from loginledger.domain.ports import Clock, LoadedStream, RecordedEvent
from loginledger.infrastructure.notifier import AppendNotifier


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class InMemoryEventStore:
    """The EventStore port in a process's memory."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or _SystemClock()
        self._streams: dict[str, list[int]] = {}
        # (stream id, version, recorded at, event type, schema version, payload)
        self._log: list[tuple[str, int, datetime, str, int, JsonObject]] = []
        self._notifier = AppendNotifier()

    async def load(self, stream_id: str) -> LoadedStream:
        indexes = self._streams.get(stream_id, [])
        events = tuple(self._decode(index) for index in indexes)
        return LoadedStream(stream_id, len(events), events)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        if not events:
            msg = f"an append to stream {stream_id!r} needs at least one event"
            raise ValueError(msg)
        if expected_version < 0:
            msg = f"expected_version must be >= 0, got {expected_version}"
            raise ValueError(msg)

        # No await from the version check to the last write: in one event loop
        # this block is atomic, as a transaction would be.
        indexes = self._streams.setdefault(stream_id, [])
        if len(indexes) != expected_version:
            raise VersionConflictError(stream_id, expected_version, len(indexes))
        rows = [
            (
                stream_id,
                expected_version + offset,
                self._clock.now(),
                event.event_type(),
                type(event).schema_version,
                event.to_payload(),
            )
            for offset, event in enumerate(events, start=1)
        ]
        indexes.extend(range(len(self._log), len(self._log) + len(rows)))
        self._log.extend(rows)

        self._notifier.notify(stream_id)
        return expected_version + len(rows)

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        changed = self._notifier.watch(stream_id)
        if len(self._streams.get(stream_id, [])) > after_version:
            return
        await changed.wait()

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        # Positions are 1-based indexes into the log.
        start = max(after_position, 0)
        stop = min(len(self._log), start + limit)
        return [self._decode(index) for index in range(start, stop)]

    def _decode(self, index: int) -> RecordedEvent:
        stream_id, version, recorded_at, event_type, schema, payload = self._log[index]
        return RecordedEvent(
            stream_id=stream_id,
            version=version,
            position=index + 1,
            recorded_at=recorded_at,
            event=decode_event(event_type, schema, payload),
        )
