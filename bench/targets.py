"""The benchmark targets, defined once: ``evaluate`` judges a run against them (bench.run) and
the plots draw them (bench.plots)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import layer_report
from bench.common import QUESTIONS, short_count

# Every endpoint's p99 at the largest data set, per closed-loop concurrency.
P99_MS = {1: 50.0, 16: 200.0}
# PostgreSQL p50 / llmhub p50 on every usage endpoint.
POSTGRES_SPEEDUP = 20.0
USAGE_QUESTIONS = tuple(name for name, path in QUESTIONS.items() if "/usage/" in path)
# One worker, end to end, and its share of what a bare consumer can fetch and decode.
INGEST_EVENTS_PER_S = 100_000
CEILING_RATIO = 0.7
# Worker memory with a large backlog waiting; the full run produces a backlog of this size.
BACKLOG_EVENTS = 5_000_000
BACKLOG_RSS_MIB = 1024
# Producer ack -> visible through the API, p99, at a steady rate (new path).
FRESHNESS_RATE = 20_000
FRESHNESS_P99_S = 2.0


def compute_ratios(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PostgreSQL p50 / llmhub p50 per PostgreSQL row (both at concurrency 1).

    Rows: {"events", "client", "endpoint", "postgres_p50_ms", "llmhub_p50_ms", "ratio"};
    ``llmhub_p50_ms`` and ``ratio`` are None when llmhub has no matching measurement.
    """
    llmhub = {
        (int(q["events"]), str(q["client"]), str(q["endpoint"])): float(q["p50_ms"])
        for q in results.get("query") or []
        if int(q["concurrency"]) == 1
    }
    ratios = []
    for row in results.get("postgres") or []:
        if int(row.get("concurrency", 1)) != 1:
            continue
        key = (int(row["events"]), str(row["client"]), str(row["endpoint"]))
        pg = float(row["p50_ms"])
        ours = llmhub.get(key)
        ratios.append(
            {
                "events": key[0],
                "client": key[1],
                "endpoint": key[2],
                "postgres_p50_ms": pg,
                "llmhub_p50_ms": ours,
                "ratio": pg / ours if ours else None,
            }
        )
    return ratios


def _target(target: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": met}


def evaluate(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured for it and whether it was met."""
    out = []
    query = results["query"]
    biggest = max((r["events"] for r in query), default=0)
    for conc, limit in P99_MS.items():
        rows = [r for r in query if r["events"] == biggest and r["concurrency"] == conc]
        if not rows:  # an ingest-only run
            continue
        worst = max(rows, key=lambda r: r["p99_ms"])
        out.append(
            _target(
                f"every endpoint p99 < {limit:.0f} ms at {biggest:,} events, concurrency {conc}",
                f"worst p99 {worst['p99_ms']:.1f} ms ({worst['endpoint']}, "
                f"{worst['client']} client)",
                worst["p99_ms"] < limit and all(r["errors"] == 0 for r in rows),
            )
        )
    ratios = [
        r
        for r in compute_ratios(results)
        if r["endpoint"] in USAGE_QUESTIONS and r["ratio"] is not None
    ]
    if ratios:
        low = min(ratios, key=lambda r: r["ratio"])
        out.append(
            _target(
                f">= {POSTGRES_SPEEDUP:g}x faster than PostgreSQL on every usage endpoint",
                f"lowest {low['ratio']:.1f}x ({low['endpoint']}, {low['client']} client)",
                low["ratio"] >= POSTGRES_SPEEDUP,
            )
        )
    out.extend(layer_report.targets(results))
    ing = results.get("ingest")
    if not ing:
        return out
    out.append(
        _target(
            f">= {short_count(INGEST_EVENTS_PER_S)} events/s end to end (one worker)",
            f"{ing['events_per_s']:,} events/s",
            ing["events_per_s"] >= INGEST_EVENTS_PER_S,
        )
    )
    out.append(
        _target(
            f"worker / ceiling >= {CEILING_RATIO:g}",
            f"{ing['ratio']:.2f}",
            ing["ratio"] >= CEILING_RATIO,
        )
    )
    if ing.get("rss_5m_backlog_mib") is not None:
        out.append(
            _target(
                f"worker RSS < {BACKLOG_RSS_MIB / 1024:g} GiB "
                f"with a {short_count(BACKLOG_EVENTS)}-event backlog",
                f"{ing['rss_5m_backlog_mib']} MiB ({ing['rss_backlog_events']:,}-event backlog)",
                ing["rss_5m_backlog_mib"] < BACKLOG_RSS_MIB,
            )
        )
    for fresh in ing.get("freshness") or []:
        # The target is judged on messages as the project's producer packs them (per
        # partition); the per-client row shows what many small messages cost.
        if fresh["path"] == "new" and fresh.get("per", "partition") == "partition":
            out.append(
                _target(
                    f"freshness p99 < {FRESHNESS_P99_S:g} s "
                    f"at {short_count(FRESHNESS_RATE)} events/s (ack -> API)",
                    f"{fresh['p99_s']:.2f} s at {fresh['rate']:,.0f} events/s",
                    fresh["p99_s"] < FRESHNESS_P99_S and fresh["rate"] >= 0.95 * FRESHNESS_RATE,
                )
            )
    return out
