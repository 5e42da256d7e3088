"""One benchmark run: every part in turn, on SQLite and then PostgreSQL.

SQLite parts work in `<results>/work` (emptied at the start of each run)
and keep their generated databases in `<results>/cache`. PostgreSQL parts
run on the test suite's throwaway server, one fresh database per part.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from loginledger.adapters.bench import append_path, growth, replay
from loginledger.adapters.bench.callbacks import CallbackBench, run_all
from loginledger.adapters.bench.logins import DelayedTokenEndpoint
from loginledger.adapters.bench.naive import NaiveLoginFlow
from loginledger.adapters.bench.postgres_server import running_server
from loginledger.adapters.bench.profiles import Profile
from loginledger.adapters.bench.results import Report, machine_facts
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore, upgrade_database
from loginledger.infrastructure.sql.engine import database_url

PARTS = ("append", "callbacks", "growth", "replay")


@dataclass(frozen=True)
class RunOptions:
    """What to run and where to put it.

    Attributes:
        profile: the sizes.
        results: the directory for results, work files and cached databases.
        postgres: also run parts 1, 2, 3 and 4 on PostgreSQL.
        parts: which of PARTS to run.
        quiet: print nothing while running.
    """

    profile: Profile
    results: Path
    postgres: bool = False
    parts: tuple[str, ...] = PARTS
    quiet: bool = False


async def run_benchmarks(options: RunOptions) -> Report:
    """Run the chosen parts; the report (not yet written to disk)."""
    report = Report(
        options={
            "profile": asdict(options.profile),
            "postgres": options.postgres,
            "parts": list(options.parts),
        },
        quiet=options.quiet,
    )
    load = machine_facts()["Load average at the end (1, 5, 15 min)"]
    report.note(f"load average (1, 5, 15 min) when the run started: {load}")
    work = _fresh_directory(options.results / "work")
    cache = options.results / "cache"

    await _run_sqlite(report, options, work, cache)
    if options.postgres:
        await _run_postgres(report, options)
    return report


async def _run_sqlite(
    report: Report, options: RunOptions, work: Path, cache: Path
) -> None:
    profile = options.profile
    if "append" in options.parts:
        await append_path.run(report, work, profile.appends, profile.append_rounds)
    if "callbacks" in options.parts:
        path = work / "callbacks.db"
        async with open_callback_bench("SQLite", str(path), None) as bench:
            await run_all(report, bench, profile.callbacks)
    if "growth" in options.parts:
        await growth.run_callback_growth(report, cache, profile.growth)
        await growth.run_refresh_growth(report, work, profile.growth)
        await growth.run_memory_growth(report, cache, profile.growth)
    if "replay" in options.parts:
        await replay.run(report, cache, profile.replay_events, profile.replay_rounds)


async def _run_postgres(report: Report, options: RunOptions) -> None:
    # asyncpg comes with the `postgres` extra; SQLite-only runs do without it.
    from loginledger.adapters.bench import postgres_append

    profile = options.profile
    with running_server() as (server, module):
        if "append" in options.parts:
            async with (
                module.fresh_database(server) as ledger_url,
                module.fresh_database(server) as plain_url,
            ):
                await postgres_append.run(
                    report,
                    ledger_url,
                    plain_url,
                    profile.appends,
                    profile.append_rounds,
                )
        if "callbacks" in options.parts:
            async with module.fresh_database(server) as url:
                await upgrade_database(url)
                async with open_callback_bench(
                    "PostgreSQL", url, SecretBox.generate()
                ) as bench:
                    await run_all(report, bench, profile.callbacks)
    skipped = sorted(set(options.parts) - {"append", "callbacks"})
    if skipped:
        report.note(f"measured on SQLite only: {', '.join(skipped)}")


@asynccontextmanager
async def open_callback_bench(
    site: str, location: str, secrets: SecretBox | None
) -> AsyncIterator[CallbackBench]:
    """The ledger's store and the naive flow on one database, closed on exit.

    Args:
        site: the database's name in the results ("SQLite", "PostgreSQL").
        location: a SQLite file path or a PostgreSQL URL (schema up to date).
        secrets: the SecretBox PostgreSQL needs; None for SQLite's key file.
    """
    store = await SqlEventStore.open(location, secrets=secrets)
    naive = await NaiveLoginFlow.open(database_url(location), DelayedTokenEndpoint())
    try:
        yield CallbackBench(site, store, naive, prefix=site.lower())
    finally:
        await naive.close()
        await store.close()


def _fresh_directory(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
