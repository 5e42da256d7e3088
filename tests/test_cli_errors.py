"""Bad input: one line on stderr saying what was wrong and what to do, exit 2
for a wrong command line or configuration, 1 for a failure, never a traceback."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from cli_ledger import Filled, Outcome, copy_ledger, fill_ledger, invoke
from sqlalchemy import create_engine

from loginledger.infrastructure.secrets import SecretBox, generate_config
from loginledger.infrastructure.sql.migrate import alembic_config, head_revision


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill_ledger(tmp_path_factory.mktemp("ledger"))


def assert_one_line(outcome: Outcome, code: int, *words: str) -> None:
    """Exit `code`, and one stderr line with each of `words` and no traceback."""
    assert outcome.code == code, outcome.err
    assert outcome.err.startswith("loginledger: error: ")
    assert outcome.err.count("\n") == 1
    assert "Traceback" not in outcome.err + outcome.out
    for word in words:
        assert word in outcome.err


def set_revision(database: Path, revision: str) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE loginledger_alembic_version SET version_num = ?", (revision,)
        )
    connection.close()


def test_an_unknown_stream_is_a_failure(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A stream id the ledger does not hold: exit 1, naming it and the ledger."""
    outcome = invoke(capsys, "timeline", "login-nope", "-d", filled.url)

    assert_one_line(outcome, 1, "no stream 'login-nope' in the ledger at", filled.url)


@pytest.mark.parametrize("when", ["yesterday", "2026-13-01", "15 minutes"])
def test_a_malformed_time_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], filled: Filled, when: str
) -> None:
    """A time in no accepted form: exit 2, quoting it and the forms accepted."""
    outcome = invoke(
        capsys, "replay", filled.streams["contested"], "--as-of", when, "-d", filled.url
    )

    assert_one_line(outcome, 2, "--as-of", repr(when), "ISO 8601", "15m, 2h")


def test_a_missing_database_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No file at the path given: exit 2, and nothing is created there."""
    missing = tmp_path / "nowhere.db"

    outcome = invoke(capsys, "export", "--since", "1h", "-d", str(missing))

    assert_one_line(outcome, 2, f"no ledger at {missing}", "--database")
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_its_key_file_is_a_failure(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """The keys are never made up: without them, exit 1 and the way out."""
    database = copy_ledger(filled, tmp_path)
    Path(f"{database}.key").unlink()

    outcome = invoke(capsys, "verify", "-d", str(database))

    assert_one_line(outcome, 1, f"no key file at {database}.key", "restore the file")
    assert not Path(f"{database}.key").exists()


def test_a_corrupt_database_is_a_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file that is not SQLite: exit 1, naming the file and the driver's
    error class."""
    database = tmp_path / "ledger.db"
    database.write_bytes(b"this is not a database, whatever its name says" * 50)
    SecretBox.from_key_file(f"{database}.key")

    outcome = invoke(capsys, "timeline", "login-x", "-d", str(database))

    assert_one_line(outcome, 1, f"the database at {database} cannot be read")
    assert "(DatabaseError)" in outcome.err


def test_a_ledger_with_the_wrong_keys_is_a_failure(
    capsys: pytest.CaptureFixture[str],
    filled: Filled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other keys than the ledger's cannot decrypt its events: exit 1, naming
    the field and stream, never a value."""
    monkeypatch.setenv("LOGINLEDGER_SECRET_KEYS", generate_config())

    outcome = invoke(capsys, "timeline", filled.streams["contested"], "-d", filled.url)

    assert_one_line(outcome, 1, "a stored event cannot be read", "cannot be decrypted")


def test_a_database_from_a_newer_loginledger_is_refused(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """A schema revision this code does not know: exit 1, upgrade loginledger;
    `db upgrade` refuses it too."""
    database = copy_ledger(filled, tmp_path)
    set_revision(database, "9999")

    read = invoke(capsys, "timeline", "login-x", "-d", str(database))
    upgrade = invoke(capsys, "db", "upgrade", "-d", str(database))

    assert_one_line(read, 1, "migrated by a newer loginledger", "'9999'")
    assert_one_line(upgrade, 1, "upgrade loginledger to read it")


def test_an_old_database_asks_for_db_upgrade_which_brings_it_up_to_date(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A ledger at the first revision: reading it says to run `db upgrade`;
    after that, it reads."""
    database = tmp_path / "ledger.db"
    SecretBox.from_key_file(f"{database}.key")
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()

    before = invoke(capsys, "export", "--since", "1h", "-d", str(database))
    upgrade = invoke(capsys, "db", "upgrade", "-d", str(database))
    after = invoke(capsys, "export", "--since", "1h", "-d", str(database))

    assert_one_line(before, 1, "run `loginledger db upgrade`", "'0001'")
    assert upgrade.code == 0
    assert upgrade.out.endswith(f"is at schema revision {head_revision()}\n")
    assert after.code == 0


def test_an_unreachable_database_is_a_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL server that is not there: exit 1, without the password."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LOGINLEDGER_SECRET_KEYS", generate_config())
    url = f"postgresql+asyncpg://ledger:hunter2@127.0.0.1:{port}/ledger"

    outcome = invoke(capsys, "timeline", "login-x", "-d", url)

    assert_one_line(outcome, 1, "cannot be read", f"127.0.0.1:{port}")
    assert "hunter2" not in outcome.err


def test_postgresql_without_keys_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared ledger is read with its shared keys, which must be given."""
    monkeypatch.delenv("LOGINLEDGER_SECRET_KEYS", raising=False)

    outcome = invoke(capsys, "verify", "-d", "postgresql://ledger@db.invalid/ledger")

    assert_one_line(outcome, 2, "set LOGINLEDGER_SECRET_KEYS")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["timeline", "x", "-d", "mysql://db/x"], ["unsupported database driver"]),
        (["timeline", "x", "--format", "pdf"], ["--format", "'pdf'"]),
        (["timelines"], ["No such command"]),
        (["replay", "x"], ["--as-of"]),
    ],
)
def test_a_wrong_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], arguments: list[str], words: list[str]
) -> None:
    """Unknown drivers, formats, commands and missing options: exit 2, one line."""
    outcome = invoke(capsys, *arguments)

    assert_one_line(outcome, 2, *words)


def test_no_arguments_prints_the_help_and_no_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`loginledger` alone lists the commands, exits 2, and adds no empty error."""
    outcome = invoke(capsys)

    assert outcome.code == 2
    assert "timeline" in outcome.out + outcome.err
    assert "loginledger: error:" not in outcome.err
