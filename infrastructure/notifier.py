"""Wakes the coroutines waiting for a stream to change, within one process."""

from __future__ import annotations

import asyncio


class AppendNotifier:
    """One asyncio event per watched stream, set and replaced on every append.

    A waiter takes the stream's current event, checks the stream, then waits;
    an append that lands in between has already set that event, so the waiter
    cannot miss it.
    """

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def watch(self, stream_id: str) -> asyncio.Event:
        """The event that the next append to `stream_id` will set."""
        return self._events.setdefault(stream_id, asyncio.Event())

    def notify(self, stream_id: str) -> None:
        """Wake every waiter of `stream_id`."""
        event = self._events.pop(stream_id, None)
        if event is not None:
            event.set()
