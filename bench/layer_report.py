"""The same-layer results (bench.layer, PostgreSQL at its SQL client): medians over the
interleaved rounds, before/after ratios, the markdown section and the targets judged on them.

``results["layer"]``: {"events", "rows": [bench.layer rows], "model_loads"};
``results["postgres"]`` rows whose ``endpoint`` is a bench.asks question, at concurrency 1.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from bench.asks import USAGE

_KEYS = ("p50_ms", "p99_ms", "rps", "cpu_ms")
SPEEDUP_LARGEST = 20.0
DETAIL_P99_MS = 10.0


def summarize(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (client, question, concurrency): medians of each variant and ratios."""
    groups: dict[tuple[str, str, int], dict[str, list[Mapping[str, Any]]]] = {}
    meta: dict[tuple[str, str, int], Mapping[str, Any]] = {}
    for r in rows:
        key = (str(r["client"]), str(r["question"]), int(r["concurrency"]))
        groups.setdefault(key, {}).setdefault(str(r["variant"]), []).append(r)
        meta[key] = r
    out = []
    for key, by_variant in groups.items():
        row: dict[str, Any] = {
            "client": key[0],
            "question": key[1],
            "concurrency": key[2],
            "client_events": meta[key]["client_events"],
            "rounds": len(by_variant.get("after", [])),
        }
        for variant in ("before", "after"):
            for k in _KEYS:
                values = [float(x[k]) for x in by_variant.get(variant, [])]
                row[f"{variant}_{k}"] = statistics.median(values) if values else None
        b, a = row["before_p50_ms"], row["after_p50_ms"]
        row["p50_speedup"] = b / a if a and b else None
        rb, ra = row["before_rps"], row["after_rps"]
        row["rps_ratio"] = ra / rb if ra and rb else None
        out.append(row)
    return out


def postgres_ratios(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PostgreSQL p50 / llmhub "after" p50 at concurrency 1, per client and question."""
    layer = {
        (r["client"], r["question"]): r
        for r in summarize((results.get("layer") or {}).get("rows") or [])
        if r["concurrency"] == 1
    }
    out = []
    for p in results.get("postgres") or []:
        ours = layer.get((p["client"], p["endpoint"]))
        if ours is None or not ours["after_p50_ms"]:
            continue
        out.append(
            {
                "client": p["client"],
                "question": p["endpoint"],
                "postgres_p50_ms": float(p["p50_ms"]),
                "llmhub_p50_ms": ours["after_p50_ms"],
                "llmhub_before_p50_ms": ours["before_p50_ms"],
                "ratio": float(p["p50_ms"]) / ours["after_p50_ms"],
            }
        )
    return out


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def section(results: Mapping[str, Any]) -> list[str]:
    layer = results.get("layer") or {}
    rows = summarize(layer.get("rows") or [])
    if not rows:
        return []
    lines = [
        "## Same layer: before and after the read model, and PostgreSQL",
        "",
        f"{layer.get('events', 0):,} events. llmhub measured at the layer its HTTP handlers "
        "call (`BillingReports`, in one process, `python -m bench.layer`): *before* reads "
        "every answer from the engine (the read path as it was), *after* is the read model "
        "the service runs with the embedded engine. Old and new alternate in every round of "
        "one run; each request draws its own period, offset, filter or log id "
        "(`bench/asks.py`). Figures are medians over the rounds; CPU is process CPU "
        "(engine threads included) per request.",
        "",
        "| Client | Question | Conc. | p50 before ms | p50 after ms | p50 speed-up "
        "| p99 before ms | p99 after ms | req/s before | req/s after | req/s ratio "
        "| CPU ms/req before | CPU ms/req after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['client']} | {r['question']} | {r['concurrency']} "
            f"| {_f(r['before_p50_ms'], 2)} | {_f(r['after_p50_ms'], 2)} "
            f"| {_f(r['p50_speedup'], 1)}× | {_f(r['before_p99_ms'], 1)} "
            f"| {_f(r['after_p99_ms'], 1)} | {_f(r['before_rps'])} | {_f(r['after_rps'])} "
            f"| {_f(r['rps_ratio'], 1)}× | {_f(r['before_cpu_ms'], 2)} "
            f"| {_f(r['after_cpu_ms'], 2)} |"
        )
    ratios = postgres_ratios(results)
    if ratios:
        lines += [
            "",
            "PostgreSQL at its SQL client (psycopg, one connection, the same asks in the same "
            "order), against llmhub at its handlers' layer, concurrency 1, p50:",
            "",
            "| Client | Question | PostgreSQL ms | llmhub before ms | llmhub after ms "
            "| PostgreSQL / llmhub after |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in ratios:
            lines.append(
                f"| {r['client']} | {r['question']} | {_f(r['postgres_p50_ms'], 2)} "
                f"| {_f(r['llmhub_before_p50_ms'], 2)} | {_f(r['llmhub_p50_ms'], 2)} "
                f"| {_f(r['ratio'], 2)}× |"
            )
    return [*lines, ""]


def targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ratios = postgres_ratios(results)
    largest = [r for r in ratios if r["client"] == "largest" and r["question"] in USAGE]
    if largest:
        low = min(largest, key=lambda r: r["ratio"])
        out.append(
            {
                "target": f">= {SPEEDUP_LARGEST:g}x PostgreSQL on every usage endpoint, "
                "largest client (same layer)",
                "measured": f"lowest {low['ratio']:.1f}x ({low['question']})",
                "met": low["ratio"] >= SPEEDUP_LARGEST,
            }
        )
    typical = [r for r in ratios if r["client"] == "typical" and r["question"] in (*USAGE, "logs")]
    if typical:
        low = min(typical, key=lambda r: r["ratio"])
        out.append(
            {
                "target": "never slower than PostgreSQL for a typical client, usage endpoints "
                "and the logs page (same layer)",
                "measured": f"lowest {low['ratio']:.2f}x ({low['question']})",
                "met": low["ratio"] >= 1.0,
            }
        )
    details = [
        r
        for r in summarize((results.get("layer") or {}).get("rows") or [])
        if r["question"] == "log_details" and r["concurrency"] == 1
    ]
    if details:
        worst = max(details, key=lambda r: r["after_p99_ms"])
        out.append(
            {
                "target": f"log details p99 < {DETAIL_P99_MS:g} ms (same layer, "
                f"{(results.get('layer') or {}).get('events', 0):,} events)",
                "measured": f"{worst['after_p99_ms']:.1f} ms ({worst['client']} client)",
                "met": worst["after_p99_ms"] < DETAIL_P99_MS,
            }
        )
    return out
