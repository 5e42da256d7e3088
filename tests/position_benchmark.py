"""How much append throughput each way of ordering PostgreSQL positions keeps.

Not a test: run it by hand, `python tests/position_benchmark.py`. It starts
a throwaway server with fsync and synchronous commit ON (a durable server,
unlike the test suite's), then lets 8 concurrent connections append
single-row transactions under each strategy, through asyncpg directly so
that the client's own work (encryption, hashing, SQLAlchemy) does not hide
the server's serialisation. It prints the median of several rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import postgres_server
from postgres_server import PostgresServer, fresh_database, require_server_binaries

WRITERS = 8
APPENDS_PER_WRITER = 400
ROUNDS = 5
_XID_INSERT = (
    "INSERT INTO ev VALUES "
    "(pg_current_xact_id()::text::bigint * 65536 + 1, $1, 1, '{}')"
)

SETUP = """
CREATE TABLE ev (
    position bigint PRIMARY KEY, stream_id text, version int, payload jsonb,
    UNIQUE (stream_id, version)
);
CREATE SEQUENCE ev_seq;
CREATE TABLE counter (n bigint);
INSERT INTO counter VALUES (0);
"""

# Each strategy: the statements of one append's transaction, and whether a
# NOTIFY follows its COMMIT. $1 is the stream id.
STRATEGIES: dict[str, tuple[list[str], bool]] = {
    "plain sequence (gaps unsafe)": (
        ["INSERT INTO ev VALUES (nextval('ev_seq'), $1, 1, '{}')"],
        False,
    ),
    "transaction-id positions": (
        [_XID_INSERT],
        False,
    ),
    "transaction-id + NOTIFY inside": (
        [
            _XID_INSERT,
            "SELECT pg_notify('appends', $1)",
        ],
        False,
    ),
    "transaction-id + NOTIFY after": (
        [_XID_INSERT],
        True,
    ),
    "advisory lock + sequence": (
        [
            "SELECT pg_advisory_xact_lock(42, length($1))",
            "INSERT INTO ev VALUES (nextval('ev_seq'), $1, 1, '{}')",
        ],
        False,
    ),
    "counter row": (
        [
            "UPDATE counter SET n = n + 1 WHERE length($1) > 0",
            "INSERT INTO ev VALUES ((SELECT n FROM counter), $1, 1, '{}')",
        ],
        False,
    ),
}


async def appends_per_second(
    dsn: str, statements: list[str], notify_after: bool
) -> float:
    """Run one round of one strategy; return its rate."""
    connections = [await asyncpg.connect(dsn) for _ in range(WRITERS)]
    await connections[0].execute("TRUNCATE ev; UPDATE counter SET n = 0")

    async def write(connection: Any, writer: int) -> None:
        for number in range(APPENDS_PER_WRITER):
            stream_id = f"{writer}-{number}"
            async with connection.transaction():
                for statement in statements:
                    await connection.execute(statement, stream_id)
            if notify_after:
                await connection.execute("SELECT pg_notify('appends', $1)", stream_id)

    started = time.perf_counter()
    await asyncio.gather(*(write(c, n) for n, c in enumerate(connections)))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return WRITERS * APPENDS_PER_WRITER / elapsed


async def main() -> None:
    """Measure every strategy, interleaved round by round."""
    postgres_server._THROWAWAY_SETTINGS.update(
        {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    )
    with PostgresServer(require_server_binaries()) as server:
        async with fresh_database(server) as url:
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            setup = await asyncpg.connect(dsn)
            await setup.execute(SETUP)
            await setup.close()

            rates: dict[str, list[float]] = {name: [] for name in STRATEGIES}
            for _ in range(ROUNDS):
                for name, (statements, notify_after) in STRATEGIES.items():
                    rate = await appends_per_second(dsn, statements, notify_after)
                    rates[name].append(rate)

    baseline = statistics.median(rates["plain sequence (gaps unsafe)"])
    for name, measured in rates.items():
        median = statistics.median(measured)
        print(f"{name:32} {median:7.0f} appends/s  {median / baseline:5.0%}")


if __name__ == "__main__":
    asyncio.run(main())
