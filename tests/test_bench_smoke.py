"""The benchmarks run end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from postgres_server import PostgresServer, fresh_database

from loginledger.adapters.bench import postgres_append
from loginledger.adapters.bench.__main__ import main
from loginledger.adapters.bench.callbacks import run_all
from loginledger.adapters.bench.profiles import TINY
from loginledger.adapters.bench.results import Report
from loginledger.adapters.bench.runner import (
    RunOptions,
    open_callback_bench,
    run_benchmarks,
)
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import upgrade_database


async def _run_part(part: str, results: Path) -> Report:
    options = RunOptions(TINY, results, parts=(part,), quiet=True)
    return await run_benchmarks(options)


def _check_names(report: Report) -> list[str]:
    return [checked.name for checked in report.checks]


async def test_bench_append_part_compares_the_store_with_both_baselines(
    tmp_path: Path,
) -> None:
    """Part 1 measures every appender and checks its three SQLite targets."""
    report = await _run_part("append", tmp_path)

    measured = {m.name for m in report.measurements}
    assert {"ledger, 1 event", "plain aiosqlite, 1 event"} <= measured
    assert "eventsourcing direct, 2 events" in measured
    assert len(report.checks) == 3
    assert all(ratio > 0 for c in report.checks for ratio in c.ratios)
    assert report.facts[0].value == "1"


async def test_bench_callback_parts_prove_one_redemption_per_storm(
    tmp_path: Path,
) -> None:
    """Parts 2 to 4 run on SQLite and record that each storm redeemed once."""
    report = await _run_part("callbacks", tmp_path)

    parts = {checked.part for checked in report.checks}
    redemptions = [f.value for f in report.facts if f.name == "redemptions per storm"]
    assert parts == {
        "2 whole callback (SQLite)",
        "3 duplicate storm (SQLite)",
        "4 unrelated logins (SQLite)",
    }
    assert len(redemptions) == 1
    assert redemptions[0].startswith("exactly 1 in each of")


async def test_bench_growth_part_covers_size_age_and_memory(tmp_path: Path) -> None:
    """Part 5 checks callback growth, refresh by age and both memory figures."""
    report = await _run_part("growth", tmp_path)

    names = _check_names(report)
    assert len(names) == 4
    assert any(name.startswith("verify_streams memory") for name in names)
    assert any(name.startswith("rebuild memory") for name in names)
    assert list((tmp_path / "cache").glob("ledger-*.db.complete"))


async def test_bench_replay_part_compares_rebuild_with_a_plain_scan(
    tmp_path: Path,
) -> None:
    """Part 6 replays every cached event three ways and checks the rebuild."""
    report = await _run_part("replay", tmp_path)

    assert len(report.measurements) == 3
    assert _check_names(report) == ["projection rebuild / plain scan, 200 events"]


def test_bench_command_line_writes_json_and_markdown(tmp_path: Path) -> None:
    """`python -m loginledger.adapters.bench` writes both result files."""
    status = main(["--tiny", "--only", "replay", "--results", str(tmp_path)])

    document = json.loads((tmp_path / "latest.json").read_text())
    table = (tmp_path / "latest.md").read_text()
    assert status == 0
    assert document["options"]["profile"]["name"] == "tiny"
    assert len(document["checks"]) == 1
    assert "| CPU model |" in table
    assert "projection rebuild / plain scan" in table


@pytest.mark.postgres
async def test_bench_postgres_parts_run_on_the_session_server(
    postgres_server: PostgresServer, postgres_database_url: str
) -> None:
    """Parts 1 to 4 run on PostgreSQL databases of the test server."""
    report = Report(options={}, quiet=True)

    async with fresh_database(postgres_server) as plain_url:
        await postgres_append.run(report, postgres_database_url, plain_url, 16, 1)
    async with fresh_database(postgres_server) as url:
        await upgrade_database(url)
        async with open_callback_bench("PostgreSQL", url, SecretBox.generate()) as b:
            await run_all(report, b, TINY.callbacks)

    parts = {checked.part for checked in report.checks}
    assert parts == {
        "1 append (PostgreSQL)",
        "2 whole callback (PostgreSQL)",
        "3 duplicate storm (PostgreSQL)",
        "4 unrelated logins (PostgreSQL)",
    }
