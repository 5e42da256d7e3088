"""The throwaway PostgreSQL server of the test suite, borrowed for the bench.

`make bench PG=1` starts PostgreSQL exactly as the tests do: the test
suite's own `tests/postgres_server.py` is loaded from the source tree (it is
a plain module of the tests, not part of the installed package), so the
server runs with the same settings, under the same unprivileged account,
in a temporary directory deleted afterwards. Those settings turn `fsync` and
`synchronous_commit` off: commits cost no disk flush, so the figures show
the client's and the server's work, not the disk's.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

import loginledger

_MODULE_NAME = "loginledger_bench_postgres_server"


class BenchSetupError(RuntimeError):
    """Something the benchmarks need is missing from this machine or checkout."""


class Server(Protocol):
    """What the bench uses of the test suite's `PostgresServer`."""

    def start(self) -> None:
        """Create the cluster and start the server."""
        ...

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        ...


class _ServerModule(Protocol):
    def find_server_binaries(self) -> Path | None: ...

    def PostgresServer(self, bin_dir: Path) -> Server: ...  # noqa: N802 - a class

    def fresh_database(self, server: Server) -> AbstractAsyncContextManager[str]: ...


def server_module_path() -> Path:
    """Where the test suite's server module sits in a source checkout."""
    return Path(loginledger.__file__).resolve().parent / "tests" / "postgres_server.py"


def _load() -> _ServerModule:
    path = server_module_path()
    if not path.is_file():
        msg = (
            f"the PostgreSQL benchmarks start the test suite's throwaway server "
            f"from {path}, which is missing: run them from a source checkout"
        )
        raise BenchSetupError(msg)
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        msg = f"{path} cannot be loaded as a Python module"
        raise BenchSetupError(msg)
    module: ModuleType = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up while the module is being executed.
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as error:
        del sys.modules[_MODULE_NAME]
        msg = f"{path} needs {error.name}: install the test extra (`.[test]`)"
        raise BenchSetupError(msg) from error
    return cast(_ServerModule, module)


@contextmanager
def running_server() -> Iterator[tuple[Server, _ServerModule]]:
    """A started throwaway server, stopped and deleted on exit.

    Raises:
        BenchSetupError: the server module or the PostgreSQL binaries are
            missing.
    """
    module = _load()
    bin_dir = module.find_server_binaries()
    if bin_dir is None:
        msg = (
            "the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not "
            "found; install them (`apt-get install postgresql`) or put them on PATH"
        )
        raise BenchSetupError(msg)
    server = module.PostgresServer(bin_dir)
    server.start()
    try:
        yield server, module
    finally:
        server.stop()
