"""A throwaway PostgreSQL server for the tests, listening on 127.0.0.1 only.

`PostgresServer` runs `initdb` into a fresh temporary directory, starts the
server with `pg_ctl` on a free port, and on `stop` shuts it down and deletes
the directory. Nothing outside that directory is touched: no system service,
no cluster registered with the distribution's tools.

PostgreSQL refuses to run as root (the server would own every file it can
write), and CI runs as root. So when the tests run as root, every PostgreSQL
command runs as an unprivileged account (`postgres` where the package created
it, else `nobody`), which owns the temporary directory.

Authentication is `trust` for the superuser `postgres`: the server listens on
the loopback interface and a socket in a private directory, and lives only as
long as the test session.

pytest-postgresql does much the same, but it runs `pg_ctl` as the invoking
user with no way to drop privileges, so under root its `initdb` fails; and
it brings psycopg along only to manage the databases.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

INSTALL_HINT = (
    "the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found "
    "on PATH nor in /usr/lib/postgresql/*/bin; install them with "
    "`apt-get install postgresql` (Debian/Ubuntu) or put their directory on PATH"
)
SUPERUSER = "postgres"
MAINTENANCE_DATABASE = "postgres"
DEBIAN_ROOT = Path("/usr/lib/postgresql")
REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres")
COMMAND_TIMEOUT_SECONDS = 120
START_ATTEMPTS = 3

# Durability is pointless for a server deleted at the end of the session, and
# turning it off makes CREATE DATABASE and commits much cheaper.
_THROWAWAY_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresServerError(RuntimeError):
    """The throwaway server could not be set up, started or stopped."""


def find_server_binaries(
    path: str | None = None, debian_root: Path = DEBIAN_ROOT
) -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None.

    PATH wins, so a developer can pick a version; then Debian's
    /usr/lib/postgresql/<version>/bin, newest version first.
    """
    search_path = os.environ.get("PATH", "") if path is None else path
    initdb = shutil.which("initdb", path=search_path)
    candidates = [Path(initdb).resolve().parent] if initdb else []
    candidates += sorted(
        debian_root.glob("*/bin"), key=_version_of_bin_dir, reverse=True
    )
    return next((bin_dir for bin_dir in candidates if _has_programs(bin_dir)), None)


def _version_of_bin_dir(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def _has_programs(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in REQUIRED_PROGRAMS)


def require_server_binaries(environ: Mapping[str, str] | None = None) -> Path:
    """The server binaries' directory; skips the test, or fails it on CI.

    On CI (`CI=true`) a missing server must not pass as a skip: the tests
    that need it would silently stop running.
    """
    bin_dir = find_server_binaries()
    if bin_dir is not None:
        return bin_dir
    return missing_server(environ if environ is not None else os.environ)


def missing_server(environ: Mapping[str, str]) -> NoReturn:
    """Skip the current test for lack of a server, or fail it when on CI."""
    if environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"CI=true and {INSTALL_HINT}", pytrace=False)
    pytest.skip(INSTALL_HINT)


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int


def _unprivileged_account() -> _Account | None:
    """The account to run PostgreSQL as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _Account(entry.pw_uid, entry.pw_gid)
    msg = "running as root, and neither a 'postgres' nor a 'nobody' account exists"
    raise PostgresServerError(msg)


def _free_port() -> int:
    # The port may be taken again before the server binds it; start() retries
    # with another port when that happens.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL server in a temporary directory, for one test session."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = 0
        self._account = _unprivileged_account()
        self._workdir: Path | None = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PostgresServer(bin_dir={str(self.bin_dir)!r}, port={self.port})"

    def url(self, database: str = MAINTENANCE_DATABASE) -> str:
        """A SQLAlchemy asyncpg URL for `database` on this server."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Create the cluster and start the server on a free port.

        Raises:
            PostgresServerError: initdb or every start attempt failed; the
                message carries the end of the server's log. Whatever was
                created is removed first.
        """
        self._workdir = self._make_workdir()
        try:
            self._initdb()
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server, if it runs, and delete its directory."""
        if self._workdir is None:
            return
        if (self._data_dir / "postmaster.pid").exists():
            stopped = self._run_pg_ctl("stop", "-m", "fast", check=False)
            if stopped.returncode != 0:
                self._run_pg_ctl("stop", "-m", "immediate", check=False)
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    @property
    def _data_dir(self) -> Path:
        return self._dir / "data"

    @property
    def _log_file(self) -> Path:
        return self._dir / "server.log"

    @property
    def _dir(self) -> Path:
        if self._workdir is None:
            msg = "the PostgreSQL server has not been started"
            raise PostgresServerError(msg)
        return self._workdir

    def _make_workdir(self) -> Path:
        workdir = Path(tempfile.mkdtemp(prefix="loginledger-pg-"))
        if self._account is not None:
            os.chown(workdir, self._account.uid, self._account.gid)
        return workdir

    def _initdb(self) -> None:
        self._run(
            "initdb",
            [
                *("-D", str(self._data_dir), "-U", SUPERUSER, "--auth=trust"),
                *("-E", "UTF8", "--locale=C", "--no-sync"),
            ],
        )
        settings = dict(_THROWAWAY_SETTINGS, unix_socket_directories=str(self._dir))
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# Written by the loginledger test suite.\n")
            for name, value in settings.items():
                quoted = value.replace("'", "''")
                conf.write(f"{name} = '{quoted}'\n")

    def _start_on_a_free_port(self) -> None:
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = _free_port()
            if self._pg_ctl_start():
                return
            if attempt == START_ATTEMPTS or not self._lost_port_race():
                break
        msg = f"PostgreSQL did not start; end of its log:\n{self._log_tail()}"
        raise PostgresServerError(msg)

    def _pg_ctl_start(self) -> bool:
        started = self._run_pg_ctl(
            "start", "-l", str(self._log_file), "-o", f"-p {self.port}", check=False
        )
        return started.returncode == 0

    def _lost_port_race(self) -> bool:
        return "could not bind" in self._log_tail()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            log = self._log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log was written)"
        return "\n".join(log.splitlines()[-lines:])

    def _run_pg_ctl(
        self, action: str, *args: str, check: bool
    ) -> subprocess.CompletedProcess[str]:
        wait = ["-w", "-t", str(COMMAND_TIMEOUT_SECONDS)]
        return self._run(
            "pg_ctl", [action, "-D", str(self._data_dir), *wait, *args], check=check
        )

    def _run(
        self, program: str, args: Sequence[str], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        account = self._account
        # A clean environment: PG* variables from the host must not redirect
        # the commands to another cluster. The working directory is ours,
        # because the unprivileged account may not be able to enter the
        # caller's.
        completed = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self._dir,
            env={"PATH": os.defpath, "LC_ALL": "C", "TZ": "UTC"},
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if check and completed.returncode != 0:
            msg = (
                f"{program} {' '.join(args)} exited with {completed.returncode}:\n"
                f"{completed.stderr.strip()}"
            )
            raise PostgresServerError(msg)
        return completed


@contextlib.asynccontextmanager
async def fresh_database(server: PostgresServer) -> AsyncIterator[str]:
    """Create an empty database with a unique name; drop it on exit.

    Yields:
        The new database's SQLAlchemy asyncpg URL.
    """
    name = f"test_{uuid.uuid4().hex[:20]}"
    await _run_outside_transaction(server, f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        # FORCE closes the connections a test left open to the database.
        statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        await _run_outside_transaction(server, statement)


async def _run_outside_transaction(server: PostgresServer, statement: str) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction block.
    engine = create_async_engine(server.url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
