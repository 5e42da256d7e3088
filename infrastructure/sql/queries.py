"""The statements the store reads with, over the events table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loginledger.infrastructure.sql.schema import events


def select_events() -> Select[Any]:
    """Every column a recorded event is rebuilt from."""
    return select(
        events.c.position,
        events.c.stream_id,
        events.c.version,
        events.c.event_type,
        events.c.schema_version,
        events.c.payload,
        events.c.secret_fields,
        events.c.recorded_at,
    )


def select_stream(stream_id: str) -> Select[Any]:
    """One stream's events, in version order (the unique key's index)."""
    query = select_events().where(events.c.stream_id == stream_id)
    return query.order_by(events.c.version)


def select_after(position: int, limit: int) -> Select[Any]:
    """Up to `limit` events after `position`, in position order."""
    query = select_events().where(events.c.position > position)
    return query.order_by(events.c.position).limit(limit)


async def stream_version(connection: AsyncConnection, stream_id: str) -> int:
    """The version `stream_id` is at; 0 if it has no events."""
    query = select(func.coalesce(func.max(events.c.version), 0)).where(
        events.c.stream_id == stream_id
    )
    return int((await connection.execute(query)).scalar_one())


async def chain_hash_at(
    connection: AsyncConnection, stream_id: str, version: int
) -> str | None:
    """The chain hash of the event at `version` of `stream_id`, if it exists."""
    query = select(events.c.chain_hash).where(
        events.c.stream_id == stream_id, events.c.version == version
    )
    chain_hash: str | None = (await connection.execute(query)).scalar_one_or_none()
    return chain_hash
