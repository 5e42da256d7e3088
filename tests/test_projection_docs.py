"""docs/sessions.md keeps its generated lifecycle and event reference in step
with the code that generates them."""

from __future__ import annotations

from pathlib import Path

import pytest

from loginledger.domain.events import event_types, secret_fields
from loginledger.infrastructure.projections.event_reference import (
    BEGIN,
    END,
    GeneratedSectionError,
    generated_section,
    main,
    render,
    replace_section,
)

SESSIONS_DOC = Path(__file__).resolve().parents[1] / "docs" / "sessions.md"


def test_sessions_doc_holds_the_generated_event_reference() -> None:
    """The section between the markers is exactly what the generator writes;
    if not, run the generator with --write."""
    document = SESSIONS_DOC.read_text("utf-8")

    assert generated_section(document) == render()


def test_event_reference_lists_every_domain_event_and_secret_field() -> None:
    """Each event type of the domain has a section, and each secret field is
    marked secret in its table."""
    reference = render()

    domain_events = [
        event
        for event in event_types().values()
        if event.__module__.startswith("loginledger.domain.")
    ]
    assert domain_events
    for event in domain_events:
        assert f"#### {event.__name__}\n" in reference
        section = reference.split(f"#### {event.__name__}\n")[1].split("####")[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        marked = {row.split("`")[1] for row in rows if "**secret**" in row}
        assert marked == secret_fields(event)


def test_event_reference_diagram_follows_the_state_machine() -> None:
    """The diagram has the transitions of a login, and Failed and Ended end it."""
    reference = render()

    assert "    [*] --> Pending: LoginStarted\n" in reference
    assert "    Exchanged --> Active: SessionStarted\n" in reference
    assert "    Refreshing --> Active: TokensRefreshed, RefreshFailed\n" in reference
    assert "    Failed --> [*]\n" in reference
    assert "    Ended --> [*]\n" in reference


def test_check_fails_on_a_stale_document_until_it_is_written(tmp_path: Path) -> None:
    """--check exits 1 on a stale copy; after --write it exits 0."""
    stale = tmp_path / "sessions.md"
    stale.write_text(f"# Title\n\n{BEGIN}\nold text\n{END}\n\nAfter.\n", "utf-8")

    before = main(["--check", str(stale)])
    main(["--write", str(stale)])
    after = main(["--check", str(stale)])

    assert (before, after) == (1, 0)
    text = stale.read_text("utf-8")
    assert text.startswith("# Title\n\n")
    assert text.endswith(f"{END}\n\nAfter.\n")
    assert "old text" not in text


def test_generated_section_needs_both_markers() -> None:
    """A document without the markers is refused, naming them."""
    with pytest.raises(GeneratedSectionError, match="BEGIN GENERATED"):
        generated_section("# No markers here\n")
    with pytest.raises(GeneratedSectionError):
        replace_section(f"{END}\n{BEGIN}\n", "section\n")
