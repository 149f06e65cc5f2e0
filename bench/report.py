"""The benchmark results document: ``write_report`` writes the markdown (docs/benchmarks.md)
and, through :mod:`bench.plots`, its plots, linked by paths relative to the markdown. The
same ``results`` give the same bytes.

``results`` (also written as JSON beside the markdown; times in seconds, latencies in
milliseconds; a section that was not measured may be absent, ``None`` or empty)::

    {"date": ISO 8601 start of the run, "mode": "full" | "quick", "command": "make bench",
     "machine": {"cpu", "cores", "memory_gib", "os", "python", "clickhouse", "postgres"},
     "load": [{"events", "seconds"}],                  # data generation, per data set
     "query": [{"events", "client": "largest" | "typical", "client_events", "concurrency",
                "endpoint", "p50_ms", "p95_ms", "p99_ms", "rps", "errors"}],   # llmhub API
     "postgres": [{"events", "client", "endpoint", "p50_ms", "p95_ms", "p99_ms",
                   "concurrency" (default 1)}],         # the same questions on PostgreSQL
     "ingest": {"events", "seconds", "events_per_s", "worker_peak_rss_mib",
                "ceiling_events_per_s",                # bare aiokafka fetch + JSON decode
                "ratio",                               # events_per_s / ceiling
                "rss_5m_backlog_mib": float | None,
                "profile": [{"stage", "seconds", "share" (0..1)}]
                           | [{"stage", "old_us_per_event", "new_us_per_event"}],
                # bench.ingest: old path vs new
                "paths": {"old" | "new": {"events_per_s", "runs_events_per_s", "ratio",
                                          "peak_rss_mib", "stages_us_per_event"}},
                "new_over_old", "freshness": [{"path", "per", "rate", "messages_per_s",
                "probes", "p50_s", "p99_s", "max_s"}],
                "batch_sizes": [{"batch_mib", "path", "events_per_s"}]},
     "layer": {"events", "rows", "model_loads", "clients"},  # bench.layer (bench.layer_report)
     "targets": [{"target", "measured", "met": bool}]}  # bench.targets.evaluate

The PostgreSQL ratios are derived here, not stored: :func:`bench.targets.compute_ratios`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import layer_report, plots
from bench.common import fmt_int, short_count
from bench.targets import BACKLOG_EVENTS, compute_ratios


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def _section(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    align: str = "",
    after: Sequence[str] = (),
) -> list[str]:
    """A ``## title`` and its markdown table, or "Not measured." without rows; ``align`` has
    one char per column, "l" or "r" (default "l"); ``after`` follows the table."""
    rows = list(rows)
    if not rows:
        return [f"## {title}", "", "Not measured.", ""]
    sep = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))]
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    # A pipe or a line break inside a cell would break the table.
    lines += [
        "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |"
        for row in rows
    ]
    return [*lines, "", *after]


def _machine(machine: Mapping[str, Any]) -> list[str]:
    rows = []
    for label, key in (
        ("CPU", "cpu"),
        ("Cores", "cores"),
        ("Memory", "memory_gib"),
        ("OS", "os"),
        ("Python", "python"),
        ("ClickHouse engine", "clickhouse"),
        ("PostgreSQL", "postgres"),
    ):
        value = machine.get(key)
        if value is None or value == "":
            rows.append((label, "n/a"))
        elif key == "memory_gib":
            rows.append((label, f"{float(value):.1f} GiB"))
        else:
            rows.append((label, str(value)))
    return _section("Machine", ("Item", "Value"), rows)


def _load(results: Mapping[str, Any]) -> list[str]:
    rows = []
    for load in results.get("load") or []:
        events, seconds = int(load["events"]), float(load["seconds"])
        rate = events / seconds if seconds > 0 else None
        rows.append((fmt_int(events), f"{seconds:.1f}", fmt_int(rate)))
    return _section("Data generation", ("Events", "Seconds", "Events/s"), rows, "rrr")


def _query(results: Mapping[str, Any], link: str) -> list[str]:
    header = (
        "Events",
        "Client",
        "Client events",
        "Concurrency",
        "Endpoint",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s",
        "Errors",
    )
    rows = [
        (
            fmt_int(int(q["events"])),
            str(q["client"]),
            fmt_int(q.get("client_events")),
            str(q["concurrency"]),
            str(q["endpoint"]),
            *(fmt_ms(float(q[k])) for k in ("p50_ms", "p95_ms", "p99_ms")),
            f"{float(q['rps']):.1f}",
            str(int(q.get("errors", 0))),
        )
        for q in results.get("query") or []
    ]
    after = [f"![p99 latency per endpoint]({link})", ""]
    return _section("Query latency (llmhub API)", header, rows, "rlrrlrrrrr", after)


def _postgres(results: Mapping[str, Any], link: str) -> list[str]:
    ratios = {(r["events"], r["client"], r["endpoint"]): r for r in compute_ratios(results)}
    rows = []
    for p in results.get("postgres") or []:
        concurrency = int(p.get("concurrency", 1))
        key = (int(p["events"]), str(p["client"]), str(p["endpoint"]))
        r = ratios.get(key) if concurrency == 1 else None
        rows.append(
            (
                fmt_int(key[0]),
                key[1],
                str(concurrency),
                key[2],
                *(fmt_ms(float(p[k])) for k in ("p50_ms", "p95_ms", "p99_ms")),
                fmt_ms(r["llmhub_p50_ms"] if r else None),
                fmt_ratio(r["ratio"] if r else None),
            )
        )
    header = (
        "Events",
        "Client",
        "Concurrency",
        "Endpoint",
        "PostgreSQL p50 ms",
        "PostgreSQL p95 ms",
        "PostgreSQL p99 ms",
        "llmhub p50 ms",
        "PostgreSQL p50 / llmhub p50",
    )
    after = [
        "Ratio: PostgreSQL p50 divided by llmhub p50 for the same events, client and "
        "endpoint at concurrency 1.",
        "",
        f"![llmhub vs PostgreSQL p50]({link})",
        "",
    ]
    return _section("PostgreSQL comparison", header, rows, "rlrlrrrrr", after)


def _ingest(results: Mapping[str, Any], link: str) -> list[str]:
    ingest = results.get("ingest") or {}
    rows: list[tuple[str, str]] = []
    if ingest:
        backlog = ingest.get("rss_5m_backlog_mib")
        rows = [
            ("Events", fmt_int(int(ingest["events"]))),
            ("Seconds", f"{float(ingest['seconds']):.1f}"),
            ("Worker events/s", fmt_int(float(ingest["events_per_s"]))),
            (
                "Ceiling: bare aiokafka fetch + decode, events/s",
                fmt_int(ingest.get("ceiling_events_per_s")),
            ),
            ("Worker / ceiling", fmt_ratio(ingest.get("ratio"))),
            ("Worker peak RSS", f"{float(ingest['worker_peak_rss_mib']):.0f} MiB"),
            (
                f"Worker RSS with a {short_count(BACKLOG_EVENTS)}-event backlog",
                "n/a" if backlog is None else f"{float(backlog):.0f} MiB",
            ),
        ]
        rows += [
            (
                f"Worker RSS with that backlog, {v['variant']} ({v['env']})",
                f"{v['peak_rss_mib']:.0f} MiB, {fmt_int(v['events_per_s'])} events/s",
            )
            for v in ingest.get("rss_variants") or []
        ]
        for path, figures in (ingest.get("paths") or {}).items():
            runs = ", ".join(fmt_int(v) for v in figures["runs_events_per_s"])
            rows.append(
                (
                    f"{path} path events/s (median of {runs})",
                    f"{fmt_int(figures['events_per_s'])} ({fmt_ratio(figures['ratio'])} ceiling)",
                )
            )
        if ingest.get("new_over_old") is not None:
            rows.append(("New / old path", fmt_ratio(ingest["new_over_old"])))
        for fresh in ingest.get("freshness") or []:
            rows.append(
                (
                    f"Freshness p99, {fresh['path']} path "
                    f"(ack -> API, {fmt_int(fresh['rate'])} events/s"
                    f"{_packing(fresh)})",
                    f"{fresh['p99_s']:.2f} s (p50 {fresh['p50_s']:.2f} s, "
                    f"{fresh['probes']} probes)",
                )
            )
    after = [f"![ingest throughput]({link})", ""]
    profile = ingest.get("profile") or []
    if profile and "seconds" in profile[0]:
        table = _section(
            "Where the time goes",
            ("Stage", "Seconds", "Share"),
            [
                (str(p["stage"]), f"{float(p['seconds']):.2f}", f"{float(p['share']) * 100:.1f}%")
                for p in profile
            ],
            "lrr",
        )
    else:
        table = _section(
            "Where the time goes (one process, us per event)",
            ("Stage", "Old path", "New path"),
            [
                (str(p["stage"]), f"{p['old_us_per_event']:.2f}", f"{p['new_us_per_event']:.2f}")
                for p in profile
            ],
            "lrr",
        )
    worker = {
        path: f.get("stages_us_per_event", {}) for path, f in (ingest.get("paths") or {}).items()
    }
    stages = sorted({k for v in worker.values() for k in v})
    sizes = [
        (str(r["batch_mib"]), str(r["path"]), fmt_int(r["events_per_s"]))
        for r in ingest.get("batch_sizes") or []
    ]
    return [
        *_section("Ingest", ("Metric", "Value"), rows, "lr", after),
        *table,
        *(
            _section(
                "Inside the worker (us per event; stages overlap in the new path)",
                ("Stage", *worker),
                [(k, *(f"{worker[p].get(k, 0.0):.2f}" for p in worker)) for k in stages],
                "l" + "r" * len(worker),
            )
            if stages
            else []
        ),
        *(
            _section("Events/s by batch size", ("MiB per batch", "Path", "Events/s"), sizes, "llr")
            if sizes
            else []
        ),
    ]


def _packing(fresh: Mapping[str, Any]) -> str:
    """How the events were packed into messages, when the run says (older runs do not)."""
    if "per" not in fresh:
        return ""
    return f", messages per {fresh['per']}, {fmt_int(fresh['messages_per_s'])} messages/s"


def _targets(results: Mapping[str, Any]) -> list[str]:
    rows = [
        (str(t["target"]), str(t["measured"]), "yes" if t["met"] else "**no**")
        for t in results.get("targets") or []
    ]
    if not rows:
        return ["## Targets", "", "None recorded.", ""]
    return _section("Targets", ("Target", "Measured", "Met"), rows)


def render_markdown(results: Mapping[str, Any], links: Mapping[str, str]) -> str:
    """The markdown document; ``links`` maps plot file names to their relative links."""
    lines = [
        "# llmhub benchmarks",
        "",
        f"- Date: {results.get('date', 'n/a')}",
        f"- Mode: {results.get('mode', 'n/a')}",
        f"- Command: `{results.get('command', 'n/a')}`",
        "",
        *_machine(results.get("machine") or {}),
        *_load(results),
        *layer_report.section(results),
        *_query(results, links[plots.QUERY_P99_PNG]),
        *_postgres(results, links[plots.POSTGRES_PNG]),
        *_ingest(results, links[plots.INGEST_PNG]),
        *_targets(results),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(results: Mapping[str, Any], out_md: Path, plots_dir: Path) -> None:
    """Write the markdown to ``out_md`` and the plots to ``plots_dir``."""
    plots.write_plots(results, plots_dir)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    links = {
        name: Path(os.path.relpath(plots_dir / name, out_md.parent)).as_posix()
        for name in plots.PLOT_FILES
    }
    out_md.write_text(render_markdown(results, links), encoding="utf-8")
