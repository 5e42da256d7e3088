"""`loginledger timeline`: the rows follow the interleaving the ledger recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_ledger import Filled, fill_ledger, invoke

# (kind, caller, event) per row, as the JSON format gives them.
Row = tuple[str, str | None, str | None]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill_ledger(tmp_path_factory.mktemp("ledger"))


def timeline_json(
    capsys: pytest.CaptureFixture[str], filled: Filled, name: str
) -> dict[str, Any]:
    outcome = invoke(
        capsys, "timeline", filled.streams[name], "-d", filled.url, "--json"
    )
    assert outcome.code == 0, outcome.err
    data: dict[str, Any] = json.loads(outcome.out)
    return data


def rows(data: dict[str, Any]) -> list[Row]:
    return [(s["kind"], s["caller"], s["event"]) for s in data["steps"]]


def test_timeline_follows_a_held_claim_and_a_parked_duplicate_step_by_step(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A claims and is held at the provider, B arrives and waits, A's session
    lands, B joins: the rows say exactly that, in that order."""
    data = timeline_json(capsys, filled, "contested")
    a, b = "cb-contested-a", "cb-contested-b"

    assert rows(data) == [
        ("event", None, "LoginStarted"),
        ("arrival", a, None),
        ("event", a, "ExchangeClaimed"),
        ("arrival", b, None),
        ("event", a, "CodeExchanged"),
        ("event", a, "SessionStarted"),
        ("event", b, "CallbackAnswered"),
    ]
    steps = data["steps"]
    assert [s["version"] for s in steps] == [1, None, 2, None, 3, 4, 5]
    assert steps[3]["detail"] == f"{a} holds the claim: waits"
    assert steps[3]["at"] == filled.times["contested.b"].isoformat()
    assert [s["waiting"] for s in steps[4:6]] == [[b], [b]]
    assert steps[6]["action"] == f"joined the session {a} started"
    assert [s["state"] for s in steps] == [
        "Pending",
        "Pending",
        "Exchanging",
        "Exchanging",
        "Exchanged",
        "Active",
        "Active",
    ]


def test_timeline_shows_a_caller_that_came_first_losing_the_claim(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """B arrived first but read the stream late; A claimed: the claim row
    shows B losing it, and B joins A's session at the end."""
    data = timeline_json(capsys, filled, "raced")
    a, b = "cb-raced-a", "cb-raced-b"

    assert rows(data) == [
        ("event", None, "LoginStarted"),
        ("arrival", b, None),
        ("arrival", a, None),
        ("event", a, "ExchangeClaimed"),
        ("event", a, "CodeExchanged"),
        ("event", a, "SessionStarted"),
        ("event", b, "CallbackAnswered"),
    ]
    claim = data["steps"][3]
    assert claim["lost"] == [b]
    assert claim["waiting"] == []
    assert data["steps"][2]["waiting"] == [b]


def test_timeline_of_a_session_shows_the_refresh_claimed_once_and_joined(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """Two refresh callers: the first presents the refresh token, the second
    waits for it and gets its tokens."""
    data = timeline_json(capsys, filled, "refreshed")

    assert rows(data)[5:] == [
        ("arrival", "rf-one", None),
        ("event", "rf-one", "RefreshClaimed"),
        ("arrival", "rf-two", None),
        ("event", "rf-one", "TokensRefreshed"),
        ("event", "rf-two", "RefreshAnswered"),
    ]
    refreshed = data["steps"][8]
    assert refreshed["provider"]["request"] == "present the refresh token"
    assert refreshed["waiting"] == ["rf-two"]
    assert data["steps"][9]["detail"] == "joined"
    assert [c["role"] for c in data["callers"]] == ["callback", "refresh", "refresh"]


def test_timeline_shows_a_rejection_where_it_happened(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A callback from another browser is rejected before the rightful one
    logs in."""
    data = timeline_json(capsys, filled, "foreign")

    rejected = data["steps"][2]
    assert (rejected["caller"], rejected["event"]) == (
        "cb-foreign-other",
        "CallbackAnswered",
    )
    assert rejected["detail"] == "wrong_browser"
    assert rejected["state"] == "Pending"


def test_timeline_table_has_a_column_per_caller_in_row_order(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """The table's lines come in the timeline's order, with the callers'
    columns marking claims, waits, losses and joins."""
    outcome = invoke(capsys, "timeline", filled.streams["raced"], "-d", filled.url)
    lines = outcome.out.splitlines()

    header = next(line for line in lines if line.lstrip().startswith("time"))
    assert header.index("cb-raced-b") < header.index("cb-raced-a")
    assert header.index("cb-raced-a") < header.index("event")
    body = [line for line in lines if line.lstrip()[:2].isdigit()]
    assert [_marks(line) for line in body] == [
        ["LoginStarted"],
        ["→ arrives"],
        ["┆", "→ arrives"],
        ["✗ lost", "claims ✓", "ExchangeClaimed"],
        ["┆", "redeemed", "CodeExchanged"],
        ["┆", "session ✓", "SessionStarted"],
        ["joins", "CallbackAnswered"],
    ]


MARKS = ("→ arrives", "┆", "✗ lost", "claims ✓", "redeemed", "session ✓", "joins")
EVENTS = ("LoginStarted", "ExchangeClaimed", "CodeExchanged", "SessionStarted")


def _marks(line: str) -> list[str]:
    """The caller marks and event types of a table line, left to right."""
    known = (*MARKS, *EVENTS, "CallbackAnswered")
    found = [(line.index(mark), mark) for mark in known if mark in line]
    return [mark for _, mark in sorted(found)]


def test_timeline_as_mermaid_is_a_sequence_diagram_of_callers_ledger_and_provider(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """Participants are the callers, the ledger and the provider; the loser's
    conflict and the winner's trip to the provider are drawn."""
    outcome = invoke(
        capsys, "timeline", filled.streams["raced"], "-d", filled.url, "-f", "mermaid"
    )
    lines = [line.strip() for line in outcome.out.splitlines()]

    assert lines[:5] == [
        "sequenceDiagram",
        "participant c1 as cb-raced-b",
        "participant c2 as cb-raced-a",
        "participant ledger",
        "participant provider",
    ]
    claim = lines.index(
        "c2->>ledger: 09:00:07.000 v2 ExchangeClaimed: won the claim to redeem the code"
    )
    assert lines[claim + 1] == "Note over c1: lost the claim to cb-raced-a (conflict)"
    assert lines[claim + 2 : claim + 4] == [
        "c2->>provider: redeem the code",
        "provider-->>c2: tokens",
    ]
    assert not [line for line in lines[1:] if ";" in line.replace("#35;", "")]


@pytest.mark.parametrize("form", ["stream id", "cookie", "session secret", "state"])
def test_timeline_finds_a_stream_by_any_name_an_investigator_holds(
    capsys: pytest.CaptureFixture[str], filled: Filled, form: str
) -> None:
    """A stream id, a session cookie, its secret alone, or the state of the
    callback URL all name the same login."""
    stream_id = filled.streams["contested"]
    session_id = filled.session_ids["contested"]
    names = {
        "stream id": stream_id,
        "cookie": f"{stream_id}.{session_id}",
        "session secret": session_id,
        "state": filled.states["contested"],
    }

    outcome = invoke(capsys, "timeline", names[form], "-d", filled.url, "--json")

    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["stream_id"] == stream_id


def test_timeline_of_an_unknown_name_fails_without_echoing_a_secret(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """A token-shaped value that names nothing is refused in one line that
    does not repeat it."""
    stranger = "A" * 43
    cookie = f"{filled.streams['contested']}.{'B' * 43}"

    by_token = invoke(capsys, "timeline", stranger, "-d", filled.url)
    by_cookie = invoke(capsys, "timeline", cookie, "-d", filled.url)

    assert (by_token.code, by_cookie.code) == (1, 1)
    assert stranger not in by_token.err
    assert "B" * 43 not in by_cookie.err
    assert by_token.err.count("\n") == by_cookie.err.count("\n") == 1
    assert "no login of the ledger" in by_token.err
    assert "holds no session with that secret" in by_cookie.err


def test_timeline_of_a_stream_that_is_not_a_login_lists_its_events(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """A provider session's stream has no callers and no state: its events
    are listed as they are."""
    stream_id = "provider-session:https://idp.test#sid-of-dave"

    outcome = invoke(capsys, "timeline", stream_id, "-d", filled.url, "--json")
    data = json.loads(outcome.out)

    assert [s["event"] for s in data["steps"]] == ["ProviderSessionLinked"]
    assert data["steps"][0]["detail"] == (
        f"login_stream_id {filled.streams['foreign']}"
    )
    assert data["callers"] == []


def test_timeline_output_holds_no_secret(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """No format of any timeline shows a code, token, nonce, verifier, state
    or session id."""
    texts = []
    for stream_id in filled.streams.values():
        for form in ("table", "mermaid", "json"):
            outcome = invoke(
                capsys, "timeline", stream_id, "-d", filled.url, "-f", form
            )
            texts.append(outcome.out + outcome.err)

    leaks = [
        s
        for s in filled.secrets | set(filled.session_ids.values())
        if any(s in text for text in texts)
    ]
    assert leaks == []
