"""Tamper evidence: edits made directly in SQL are found, with stream and version.

Each case tampers with stream "s" (versions 1 to 4) next to an untouched
stream "other", on SQLite and on PostgreSQL, then runs `verify_streams`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from store_backends import StoreOpener, noted

from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import (
    SqlEventStore,
    StoreConfigurationError,
    Tampering,
    verify_streams,
)
from loginledger.infrastructure.sql.chain import GENESIS, seal
from loginledger.infrastructure.sql.mapper import stored_from_row
from loginledger.infrastructure.sql.schema import events

Tamper = Callable[[AsyncConnection], Awaitable[None]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreOpener:
    """Opens stores on a SQLite file or a PostgreSQL database of this test's."""
    if request.param == "postgres":
        return StoreOpener("postgres", request.getfixturevalue("postgres_database_url"))
    return StoreOpener("sqlite", str(tmp_path_factory.mktemp("db") / "ledger.db"))


@pytest.fixture
async def store(opener: StoreOpener) -> AsyncIterator[SqlEventStore]:
    """A SQL store holding streams "s" (4 events) and "other" (2 events)."""
    store = await opener.open_sql()
    await store.append("s", 0, [noted("one", token="t1"), noted("two")])
    await store.append("other", 0, [noted("o1"), noted("o2")])
    await store.append("s", 2, [noted("three", token="t3"), noted("four")])
    yield store
    await opener.close_all()


def at(stream_id: str, version: int) -> list[ColumnElement[bool]]:
    """The WHERE clause naming one stored event."""
    return [events.c.stream_id == stream_id, events.c.version == version]


async def edit_payload(connection: AsyncConnection) -> None:
    """Rewrite the note of version 2."""
    row = (await connection.execute(select(events.c.payload).where(*at("s", 2)))).one()
    payload = {**row.payload, "note": "rewritten"}
    await connection.execute(update(events).where(*at("s", 2)).values(payload=payload))


async def edit_recorded_time(connection: AsyncConnection) -> None:
    """Move version 1's recorded time back by a day."""
    query = select(events.c.recorded_at).where(*at("s", 1))
    recorded_at = (await connection.execute(query)).scalar_one()
    await connection.execute(
        update(events)
        .where(*at("s", 1))
        .values(recorded_at=recorded_at - timedelta(days=1))
    )


async def delete_event(connection: AsyncConnection) -> None:
    """Delete version 2."""
    await connection.execute(delete(events).where(*at("s", 2)))


async def swap_versions(connection: AsyncConnection) -> None:
    """Swap the version numbers of versions 2 and 3."""
    await connection.execute(update(events).where(*at("s", 2)).values(version=-3))
    await connection.execute(update(events).where(*at("s", 3)).values(version=2))
    await connection.execute(update(events).where(*at("s", -3)).values(version=3))


async def swap_contents(connection: AsyncConnection) -> None:
    """Swap everything but version and position between versions 2 and 3."""
    columns = [c for c in events.c if c.name not in ("position", "version")]
    second = (await connection.execute(select(*columns).where(*at("s", 2)))).one()
    third = (await connection.execute(select(*columns).where(*at("s", 3)))).one()
    await connection.execute(
        update(events).where(*at("s", 2)).values(**third._asdict())
    )
    await connection.execute(
        update(events).where(*at("s", 3)).values(**second._asdict())
    )


async def forge_copy(connection: AsyncConnection, version: int) -> dict[str, object]:
    """Version 4's row with a new note, a made-up seal, the next position."""
    row = (await connection.execute(select(events).where(*at("s", 4)))).one()
    last = (await connection.execute(select(func.max(events.c.position)))).scalar_one()
    return {
        **row._asdict(),
        "position": last + 1,
        "version": version,
        "payload": {**row.payload, "note": "forged"},
        "version_tag": "f" * 64,
        "chain_hash": "0" * 64,
    }


async def insert_at_end(connection: AsyncConnection) -> None:
    """Append a forged version 5."""
    await connection.execute(insert(events).values(**await forge_copy(connection, 5)))


async def insert_in_middle(connection: AsyncConnection) -> None:
    """Shift versions 3 and 4 up and slip a forged version 3 in."""
    forged = await forge_copy(connection, 3)
    for version in (4, 3):
        await connection.execute(
            update(events).where(*at("s", version)).values(version=version + 1)
        )
    await connection.execute(insert(events).values(**forged))


@pytest.mark.parametrize(
    ("tamper", "version", "tampering"),
    [
        (edit_payload, 2, Tampering.EDITED),
        (edit_recorded_time, 1, Tampering.EDITED),
        (delete_event, 2, Tampering.REMOVED),
        (swap_versions, 2, Tampering.REORDERED),
        (swap_contents, 2, Tampering.REORDERED),
        (insert_at_end, 5, Tampering.INSERTED),
        (insert_in_middle, 3, Tampering.INSERTED),
    ],
)
async def test_verification_finds_tampering_at_its_stream_and_version(
    store: SqlEventStore, tamper: Tamper, version: int, tampering: Tampering
) -> None:
    """Each kind of edit made in SQL is reported at the stream and version hit."""
    async with store.engine.begin() as connection:
        await tamper(connection)

    report = await verify_streams(store)

    assert [(f.stream_id, f.version, f.tampering) for f in report.findings] == [
        ("s", version, tampering)
    ]
    assert report.finding_for("other") is None


async def test_verification_of_untouched_streams_is_intact(
    store: SqlEventStore,
) -> None:
    """A database nobody tampered with verifies clean, every event counted."""
    report = await verify_streams(store)

    assert report.intact
    assert (report.streams, report.events) == (2, 6)
    assert {stream: head.version for stream, head in report.heads.items()} == {
        "s": 4,
        "other": 2,
    }


async def test_verification_finds_removed_last_events_against_earlier_heads(
    store: SqlEventStore,
) -> None:
    """Deleting a stream's tail shows only next to an earlier report's heads."""
    earlier = await verify_streams(store)
    async with store.engine.begin() as connection:
        await connection.execute(delete(events).where(*at("s", 4)))

    alone = await verify_streams(store)
    compared = await verify_streams(store, previous_heads=earlier.heads)

    assert alone.intact
    assert [(f.stream_id, f.version, f.tampering) for f in compared.findings] == [
        ("s", 4, Tampering.REMOVED)
    ]


async def test_verification_catches_a_stream_resealed_without_the_key(
    store: SqlEventStore,
) -> None:
    """An edit re-sealed with another key (the attacker's) is still found."""
    attacker = SecretBox.generate()
    async with store.engine.begin() as connection:
        first = (await connection.execute(select(events).where(*at("s", 1)))).one()
        stored = stored_from_row(first)
        edited = replace(stored, payload={**stored.payload, "note": "attacker's"})
        [forged] = seal(attacker, GENESIS, [edited])
        await connection.execute(
            update(events)
            .where(*at("s", 1))
            .values(
                payload=edited.payload,
                version_tag=forged.version_tag,
                chain_hash=forged.chain_hash,
            )
        )

    report = await verify_streams(store)

    assert [(f.stream_id, f.version, f.tampering) for f in report.findings] == [
        ("s", 1, Tampering.INSERTED)
    ]


async def test_verification_through_an_engine_needs_the_keys(
    store: SqlEventStore,
) -> None:
    """Verifying from a bare engine requires the SecretBox, and then works."""
    with pytest.raises(StoreConfigurationError, match="SecretBox"):
        await verify_streams(store.engine)

    report = await verify_streams(store.engine, secrets=store.secrets)

    assert report.intact
