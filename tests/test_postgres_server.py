"""The throwaway PostgreSQL server that the tests start for themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from postgres_server import (
    INSTALL_HINT,
    PostgresServer,
    find_server_binaries,
    fresh_database,
    missing_server,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

_COUNT_TABLES = "select count(*) from pg_tables where schemaname = 'public'"


async def _scalar(url: str, query: str, **params: object) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(query), params)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
async def other_database_url(
    postgres_server: PostgresServer,
) -> AsyncIterator[str]:
    """A second fresh database, made the way `postgres_database_url` makes one."""
    async with fresh_database(postgres_server) as url:
        yield url


@pytest.mark.postgres
async def test_postgres_server_answers_through_sqlalchemy_and_asyncpg(
    postgres_url: str,
) -> None:
    """The session's server accepts asyncpg connections made by SQLAlchemy."""
    version = await _scalar(postgres_url, "select version()")

    assert isinstance(version, str)
    assert version.startswith("PostgreSQL ")


@pytest.mark.postgres
async def test_postgres_database_url_is_a_distinct_empty_database(
    postgres_database_url: str, other_database_url: str
) -> None:
    """Two fresh databases differ, start empty, and do not share tables."""
    await _scalar(postgres_database_url, "create table marker (id int)")

    first = await _scalar(postgres_database_url, "select current_database()")
    second = await _scalar(other_database_url, "select current_database()")
    tables_in_second = await _scalar(other_database_url, _COUNT_TABLES)

    assert first == _database_name(postgres_database_url)
    assert second == _database_name(other_database_url)
    assert first != second
    assert tables_in_second == 0


@pytest.mark.postgres
async def test_fresh_database_is_dropped_on_exit(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """Leaving `fresh_database` drops it, even with a connection still open."""
    async with fresh_database(postgres_server) as url:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.execute(text("select 1"))
            name = _database_name(url)
    await engine.dispose()

    remaining = await _scalar(
        postgres_url,
        "select count(*) from pg_database where datname = :name",
        name=name,
    )

    assert remaining == 0


def _fake_bin_dir(root: Path, version: str) -> Path:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "postgres"):
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    return bin_dir


def test_find_server_binaries_prefers_the_newest_debian_version(
    tmp_path: Path,
) -> None:
    """Without binaries on PATH, the highest /usr/lib/postgresql/<v> wins."""
    _fake_bin_dir(tmp_path, "9.6")
    newest = _fake_bin_dir(tmp_path, "16")
    _fake_bin_dir(tmp_path, "15")

    found = find_server_binaries(path="", debian_root=tmp_path)

    assert found == newest


def test_find_server_binaries_returns_none_where_none_are_installed(
    tmp_path: Path,
) -> None:
    """No binaries on PATH nor under the Debian root means None."""
    (tmp_path / "15" / "bin").mkdir(parents=True)

    assert find_server_binaries(path="", debian_root=tmp_path) is None


def test_missing_server_skips_with_the_install_instruction() -> None:
    """Outside CI a missing server skips, saying how to install it."""
    with pytest.raises(pytest.skip.Exception) as skipped:
        missing_server({})

    assert "apt-get install postgresql" in str(skipped.value)


def test_missing_server_fails_the_run_on_ci() -> None:
    """With CI=true a missing server fails, with the same instruction."""
    with pytest.raises(pytest.fail.Exception) as failed:
        missing_server({"CI": "true"})

    assert INSTALL_HINT in str(failed.value)
