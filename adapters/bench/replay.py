"""Part 6: replay speed, a projection rebuild against a plain decoding scan.

Three passes over every event of a cached SQLite ledger, in events per
second:

- plain scan: one streamed SELECT in position order, each row decoded to its
  domain event (secret fields decrypted, payload validated) and dropped:
  the least any replay must do;
- `read_all` pages: the same through `EventStore.read_all`, 500 at a time,
  the way the projector reads;
- rebuild: `Projector.rebuild`, which reads through `read_all` and writes
  both projections' tables and checkpoints batch by batch.
"""

from __future__ import annotations

from pathlib import Path

from loginledger.adapters.bench.bulk import cached_ledger
from loginledger.adapters.bench.results import Direction, Report
from loginledger.adapters.bench.timing import (
    Sample,
    Stopwatch,
    interleaved,
    per_second,
    ratios,
)
from loginledger.infrastructure.projections import Projector
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.mapper import EventMapper, stored_from_row
from loginledger.infrastructure.sql.queries import select_events
from loginledger.infrastructure.sql.schema import events as events_table

PART = "6 replay (SQLite)"
PAGE = 500
_READ_CHUNK = 1 << 24


async def plain_scan(store: SqlEventStore) -> float:
    """Events/s of one streamed scan that decodes every row."""
    mapper = EventMapper(store.secrets)
    query = select_events().order_by(events_table.c.position)
    count = 0

    watch = Stopwatch()
    async with store.engine.connect() as connection:
        result = await connection.stream(query.execution_options(yield_per=PAGE))
        async for row in result:
            mapper.to_domain(stored_from_row(row))
            count += 1
    return per_second(count, watch.elapsed())


async def paged_read(store: SqlEventStore) -> float:
    """Events/s of reading every event through `read_all`, a page at a time."""
    position, count = 0, 0

    watch = Stopwatch()
    while page := await store.read_all(position, PAGE):
        count += len(page)
        position = page[-1].position
    return per_second(count, watch.elapsed())


async def rebuild(store: SqlEventStore) -> float:
    """Events/s of a projection rebuild from position zero."""
    watch = Stopwatch()
    applied = await Projector(store).rebuild()
    return per_second(applied, watch.elapsed())


async def run(report: Report, cache: Path, events: int, rounds: int) -> None:
    """Measure the three passes over a ledger of `events` and check the target."""
    ledger = await cached_ledger(cache, events)
    report.heading(f"Part {PART}: every event of {ledger.events:,}")
    _warm_page_cache(ledger.path)
    async with await SqlEventStore.open(ledger.path) as store:
        figures = await interleaved(
            {
                "plain scan, decode only": lambda: plain_scan(store),
                "read_all pages of 500": lambda: paged_read(store),
                "projection rebuild": lambda: rebuild(store),
            },
            rounds,
            # A pass over a million events takes long enough that the
            # interpreter's warm-up is noise; the file is read ahead instead.
            warmup=False,
        )

    samples = {
        name: report.measured(PART, name, Sample(values, "events/s"))
        for name, values in figures.items()
    }
    report.check(
        PART,
        f"projection rebuild / plain scan, {ledger.events:,} events",
        ratios(samples["projection rebuild"], samples["plain scan, decode only"]),
        0.5,
        Direction.AT_LEAST,
    )


def _warm_page_cache(path: Path) -> None:
    """Read the database file once, so that no pass pays for a cold disk."""
    with path.open("rb") as database:
        while database.read(_READ_CHUNK):
            pass
