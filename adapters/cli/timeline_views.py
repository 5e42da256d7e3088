"""A timeline as a terminal table, a Mermaid sequence diagram, or JSON.

The table has one column per caller: the caller's own steps in its column,
`┆` while it is in flight (waiting, or at the provider), `✗ lost` where it
lost a claim. The Mermaid diagram draws the same steps between the callers,
the ledger and the provider, ready to paste into an incident report. JSON
keeps every step with full caller ids, for tools.

Caller ids are long (`cb-` and 32 hex digits); the table and the diagram
show the shortest prefix that still tells the callers apart.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from loginledger.adapters.cli.narration import clock_time
from loginledger.adapters.cli.timeline_steps import Caller, Step, StepKind, Timeline

_SHORT = 11  # "cb-" and 8 hex digits
_IN_FLIGHT = "┆"
_LOST = "✗ lost"
_MERMAID_ESCAPES = {";": ",", "#": "#35;", "<": "#lt;", ">": "#gt;"}


def short_names(callers: tuple[Caller, ...]) -> dict[str, str]:
    """Each caller's shortest distinct prefix, at least `_SHORT` characters."""
    ids = [caller.caller_id for caller in callers]
    length = _SHORT
    while len({i[:length] for i in ids}) < len(ids):
        length += 1
    return {i: i if len(i) <= length else i[:length] + "…" for i in ids}


def _shorten(text: str, names: dict[str, str]) -> str:
    for caller_id, name in names.items():
        text = text.replace(caller_id, name)
    return text


def timeline_table(timeline: Timeline) -> Table:
    """The timeline as a rich table, one column per caller."""
    names = short_names(timeline.callers)
    table = Table(title=_title(timeline), title_justify="left", box=None)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("v", justify="right")
    for caller in timeline.callers:
        table.add_column(names[caller.caller_id], no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("detail")

    for step in timeline.steps:
        table.add_row(
            clock_time(step.at),
            "" if step.version is None else str(step.version),
            *(_cell(step, caller.caller_id) for caller in timeline.callers),
            step.event_type or "",
            step.state,
            _shorten(step.detail, names),
        )
    return table


def _title(timeline: Timeline) -> str:
    day = timeline.steps[0].at.strftime("%Y-%m-%d") if timeline.steps else ""
    state = f"{timeline.state} at version" if timeline.state else "at version"
    return f"{timeline.stream_id}: {state} {timeline.version}, {day}".rstrip(", ")


def _cell(step: Step, caller_id: str) -> str:
    if step.caller == caller_id:
        return step.cell
    if caller_id in step.lost:
        return _LOST
    if caller_id in step.waiting:
        return _IN_FLIGHT
    return ""


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """The timeline as JSON-compatible data, full caller ids included."""
    return {
        "stream_id": timeline.stream_id,
        "version": timeline.version,
        "state": timeline.state,
        "callers": [
            {
                "id": caller.caller_id,
                "role": caller.role,
                "arrived_at": caller.arrived_at.isoformat()
                if caller.arrived_at
                else None,
            }
            for caller in timeline.callers
        ],
        "steps": [_step_json(step) for step in timeline.steps],
    }


def _step_json(step: Step) -> dict[str, Any]:
    provider = None
    if step.provider_request is not None:
        provider = {"request": step.provider_request, "answer": step.provider_answer}
    return {
        "at": step.at.isoformat(),
        "kind": step.kind.value,
        "version": step.version,
        "caller": step.caller,
        "event": step.event_type,
        "action": step.action,
        "detail": step.detail,
        "state": step.state,
        "waiting": list(step.waiting),
        "lost": list(step.lost),
        "provider": provider,
    }


def timeline_mermaid(timeline: Timeline) -> str:
    """The timeline as a Mermaid sequenceDiagram."""
    names = short_names(timeline.callers)
    aliases = _aliases(timeline.callers)
    lines = ["sequenceDiagram"]
    for caller in timeline.callers:
        label = _escape(names[caller.caller_id])
        lines.append(f"    participant {aliases[caller.caller_id]} as {label}")
    lines += ["    participant ledger", "    participant provider"]
    lines.append(f"    Note over ledger: {_escape(_title(timeline))}")

    for step in timeline.steps:
        for head, text in _mermaid_step(step, aliases):
            lines.append(f"    {head}: {_escape(_shorten(text, names))}")
    return "\n".join(lines) + "\n"


def _aliases(callers: tuple[Caller, ...]) -> dict[str, str]:
    """Mermaid participant ids: c1, c2… for callbacks, r1, r2… for refreshes."""
    aliases: dict[str, str] = {}
    for caller in callers:
        prefix = "c" if caller.role == "callback" else "r"
        number = sum(a.startswith(prefix) for a in aliases.values()) + 1
        aliases[caller.caller_id] = f"{prefix}{number}"
    return aliases


def _mermaid_step(step: Step, aliases: dict[str, str]) -> list[tuple[str, str]]:
    """The statements of one step, as (head, text) pairs."""
    when = clock_time(step.at)
    if step.kind is StepKind.ARRIVAL and step.caller is not None:
        note = f"Note over {aliases[step.caller]}"
        return [(note, f"{when} arrives, {step.detail}")]
    event = f"v{step.version} {step.event_type}"
    if step.caller is None:
        state = f" ({step.state})" if step.state else ""
        return [("Note over ledger", f"{when} {event}{state} {step.detail}")]

    actor = aliases[step.caller]
    lines = []
    if step.provider_request is not None:
        lines.append((f"{actor}->>provider", step.provider_request))
        lines.append((f"provider-->>{actor}", step.provider_answer or ""))
    lines.append((f"{actor}->>ledger", f"{when} {event}: {step.action}"))
    lines += [
        (f"Note over {aliases[loser]}", f"lost the claim to {step.caller} (conflict)")
        for loser in step.lost
    ]
    return lines


def _escape(text: str) -> str:
    """`text` safe inside one Mermaid statement."""
    for raw, escaped in _MERMAID_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text.strip()
