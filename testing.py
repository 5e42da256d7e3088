"""Aids for proving an integration race-free: doubles and forced interleavings.

Everything here is public and meant for a host application's own tests:

- `FakeClock`: a clock that moves only when told.
- `ControllableTokenEndpoint`: a token endpoint whose redemptions can be held
  open, released one by one, failed on purpose, and counted.
- `InMemoryEventStore`: re-exported from `loginledger.infrastructure.memory`.
- `ObservedEventStore`: tells a test when callers are parked waiting for a
  claimer's outcome.
- `Interleaver`, `InterleavedEventStore` and `InterleavedTokenEndpoint`: run
  several coroutines so that only one makes progress between two store or
  provider calls, in an order the test chooses (by hand or by Hypothesis).

Typical use, holding the first redemption open while a second callback runs::

    endpoint = ControllableTokenEndpoint()
    gate = endpoint.hold_next()
    first = asyncio.create_task(handler.handle(callback_a))
    await gate.entered.wait()            # the first is inside the provider
    second = asyncio.create_task(handler.handle(callback_b))
    await store.waiting(1)               # the second waits for the first
    gate.release()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from loginledger.domain.events import DomainEvent
from loginledger.domain.ports import (
    CodeRedemption,
    EventStore,
    LoadedStream,
    RecordedEvent,
    RefreshedTokens,
    RefreshRedemption,
    TokenEndpoint,
    TokenEndpointError,
    TokenGrant,
)
from loginledger.infrastructure.memory import InMemoryEventStore

__all__ = [
    "ControllableTokenEndpoint",
    "FakeClock",
    "InMemoryEventStore",
    "InterleavedEventStore",
    "InterleavedTokenEndpoint",
    "Interleaver",
    "InterleavingStalledError",
    "ObservedEventStore",
    "RedemptionGate",
    "default_grant",
]

T = TypeVar("T")


class FakeClock:
    """A clock that stands still until `advance` or `set` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> None:
        """Move the clock forward by `by`."""
        self._now += by

    def set(self, now: datetime) -> None:
        """Move the clock to `now`."""
        self._now = now


@dataclass
class RedemptionGate:
    """Holds one redemption inside the token endpoint until released.

    `entered` is set once the redemption is inside. `release` lets it return
    its grant; `fail` makes it raise instead.
    """

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    _go: asyncio.Event = field(default_factory=asyncio.Event)
    _error: TokenEndpointError | None = None

    def release(self) -> None:
        """Let the held redemption return its grant."""
        self._go.set()

    def fail(self, error: TokenEndpointError) -> None:
        """Let the held redemption raise `error`."""
        self._error = error
        self._go.set()

    async def _pass(self) -> None:
        self.entered.set()
        await self._go.wait()
        if self._error is not None:
            raise self._error


def default_grant(redemption: CodeRedemption) -> TokenGrant:
    """A plausible grant for `redemption`, distinct per code."""
    suffix = str(abs(hash(redemption.code)))
    return TokenGrant(
        issuer="https://provider.test",
        subject="user-1",
        id_token=f"id-token-{suffix}",
        access_token=f"access-token-{suffix}",
        refresh_token=f"refresh-token-{suffix}",
    )


class ControllableTokenEndpoint:
    """A token endpoint double that a test steers redemption by redemption.

    It redeems codes and refresh tokens alike; gates and failures apply to
    whichever redemption comes next. By default every code redemption succeeds
    at once with `grant_for(redemption)`, and every refresh rotates the
    refresh token.
    `hold_next` makes the next redemption wait at a gate; `fail_next` makes it
    raise; `hold_until_concurrent(n)` holds every redemption until n are
    inside at once, which proves that n logins reach the provider in parallel.
    Code redemptions are kept in `redemptions` and refreshes in `refreshes`,
    in arrival order.
    """

    def __init__(
        self, grant_for: Callable[[CodeRedemption], TokenGrant] = default_grant
    ) -> None:
        self._grant_for = grant_for
        self._gates: list[RedemptionGate] = []
        self._failures: list[TokenEndpointError] = []
        self._barrier: asyncio.Barrier | None = None
        self.redemptions: list[CodeRedemption] = []
        self.refreshes: list[RefreshRedemption] = []

    def hold_next(self) -> RedemptionGate:
        """Hold the next redemption that has no gate yet; returns its gate."""
        gate = RedemptionGate()
        self._gates.append(gate)
        return gate

    def fail_next(self, error: TokenEndpointError) -> None:
        """Make the next redemption without a gate raise `error`."""
        self._failures.append(error)

    def hold_until_concurrent(self, parties: int) -> None:
        """Hold redemptions until `parties` of them are inside at the same time."""
        self._barrier = asyncio.Barrier(parties)

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        self.redemptions.append(redemption)
        await self._steer()
        return self._grant_for(redemption)

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        """Refresh like a rotating provider: a new refresh token every time."""
        self.refreshes.append(redemption)
        await self._steer()
        number = len(self.refreshes)
        return RefreshedTokens(
            access_token=f"access-token-refreshed-{number}",
            refresh_token=f"refresh-token-rotated-{number}",
        )

    async def _steer(self) -> None:
        if self._barrier is not None:
            await self._barrier.wait()
        if self._gates:
            await self._gates.pop(0)._pass()
        elif self._failures:
            raise self._failures.pop(0)


class InterleavingStalledError(RuntimeError):
    """A schedule ran past its step limit without every coroutine finishing.

    Usually a coroutine waits for something no other coroutine will do, such
    as a claim whose holder failed while the clock stands still.
    """

    def __init__(self, max_steps: int, waiting: Sequence[str]):
        self.max_steps = max_steps
        self.waiting = list(waiting)
        super().__init__(
            f"the interleaving took more than {max_steps} steps; still waiting: "
            f"{', '.join(self.waiting) or 'nothing'}"
        )


class Interleaver:
    """Runs coroutines one step at a time, in an order chosen from outside.

    A step ends where a coroutine calls `checkpoint` (the instrumented store
    and token endpoint do so before every call). Once every coroutine is at a
    checkpoint or finished, `choose` picks which waiting one goes next. The
    order is thus decided entirely by `choose`, never by timing, as long as
    nothing under test waits on the wall clock: give the use cases wait
    limits longer than the test can run, so that no timeout fires mid-schedule.
    After `max_steps` steps the run stops with InterleavingStalledError.
    """

    def __init__(
        self, choose: Callable[[Sequence[str]], int], max_steps: int = 10_000
    ) -> None:
        self._choose = choose
        self._max_steps = max_steps
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._running = 0
        self._settled = asyncio.Event()
        self._sequence = 0
        self.steps: list[str] = []

    async def checkpoint(self, label: str) -> None:
        """Pause the calling coroutine here until the interleaver picks it."""
        # The sequence number keeps keys unique; the schedule being
        # deterministic, so are the numbers.
        self._sequence += 1
        key = f"{_task_name()}:{label}#{self._sequence}"
        turn = asyncio.get_running_loop().create_future()
        self._waiting[key] = turn
        self._leave()
        try:
            await turn
        except asyncio.CancelledError:
            # Woken by a cancellation (a timeout, say) rather than picked:
            # the coroutine runs again, so count it as running.
            if self._waiting.pop(key, None) is not None:
                self._running += 1
            raise

    async def run(self, coroutines: Mapping[str, Awaitable[T]]) -> dict[str, T]:
        """Run the named coroutines to the end; returns their results by name."""
        tasks = {
            name: asyncio.create_task(self._track(coroutine), name=name)
            for name, coroutine in coroutines.items()
        }
        self._running = len(tasks)

        try:
            await self._schedule(tasks)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

        # Collect every failure, so none is left unretrieved, and raise the first.
        failures = [task.exception() for task in tasks.values()]
        for failure in failures:
            if failure is not None:
                raise failure
        return {name: task.result() for name, task in tasks.items()}

    async def _schedule(self, tasks: Mapping[str, asyncio.Task[T]]) -> None:
        while not all(task.done() for task in tasks.values()):
            await self._settled.wait()
            self._settled.clear()
            if not self._waiting:
                continue
            if len(self.steps) >= self._max_steps:
                raise InterleavingStalledError(self._max_steps, sorted(self._waiting))
            labels = sorted(self._waiting)
            chosen = labels[self._choose(labels)]
            self.steps.append(chosen)
            self._running += 1
            self._waiting.pop(chosen).set_result(None)

    async def _track(self, coroutine: Awaitable[T]) -> T:
        try:
            return await coroutine
        finally:
            self._leave()

    def _leave(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._settled.set()


class InterleavedEventStore:
    """An event store that stops at an Interleaver checkpoint before each call.

    Its `wait_for_append` only checkpoints: being picked again counts as being
    woken, which the port allows at any time.
    """

    def __init__(self, inner: EventStore, interleaver: Interleaver) -> None:
        self._inner = inner
        self._interleaver = interleaver

    async def load(self, stream_id: str) -> LoadedStream:
        await self._interleaver.checkpoint("load")
        return await self._inner.load(stream_id)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        kinds = "+".join(event.event_type() for event in events)
        await self._interleaver.checkpoint(f"append {kinds}")
        return await self._inner.append(stream_id, expected_version, events)

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        await self._interleaver.checkpoint("wait")

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        return await self._inner.read_all(after_position, limit)


class InterleavedTokenEndpoint:
    """A token endpoint that stops at an Interleaver checkpoint before redeeming."""

    def __init__(self, inner: TokenEndpoint, interleaver: Interleaver) -> None:
        self._inner = inner
        self._interleaver = interleaver

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        await self._interleaver.checkpoint("redeem")
        return await self._inner.redeem_code(redemption)


class ObservedEventStore:
    """An event store that lets a test wait until callers are waiting on it.

    `waiting(n)` returns once at least `n` callers are inside
    `wait_for_append`: the moment a test knows that duplicates have lost the
    claim and are parked until the claimer's outcome lands.
    """

    def __init__(self, inner: EventStore) -> None:
        self._inner = inner
        self._changed = asyncio.Condition()
        self.inside_wait = 0

    async def load(self, stream_id: str) -> LoadedStream:
        return await self._inner.load(stream_id)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        return await self._inner.append(stream_id, expected_version, events)

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        async with self._changed:
            self.inside_wait += 1
            self._changed.notify_all()
        try:
            await self._inner.wait_for_append(stream_id, after_version)
        finally:
            self.inside_wait -= 1

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        return await self._inner.read_all(after_position, limit)

    async def waiting(self, count: int) -> None:
        """Return once `count` callers are inside `wait_for_append`."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.inside_wait >= count)


def _task_name() -> str:
    task = asyncio.current_task()
    return task.get_name() if task is not None else "main"
