"""What the callback use case tells an operator, and what it never does."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from login_harness import Harness

from loginledger.domain import GrantRejectedError


async def _busy_day(harness: Harness) -> None:
    """Winners, a joiner, a replay, a failure and an abandoned claim."""
    contested = await harness.start_login("login-a")
    held = harness.endpoint.hold_next()
    first = asyncio.create_task(harness.handler.handle(harness.callback(contested)))
    await held.entered.wait()
    second = asyncio.create_task(harness.handler.handle(harness.callback(contested)))
    await harness.store.waiting(1)
    held.release()
    await asyncio.gather(first, second)
    await harness.handler.handle(harness.callback(contested))

    rejected = await harness.start_login("login-b")
    harness.endpoint.fail_next(GrantRejectedError("invalid_grant"))
    await harness.handler.handle(harness.callback(rejected))

    crashed = await harness.start_login("login-c")
    held = harness.endpoint.hold_next()
    claimer = asyncio.create_task(harness.handler.handle(harness.callback(crashed)))
    await held.entered.wait()
    harness.clock.advance(timedelta(minutes=1))
    await harness.handler.handle(harness.callback(crashed))
    held.release()
    await claimer


async def test_logs_never_carry_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """No code, token, verifier, nonce or session id reaches any log record."""
    harness = Harness()

    with caplog.at_level(logging.DEBUG, logger="loginledger"):
        await _busy_day(harness)

    everything = " ".join(
        f"{record.getMessage()} {vars(record)}" for record in caplog.records
    )
    assert caplog.records
    for secret in ("code-of-", "nonce-of-", "verifier-of-", "session-secret-"):
        assert secret not in everything
    assert "access-token" not in everything
    assert "refresh-token" not in everything


async def test_transitions_are_logged_with_stable_event_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each transition is logged at INFO, lost races and failures at WARNING."""
    harness = Harness()

    with caplog.at_level(logging.DEBUG, logger="loginledger"):
        await _busy_day(harness)

    names = {(r.levelname, getattr(r, "event", None)) for r in caplog.records}
    assert ("INFO", "login_started") in names
    assert ("INFO", "exchange_claimed") in names
    assert ("INFO", "session_started") in names
    assert ("WARNING", "login_failed") in names
    assert ("WARNING", "claim_lost") in names
