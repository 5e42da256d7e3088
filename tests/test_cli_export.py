"""`loginledger export`: JSON Lines for a SIEM, in global order, secrets left out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_ledger import Filled, fill_ledger, invoke

from loginledger.domain.events import event_class, secret_fields


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill_ledger(tmp_path_factory.mktemp("ledger"))


def lines_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_export_writes_every_event_once_in_global_order(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """Since before the first event: every event, positions rising, each
    line with its stream, version, type, time and payload."""
    since = (filled.times["contested.started"] - timedelta(seconds=1)).isoformat()

    outcome = invoke(capsys, "export", "--since", since, "-d", filled.url)
    lines = lines_of(outcome.out)

    assert outcome.code == 0, outcome.err
    positions = [line["position"] for line in lines]
    assert positions == sorted(set(positions))
    assert len(lines) == 26
    assert set(lines[0]) == {
        "position",
        "stream_id",
        "version",
        "type",
        "time",
        "payload",
    }
    assert (lines[0]["stream_id"], lines[0]["version"], lines[0]["type"]) == (
        filled.streams["contested"],
        1,
        "LoginStarted",
    )
    assert outcome.err == "exported 26 events to stdout\n"


def test_export_leaves_secret_fields_out_of_every_payload(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """No payload has a field its event type declares secret, and no value
    anywhere is a secret of the ledger."""
    outcome = invoke(capsys, "export", "--since", "2026-01-01", "-d", filled.url)
    lines = lines_of(outcome.out)

    for line in lines:
        hidden = secret_fields(event_class(line["type"]))
        assert not hidden & set(line["payload"]), line["type"]
    assert (
        "subject" in next(x for x in lines if x["type"] == "CodeExchanged")["payload"]
    )
    secrets = filled.secrets | set(filled.session_ids.values())
    assert [s for s in secrets if s in outcome.out] == []


def test_export_keeps_to_the_window_it_is_given(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """--since and --until bound the events by the time they were recorded."""
    since = filled.times["refreshed.r1"].isoformat()
    until = filled.times["refreshed.released"].isoformat()

    outcome = invoke(
        capsys, "export", "--since", since, "--until", until, "-d", filled.url
    )

    assert [line["type"] for line in lines_of(outcome.out)] == [
        "RefreshClaimed",
        "TokensRefreshed",
        "RefreshAnswered",
    ]


def test_export_to_a_file_appears_whole(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """--output writes the file under its name once complete, nothing beside it."""
    target = tmp_path / "siem.jsonl"

    outcome = invoke(
        capsys, "export", "--since", "2026-01-01", "-o", str(target), "-d", filled.url
    )

    assert outcome.code == 0, outcome.err
    assert outcome.out == ""
    assert len(lines_of(target.read_text())) == 26
    assert sorted(p.name for p in tmp_path.iterdir()) == ["siem.jsonl"]


def test_export_refuses_a_window_that_ends_before_it_starts(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """--until before --since is a usage error: exit 2, one line."""
    outcome = invoke(
        capsys, "export", "--since", "1h", "--until", "2h", "-d", filled.url
    )

    assert outcome.code == 2
    assert outcome.err.startswith("loginledger: error: --until (")
    assert outcome.err.count("\n") == 1
