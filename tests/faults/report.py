"""docs/reliability.md: one row per scenario, from one run of the fault suite."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import UTC, datetime

from tests.faults.scenarios import Outcome

HEADER = (
    "| scenario | injected | events in | stored | dead-lettered | lost | duplicated "
    "| totals off | stall s | 5xx |"
)


def row(o: Outcome) -> str:
    b = o.books
    events_in = f"{o.sent:,}" + (f" + {o.hostile} refusals due" if o.hostile else "")
    if b is None:  # a scenario of requests only
        return f"| {o.scenario} | {o.injected} | - | - | - | - | - | - | - | {o.http_5xx} |"
    return (
        f"| {o.scenario} | {o.injected} | {events_in} | {b.stored:,} | {o.dead_lettered:,} "
        f"| {b.lost} | {b.duplicated} | {b.groups_off + b.rollup_off} | {o.stall_s} "
        f"| {o.http_5xx} |"
    )


def clean(o: Outcome) -> bool:
    """Nothing lost, nothing counted twice, totals exact, no server error."""
    b = o.books
    if b is None:
        return o.http_5xx == 0
    return (
        b.lost == 0
        and b.duplicated == 0
        and b.unexpected == 0
        and b.groups_off == 0
        and b.rollup_off == 0
        and o.http_5xx == 0
        and o.dead_lettered == o.hostile
    )


def render(outcomes: Sequence[Outcome], command: str, seconds: float) -> str:
    lines = [
        "# Reliability: the fault suite",
        "",
        f"One run of `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, {seconds / 60:.1f} min): real Kafka broker (the project's "
        "KRaft script), real `llmhub-serve` processes (API + Faust sink, embedded engine), "
        "faults injected while events stream. After each scenario the service is stopped and "
        "its engine read back: *stored* counts the valid events found stored, *lost* the valid "
        "events not stored, *duplicated* the rows beyond one per event id, *totals off* the "
        "(client, provider, endpoint) groups whose calls, cost, tokens or successes differ from "
        "the independent Decimal oracle (tests/oracle.py), raw rows and hourly rollup both. "
        "*Stall* is the longest time the sink made no progress while work waited (a killed "
        "worker's restart and an injected outage count).",
        "",
        HEADER,
        "|" + " --- |" * 10,
        *(row(o) for o in outcomes),
        "",
        "Details per scenario:",
        "",
    ]
    for o in outcomes:
        notes = ", ".join(f"{k} {v}" for k, v in sorted(o.notes.items()))
        lines.append(f"- **{o.scenario}**: {notes or '-'}; clean: {'yes' if clean(o) else 'NO'}")
    return "\n".join(lines) + "\n"
