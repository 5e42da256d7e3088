"""Several OS processes, one database: still one redemption and one session.

Each worker (tests/ledger_worker.py) is a separate Python process with its
own store and LoginCallbackHandler, as separate application instances would
be. The duplicate callbacks of each login are sent to different processes.
On PostgreSQL the workers never poll (an hour between polls), so a waiter in
one process can only be woken by the other's NOTIFY; on SQLite they poll.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from store_backends import StoreOpener

from loginledger.domain.events import CodeExchanged, SessionStarted
from loginledger.domain.start import LoginRequest, LoginStarter
from loginledger.testing import FakeClock

WORKER = Path(__file__).with_name("ledger_worker.py")
LIMIT_SECONDS = 120
BINDING = "binding-of-the-one-browser"
Event = dict[str, Any]


class WorkerProcess:
    """A running worker, its stdin for commands and its stdout for events."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self._process = process
        self._events: list[Event] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, name: str, location: str, secrets: str, poll_seconds: float, log: Path
    ) -> WorkerProcess:
        """Start the worker and wait until its store is open."""
        with log.open("wb") as stderr:  # the child keeps its own copy
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                location,
                str(poll_seconds),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        worker = cls(name, process)
        await worker.send({"secrets": secrets})
        await worker.expect(lambda event: event["event"] == "ready")
        return worker

    async def send(self, command: Event) -> None:
        """Write one command line."""
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        await self._process.stdin.drain()

    async def expect(self, matches: Callable[[Event], bool]) -> Event:
        """The first event (taken off the list) that `matches`, once it arrives."""
        async with self._arrived:
            await self._arrived.wait_for(
                lambda: any(matches(e) for e in self._events) or self._reader.done()
            )
            for event in self._events:
                if matches(event):
                    self._events.remove(event)
                    return event
        msg = f"worker {self.name} ended without the expected event"
        raise AssertionError(msg)

    async def done(self, callback_id: str) -> Event:
        """The result of one callback."""
        event = await self.expect(
            lambda e: e["event"] == "done" and e["callback_id"] == callback_id
        )
        result: Event = event["result"]
        return result

    async def redeemed_codes(self) -> list[str]:
        """The codes this process presented to its token endpoint."""
        return list((await self._report())["codes"])

    async def waits(self) -> dict[str, int]:
        """How many waits for an append were woken, and how many timed out."""
        return dict((await self._report())["waits"])

    async def _report(self) -> Event:
        await self.send({"op": "redemptions"})
        return await self.expect(lambda e: e["event"] == "redemptions")

    async def stop(self) -> None:
        """Ask the worker to exit; kill it if it cannot."""
        if self._process.returncode is None:
            try:
                await self.send({"op": "exit"})
                async with asyncio.timeout(LIMIT_SECONDS):
                    await self._process.wait()
            except (TimeoutError, ConnectionError):
                self._process.kill()
                await self._process.wait()
        await self._reader

    async def _read(self) -> None:
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            async with self._arrived:
                self._events.append(json.loads(line))
                self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> StoreOpener:
    """The test's own store on the database the workers share."""
    if request.param == "postgres":
        return StoreOpener("postgres", request.getfixturevalue("postgres_database_url"))
    return StoreOpener("sqlite", str(tmp_path / "ledger.db"))


@pytest.fixture
async def workers(
    opener: StoreOpener, tmp_path: Path
) -> AsyncIterator[tuple[WorkerProcess, WorkerProcess]]:
    """Two worker processes on the test's database, stopped afterwards."""
    await opener.open_sql()  # creates or checks the schema before they start
    poll_seconds = 3600.0 if opener.kind == "postgres" else 0.05
    config = opener.secrets.export_config()
    started = await asyncio.gather(
        *(
            WorkerProcess.start(
                name, opener.location, config, poll_seconds, tmp_path / f"{name}.log"
            )
            for name in ("first", "second")
        )
    )
    yield started[0], started[1]
    await asyncio.gather(*(worker.stop() for worker in started))
    await opener.close_all()


def callback(stream_id: str, callback_id: str) -> dict[str, str]:
    """A duplicate callback of `stream_id`'s login, as a worker command takes it."""
    return {
        "stream_id": stream_id,
        "callback_id": callback_id,
        "code": f"code-of-{stream_id}",
        "browser_binding": BINDING,
        "new_session_id": f"session-{callback_id}",
    }


async def start_logins(opener: StoreOpener, stream_ids: list[str]) -> None:
    """Record the logins' start, as the instance that sent the browsers did."""
    starter = LoginStarter(await opener.open_sql(), FakeClock(datetime.now(UTC)))
    for stream_id in stream_ids:
        await starter.start(
            LoginRequest(
                stream_id=stream_id,
                redirect_uri="https://app.test/callback",
                nonce=f"nonce-{stream_id}",
                pkce_verifier=f"verifier-{stream_id}",
                browser_binding=BINDING,
            )
        )


async def recorded_counts(opener: StoreOpener, stream_id: str) -> Counter[str]:
    """How many events of each type `stream_id` holds."""
    store = await opener.open_sql()
    loaded = await store.load(stream_id)
    return Counter(type(event).__name__ for event in loaded.domain_events())


async def test_duplicate_in_another_process_waits_for_the_redemption(
    opener: StoreOpener, workers: tuple[WorkerProcess, WorkerProcess]
) -> None:
    """A duplicate parked in one process is woken by the other's session."""
    first, second = workers
    await start_logins(opener, ["login"])

    async with asyncio.timeout(LIMIT_SECONDS):
        await first.send(
            {"op": "handle", "callbacks": [callback("login", "a")], "hold": True}
        )
        await first.expect(lambda e: e["event"] == "redeeming")
        await second.send({"op": "report_waiting", "count": 1})
        await second.send({"op": "handle", "callbacks": [callback("login", "b")]})
        await second.expect(lambda e: e["event"] == "waiting")
        await first.send({"op": "release", "callback_id": "a"})
        claimer, duplicate = await first.done("a"), await second.done("b")
        redeemed = await first.redeemed_codes() + await second.redeemed_codes()
        waits = await second.waits()

    assert claimer == {
        "kind": "SessionGranted",
        "session_id": "session-a",
        "redeemed_here": True,
        "outcome": None,
    }
    assert duplicate == {
        "kind": "SessionGranted",
        "session_id": "session-a",
        "redeemed_here": False,
        "outcome": "joined",
    }
    assert redeemed == ["code-of-login"]
    assert waits["woken"] >= 1
    assert waits["timed_out"] == 0  # woken by the append, not by giving up
    counts = await recorded_counts(opener, "login")
    assert (counts[CodeExchanged.__name__], counts[SessionStarted.__name__]) == (1, 1)


async def test_many_logins_split_across_processes_redeem_each_code_once(
    opener: StoreOpener, workers: tuple[WorkerProcess, WorkerProcess]
) -> None:
    """Every login's two callbacks race in two processes: one redemption each."""
    first, second = workers
    stream_ids = [f"login-{number}" for number in range(20)]
    await start_logins(opener, stream_ids)

    async with asyncio.timeout(LIMIT_SECONDS):
        await asyncio.gather(
            first.send(
                {
                    "op": "handle",
                    "callbacks": [callback(s, f"{s}-a") for s in stream_ids],
                }
            ),
            second.send(
                {
                    "op": "handle",
                    "callbacks": [callback(s, f"{s}-b") for s in stream_ids],
                }
            ),
        )
        results = {
            s: (await first.done(f"{s}-a"), await second.done(f"{s}-b"))
            for s in stream_ids
        }
        redeemed = await first.redeemed_codes() + await second.redeemed_codes()

    assert sorted(redeemed) == sorted(f"code-of-{s}" for s in stream_ids)
    for stream_id, (one, other) in results.items():
        assert (one["kind"], other["kind"]) == ("SessionGranted", "SessionGranted")
        assert one["session_id"] == other["session_id"]
        assert [one["redeemed_here"], other["redeemed_here"]].count(True) == 1
        counts = await recorded_counts(opener, stream_id)
        assert (counts[CodeExchanged.__name__], counts[SessionStarted.__name__]) == (
            1,
            1,
        )
