"""Reading and writing login streams, as the use cases share it.

Every use case loads a stream, decides, and appends with the version it
loaded. What differs is what a conflict means: a claimer's outcome may land
after answers of other callers, but not after anything that resolved its
claim; an answer only goes on the record, so it is simply rebuilt and tried
again. Both loops are bounded, so a flood of writers cannot keep a request
busy forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from loginledger.domain.errors import (
    AppendContentionError,
    ClaimLostError,
    UnknownLoginError,
    VersionConflictError,
)
from loginledger.domain.events import DomainEvent
from loginledger.domain.login import Login
from loginledger.domain.ports import EventStore

T = TypeVar("T")


class LoginStreams:
    """Loads logins from an event store and appends their next events."""

    def __init__(self, store: EventStore, max_append_attempts: int) -> None:
        if max_append_attempts < 1:
            msg = f"max_append_attempts must be >= 1, got {max_append_attempts}"
            raise ValueError(msg)
        self._store = store
        self._max_attempts = max_append_attempts
        # Claimers' work runs in tasks of its own, so that a caller that goes
        # away (a browser that cancels the first of two clicks) does not
        # abandon a redemption half-way; the set keeps them referenced.
        self._detached: set[asyncio.Task[Any]] = set()

    async def load(self, stream_id: str) -> Login:
        """The login of `stream_id`; UnknownLoginError if it was never started."""
        loaded = await self._store.load(stream_id)
        if loaded.version == 0:
            raise UnknownLoginError(stream_id)
        return Login.replay(stream_id, loaded.domain_events())

    async def append(self, login: Login, events: Sequence[DomainEvent]) -> Login:
        """Append at the login's version; VersionConflictError if it moved on."""
        await self._store.append(login.stream_id, login.version, events)
        return login.evolve_all(events)

    async def append_as_holder(
        self,
        login: Login,
        events: Sequence[DomainEvent],
        holder_id: str,
        still_holds: Callable[[Login], bool],
    ) -> Login:
        """Append a claimer's outcome as long as its claim is still the live one.

        Raises:
            ClaimLostError: the stream moved on in a way that resolved the
                claim; nothing was written.
        """
        for _ in range(self._max_attempts):
            try:
                return await self.append(login, events)
            except VersionConflictError:
                login = await self.load(login.stream_id)
                if not still_holds(login):
                    raise ClaimLostError(
                        login.stream_id, holder_id, login.state.value, login.version
                    ) from None
        raise AppendContentionError(login.stream_id, self._max_attempts)

    async def append_on_record(
        self, login: Login, build: Callable[[Login], DomainEvent]
    ) -> Login:
        """Append an event that only goes on the record, rebuilt on each conflict."""
        for _ in range(self._max_attempts):
            try:
                return await self.append(login, [build(login)])
            except VersionConflictError:
                login = await self.load(login.stream_id)
        raise AppendContentionError(login.stream_id, self._max_attempts)

    async def wait_for_change(
        self, login: Login, until: datetime, now: datetime
    ) -> None:
        """Wait until the stream passes the login's version, at most until `until`."""
        timeout = max((until - now).total_seconds(), 0.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._store.wait_for_append(login.stream_id, login.version)

    async def run_detached(self, work: Coroutine[Any, Any, T], name: str) -> T:
        """Run `work` in a task that the caller's cancellation does not cancel."""
        task = asyncio.create_task(work, name=name)
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)
        return await asyncio.shield(task)

    def check_contention(self, stream_id: str, conflicts: int) -> None:
        """AppendContentionError once `conflicts` reaches the bound."""
        if conflicts >= self._max_attempts:
            raise AppendContentionError(stream_id, conflicts)
