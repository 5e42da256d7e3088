"""`loginledger replay`: a login as it stood at a moment, without its secrets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from cli_ledger import Filled, fill_ledger, invoke


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill_ledger(tmp_path_factory.mktemp("ledger"))


def replay_json(
    capsys: pytest.CaptureFixture[str], filled: Filled, name: str, as_of: datetime
) -> dict[str, Any]:
    outcome = invoke(
        capsys,
        "replay",
        filled.streams[name],
        "--as-of",
        as_of.isoformat(),
        "-d",
        filled.url,
        "--json",
    )
    assert outcome.code == 0, outcome.err
    data: dict[str, Any] = json.loads(outcome.out)
    return data


def test_replay_while_the_claimer_is_at_the_provider_shows_its_claim(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """Between the claim and the session, the login is Exchanging, held by
    the claimer, with no identity yet."""
    moment = filled.times["contested.b"]

    data = replay_json(capsys, filled, "contested", moment)

    assert (data["state"], data["version"], data["latest_version"]) == (
        "Exchanging",
        2,
        5,
    )
    assert data["claim"]["callback_id"] == "cb-contested-a"
    assert "identity" not in data
    assert "session" not in data


def test_replay_after_the_session_started_shows_who_and_since_when(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """Once released, the login is Active for its subject; the refresh token
    is said to be held, never shown."""
    moment = filled.times["contested.released"]

    data = replay_json(capsys, filled, "contested", moment)

    assert (data["state"], data["version"]) == ("Active", 5)
    assert data["identity"]["subject"] == "alice"
    assert data["session"]["started_by"] == "cb-contested-a"
    assert data["tokens"]["refresh_token"] == "held"


def test_replay_of_a_session_mid_refresh_names_the_refresher(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """While the first refresher is at the provider, the session is
    Refreshing and the claim is its."""
    moment = filled.times["refreshed.r2"]

    data = replay_json(capsys, filled, "refreshed", moment)

    assert data["state"] == "Refreshing"
    assert data["refresh_claim"]["refresher_id"] == "rf-one"


def test_replay_of_a_failed_login_gives_the_reason(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A login the provider refused is Failed, with the provider's reason."""
    moment = filled.times["rejected.a"] + timedelta(minutes=1)

    data = replay_json(capsys, filled, "rejected", moment)

    assert data["state"] == "Failed"
    assert data["failure"]["reason"] == "provider_rejected"
    assert data["failure"]["callback_id"] == "cb-rejected-a"


def test_replay_before_the_login_began_is_not_started(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A moment before the first event folds nothing."""
    moment = filled.times["contested.started"] - timedelta(seconds=1)

    data = replay_json(capsys, filled, "contested", moment)

    assert (data["state"], data["version"]) == ("NotStarted", 0)


def test_replay_table_shows_no_secret(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """The table of every login at its end holds no secret."""
    texts = []
    for name in filled.streams:
        outcome = invoke(
            capsys, "replay", filled.streams[name], "--as-of", "now", "-d", filled.url
        )
        assert outcome.code == 0, outcome.err
        texts.append(outcome.out)

    assert "alice" in texts[0]
    secrets = filled.secrets | set(filled.session_ids.values())
    assert [s for s in secrets if any(s in text for text in texts)] == []


def test_replay_refuses_a_stream_that_is_not_a_login(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A provider session's stream cannot be folded as a login: one line, exit 1."""
    stream_id = "provider-session:https://idp.test#sid-of-dave"

    outcome = invoke(capsys, "replay", stream_id, "--as-of", "now", "-d", filled.url)

    assert outcome.code == 1
    assert outcome.err.startswith("loginledger: error: stream ")
    assert "is not a login (it starts with ProviderSessionLinked)" in outcome.err
