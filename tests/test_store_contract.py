"""The EventStore port's contract, run against every store.

Each test runs three times: on the in-memory reference store, on a SQLite
file and on a PostgreSQL database of its own (marked `postgres`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from store_backends import Noted, StoreOpener, noted

from loginledger.domain.errors import VersionConflictError
from loginledger.domain.ports import EventStore
from loginledger.infrastructure.sql import StoreSettings

WAIT_LIMIT_SECONDS = 30


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def opener(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreOpener:
    """How to open (and reopen) the store under test."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "ledger.db"
        return StoreOpener("sqlite", str(path))
    if request.param == "postgres":
        return StoreOpener("postgres", request.getfixturevalue("postgres_database_url"))
    return StoreOpener("memory")


@pytest.fixture
async def store(opener: StoreOpener) -> AsyncIterator[EventStore]:
    """A freshly opened store, closed after the test.

    SQL stores poll only once an hour here, so a waiter that returns within
    the test's limit was woken by the append itself.
    """
    yield await opener.open(settings=StoreSettings(poll_interval=timedelta(hours=1)))
    await opener.close_all()


async def test_store_loads_an_unknown_stream_as_version_zero(store: EventStore) -> None:
    """A stream nobody wrote to is empty, at version 0."""
    loaded = await store.load("nobody-wrote-here")

    assert (loaded.version, loaded.events) == (0, ())


async def test_store_loads_what_was_appended_in_order(store: EventStore) -> None:
    """Appended events come back equal, in order, at versions 1, 2, 3."""
    events = [noted("a", token="secret-a"), noted("b"), noted("c", token="secret-c")]

    new_version = await store.append("s", 0, events[:1])
    newer_version = await store.append("s", 1, events[1:])
    loaded = await store.load("s")

    assert (new_version, newer_version, loaded.version) == (1, 3, 3)
    assert loaded.domain_events() == events
    assert [recorded.version for recorded in loaded.events] == [1, 2, 3]
    assert all(recorded.stream_id == "s" for recorded in loaded.events)
    assert all(recorded.recorded_at.tzinfo for recorded in loaded.events)


async def test_store_refuses_a_stale_expected_version(store: EventStore) -> None:
    """Appending at a version the stream has passed names the actual version."""
    await store.append("s", 0, [noted("a"), noted("b")])

    with pytest.raises(VersionConflictError) as raised:
        await store.append("s", 1, [noted("late")])

    error = raised.value
    assert (error.stream_id, error.expected_version, error.actual_version) == (
        "s",
        1,
        2,
    )
    assert (await store.load("s")).version == 2


async def test_store_refuses_an_expected_version_ahead_of_the_stream(
    store: EventStore,
) -> None:
    """Appending past the stream's end is a conflict too, and writes nothing."""
    await store.append("s", 0, [noted("a")])

    with pytest.raises(VersionConflictError) as raised:
        await store.append("s", 3, [noted("gap")])

    assert (raised.value.expected_version, raised.value.actual_version) == (3, 1)
    assert (await store.load("s")).version == 1


async def test_store_creating_an_existing_stream_conflicts(store: EventStore) -> None:
    """Expecting version 0 of a stream that exists is a conflict."""
    await store.append("s", 0, [noted("first")])

    with pytest.raises(VersionConflictError) as raised:
        await store.append("s", 0, [noted("second first")])

    assert raised.value.actual_version == 1


async def test_store_conflicting_multi_event_append_writes_nothing(
    store: EventStore,
) -> None:
    """An append of several events that conflicts leaves no event of it behind."""
    await store.append("s", 0, [noted("a"), noted("b")])

    with pytest.raises(VersionConflictError):
        await store.append("s", 1, [noted("x"), noted("y"), noted("z")])

    loaded = await store.load("s")
    assert [
        event.note for event in loaded.domain_events() if isinstance(event, Noted)
    ] == [
        "a",
        "b",
    ]
    assert all(event.stream_id == "s" for event in await store.read_all())
    assert len(await store.read_all()) == 2


async def test_store_refuses_an_empty_append(store: EventStore) -> None:
    """An append without events is a programming error, not a no-op."""
    with pytest.raises(ValueError, match="at least one event"):
        await store.append("s", 0, [])


async def test_store_concurrent_appenders_on_one_stream_have_one_winner(
    store: EventStore,
) -> None:
    """Of many appenders expecting the same version, exactly one succeeds."""
    await store.append("s", 0, [noted("start")])
    contenders = 12

    results = await asyncio.gather(
        *(store.append("s", 1, [noted(f"claim {n}")]) for n in range(contenders)),
        return_exceptions=True,
    )

    winners = [result for result in results if result == 2]
    conflicts = [
        result for result in results if isinstance(result, VersionConflictError)
    ]
    assert (len(winners), len(conflicts)) == (1, contenders - 1)
    assert {error.actual_version for error in conflicts} == {2}
    assert (await store.load("s")).version == 2


async def test_store_concurrent_appenders_on_distinct_streams_all_succeed(
    store: EventStore,
) -> None:
    """Appenders of different streams never conflict with each other."""
    streams = [f"stream-{n}" for n in range(12)]

    versions = await asyncio.gather(
        *(store.append(stream, 0, [noted(stream), noted(stream)]) for stream in streams)
    )

    assert versions == [2] * len(streams)
    assert len(await store.read_all()) == 2 * len(streams)


async def test_store_read_all_follows_the_global_order(store: EventStore) -> None:
    """read_all returns every stream's events in the order they were appended."""
    await store.append("a", 0, [noted("a1")])
    await store.append("b", 0, [noted("b1"), noted("b2")])
    await store.append("a", 1, [noted("a2")])

    read = await store.read_all()

    assert [(event.stream_id, event.version) for event in read] == [
        ("a", 1),
        ("b", 1),
        ("b", 2),
        ("a", 2),
    ]
    positions = [event.position for event in read]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


async def test_store_read_all_resumes_after_a_position_within_a_limit(
    store: EventStore,
) -> None:
    """after_position and limit page through the global order without overlap."""
    for number in range(5):
        await store.append(f"s{number}", 0, [noted(str(number))])

    first_page = await store.read_all(limit=2)
    second_page = await store.read_all(after_position=first_page[-1].position, limit=2)
    rest = await store.read_all(after_position=second_page[-1].position)

    notes = [
        event.event.note
        for event in [*first_page, *second_page, *rest]
        if isinstance(event.event, Noted)
    ]
    assert notes == ["0", "1", "2", "3", "4"]
    assert (len(first_page), len(second_page), len(rest)) == (2, 2, 1)
    assert await store.read_all(after_position=rest[-1].position) == []


async def test_store_load_positions_match_read_all(store: EventStore) -> None:
    """A stream's events carry the same positions in load and read_all."""
    await store.append("s", 0, [noted("a"), noted("b")])

    loaded = await store.load("s")
    read = await store.read_all()

    assert [event.position for event in loaded.events] == [
        event.position for event in read
    ]


async def test_store_wait_for_append_is_woken_by_an_append(store: EventStore) -> None:
    """A waiter for a stream returns once another task appends to it."""
    await store.append("s", 0, [noted("start")])
    waiter = asyncio.create_task(store.wait_for_append("s", 1))

    await store.append("s", 1, [noted("next")])
    async with asyncio.timeout(WAIT_LIMIT_SECONDS):
        await waiter

    assert (await store.load("s")).version == 2


async def test_store_wait_for_append_returns_at_once_when_already_past(
    store: EventStore,
) -> None:
    """Waiting for a version the stream has already passed does not block."""
    await store.append("s", 0, [noted("a"), noted("b")])

    async with asyncio.timeout(WAIT_LIMIT_SECONDS):
        await store.wait_for_append("s", 1)


async def test_store_wait_for_append_ignores_other_streams(store: EventStore) -> None:
    """An append to another stream does not satisfy a waiter."""
    await store.append("s", 0, [noted("start")])
    waiter = asyncio.create_task(store.wait_for_append("s", 1))

    await store.append("other", 0, [noted("elsewhere")])
    await store.append("s", 1, [noted("mine")])
    async with asyncio.timeout(WAIT_LIMIT_SECONDS):
        await waiter

    assert (await store.load("s")).version == 2


async def test_store_keeps_every_event_across_a_restart(opener: StoreOpener) -> None:
    """Closing and reopening a durable store loses nothing and continues."""
    if not opener.durable:
        pytest.skip("the in-memory store keeps nothing across restarts")
    first = await opener.open()
    await first.append("s", 0, [noted("a", token="kept secret"), noted("b")])
    before = await first.read_all()
    await opener.close(first)

    second = await opener.open()
    loaded = await second.load("s")
    await second.append("s", 2, [noted("after restart")])
    after = await second.read_all()
    await opener.close_all()

    assert [event.event for event in loaded.events] == [event.event for event in before]
    assert [event.position for event in after[:2]] == [
        event.position for event in before
    ]
    assert after[2].position > before[-1].position
