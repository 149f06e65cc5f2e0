"""The benchmark results document (markdown) and its plots (PNG).

``write_report(results, out_md, plots_dir)`` writes ``out_md`` (docs/benchmarks.md)
and three plots into ``plots_dir`` (docs/benchmarks/), linked from the markdown by
paths relative to it. Output is deterministic: the same ``results`` give the same bytes.

``results`` schema (times in seconds, latencies in milliseconds; a section that was
not measured may be absent, ``None`` or an empty list and is reported as such)::

    {
      "date": "2026-03-01T12:00:00+00:00",          # ISO 8601, when the run started
      "mode": "full" | "quick",
      "command": "make bench",
      "machine": {"cpu": str, "cores": int, "memory_gib": float, "os": str,
                  "python": str, "clickhouse": str, "postgres": str},
      "load": [{"events": int, "seconds": float}, ...],   # data generation time per
                                                          # data set (a single dict is
                                                          # accepted too)
      "query": [                                          # llmhub API, one row per
        {"events": int,                                   # events in the database
         "client": "largest" | "typical",                 # which API key was queried
         "client_events": int,                            # that client's events
         "concurrency": int,                              # closed-loop workers (1, 16)
         "endpoint": str,                                 # e.g. "summary"
         "p50_ms": float, "p95_ms": float, "p99_ms": float,
         "rps": float, "errors": int}, ...],
      "postgres": [                                       # same queries on PostgreSQL
        {"events": int, "client": str, "endpoint": str,
         "p50_ms": float, "p95_ms": float, "p99_ms": float,
         "concurrency": int}, ...],                       # concurrency optional, default 1
      "ingest": {"events": int, "seconds": float, "events_per_s": float,
                 "worker_peak_rss_mib": float,
                 "ceiling_events_per_s": float,           # bare aiokafka fetch + JSON decode
                 "ratio": float,                          # events_per_s / ceiling;
                                                          # computed when absent
                 "rss_5m_backlog_mib": float | None,
                 "profile": [{"stage": str, "seconds": float, "share": float}, ...]},
                                                          # share in 0..1; computed
                                                          # from seconds when absent
      "targets": [{"target": str, "measured": str, "met": bool}, ...]
    }

The PostgreSQL ratios are not part of ``results``: ``compute_ratios`` derives them
(PostgreSQL p50 / llmhub p50, for each PostgreSQL row, against the llmhub row of the
same events, client and endpoint at concurrency 1), and the report shows them.

Plots: ``query_p99.png`` (p99 per endpoint, one bar per events/client/concurrency,
log y, 50 ms and 200 ms target lines), ``postgres_p50.png`` (llmhub vs PostgreSQL p50
per endpoint and client, log y), ``ingest.png`` (worker vs ceiling events/s, 100k
target line).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The Agg canvas directly, no pyplot: no global figure state, no GUI backend.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

QUERY_P99_PNG = "query_p99.png"
POSTGRES_PNG = "postgres_p50.png"
INGEST_PNG = "ingest.png"
PLOT_FILES = (QUERY_P99_PNG, POSTGRES_PNG, INGEST_PNG)

LATENCY_TARGETS_MS = (50.0, 200.0)
INGEST_TARGET_EVENTS_PER_S = 100_000.0

_FIGSIZE = (10.0, 5.0)
_DPI = 100
# No "Software" (matplotlib version) and no creation time in the PNG metadata.
_PNG_METADATA: dict[str, str | None] = {"Software": None}


# --------------------------------------------------------------------------- formatting


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_int(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value):,}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def short_count(n: int) -> str:
    """10000000 -> "10M", 250000 -> "250k"."""
    for div, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= div:
            value = n / div
            return f"{value:g}{suffix}" if value == round(value, 1) else f"{value:.1f}{suffix}"
    return str(n)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """A markdown table; ``align`` has one char per column: "l" or "r" (default "l")."""
    aligns = [(align[i] if i < len(align) else "l") for i in range(len(header))]
    sep = ["---:" if a == "r" else "---" for a in aligns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    # A pipe or a line break inside a cell would break the table.
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- derived data


def _as_list(value: Any) -> list[dict[str, Any]]:
    if not value:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    return [dict(v) for v in value]


def compute_ratios(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PostgreSQL p50 / llmhub p50 per PostgreSQL row (llmhub at concurrency 1).

    Rows: {"events", "client", "endpoint", "postgres_p50_ms", "llmhub_p50_ms", "ratio"};
    ``llmhub_p50_ms`` and ``ratio`` are None when llmhub has no matching measurement.
    """
    llmhub: dict[tuple[int, str, str], float] = {}
    for row in _as_list(results.get("query")):
        if int(row["concurrency"]) == 1:
            llmhub[(int(row["events"]), str(row["client"]), str(row["endpoint"]))] = float(
                row["p50_ms"]
            )
    ratios = []
    for row in _as_list(results.get("postgres")):
        if int(row.get("concurrency", 1)) != 1:
            continue
        key = (int(row["events"]), str(row["client"]), str(row["endpoint"]))
        pg = float(row["p50_ms"])
        ours = llmhub.get(key)
        ratio = pg / ours if ours else None
        ratios.append(
            {
                "events": key[0],
                "client": key[1],
                "endpoint": key[2],
                "postgres_p50_ms": pg,
                "llmhub_p50_ms": ours,
                "ratio": ratio,
            }
        )
    return ratios


def _ingest_ratio(ingest: Mapping[str, Any]) -> float | None:
    if ingest.get("ratio") is not None:
        return float(ingest["ratio"])
    ceiling = ingest.get("ceiling_events_per_s")
    if ceiling:
        return float(ingest["events_per_s"]) / float(ceiling)
    return None


def _profile_rows(ingest: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    profile = _as_list(ingest.get("profile"))
    total = sum(float(p["seconds"]) for p in profile)
    rows = []
    for p in profile:
        seconds = float(p["seconds"])
        share = p.get("share")
        if share is None:
            share = seconds / total if total > 0 else 0.0
        rows.append((str(p["stage"]), seconds, float(share)))
    return rows


# --------------------------------------------------------------------------- markdown


def _relative_link(plots_dir: Path, out_md: Path, name: str) -> str:
    rel = os.path.relpath(plots_dir / name, out_md.parent)
    return Path(rel).as_posix()


def _machine_section(machine: Mapping[str, Any]) -> list[str]:
    fields = (
        ("CPU", "cpu"),
        ("Cores", "cores"),
        ("Memory", "memory_gib"),
        ("OS", "os"),
        ("Python", "python"),
        ("ClickHouse engine", "clickhouse"),
        ("PostgreSQL", "postgres"),
    )
    rows = []
    for label, key in fields:
        value = machine.get(key)
        if value is None or value == "":
            text = "n/a"
        elif key == "memory_gib":
            text = f"{float(value):.1f} GiB"
        else:
            text = str(value)
        rows.append((label, text))
    return ["## Machine", "", *_table(("Item", "Value"), rows), ""]


def _load_section(results: Mapping[str, Any]) -> list[str]:
    loads = _as_list(results.get("load"))
    lines = ["## Data generation", ""]
    if not loads:
        return [*lines, "Not measured.", ""]
    rows = []
    for load in loads:
        events, seconds = int(load["events"]), float(load["seconds"])
        rate = events / seconds if seconds > 0 else None
        rows.append((fmt_int(events), f"{seconds:.1f}", fmt_int(rate)))
    return [*lines, *_table(("Events", "Seconds", "Events/s"), rows, "rrr"), ""]


def _query_section(results: Mapping[str, Any], link: str) -> list[str]:
    query = _as_list(results.get("query"))
    lines = ["## Query latency (llmhub API)", ""]
    if not query:
        return [*lines, "Not measured.", ""]
    rows = [
        (
            fmt_int(int(q["events"])),
            str(q["client"]),
            fmt_int(q.get("client_events")),
            str(q["concurrency"]),
            str(q["endpoint"]),
            fmt_ms(float(q["p50_ms"])),
            fmt_ms(float(q["p95_ms"])),
            fmt_ms(float(q["p99_ms"])),
            f"{float(q['rps']):.1f}",
            str(int(q.get("errors", 0))),
        )
        for q in query
    ]
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
    return [
        *lines,
        *_table(header, rows, "rlrrlrrrrr"),
        "",
        f"![p99 latency per endpoint]({link})",
        "",
    ]


def _postgres_section(results: Mapping[str, Any], link: str) -> list[str]:
    postgres = _as_list(results.get("postgres"))
    lines = ["## PostgreSQL comparison", ""]
    if not postgres:
        return [*lines, "Not measured.", ""]
    ratios = {(r["events"], r["client"], r["endpoint"]): r for r in compute_ratios(results)}
    rows = []
    for p in postgres:
        concurrency = int(p.get("concurrency", 1))
        key = (int(p["events"]), str(p["client"]), str(p["endpoint"]))
        r = ratios.get(key) if concurrency == 1 else None
        rows.append(
            (
                fmt_int(key[0]),
                key[1],
                str(concurrency),
                key[2],
                fmt_ms(float(p["p50_ms"])),
                fmt_ms(float(p["p95_ms"])),
                fmt_ms(float(p["p99_ms"])),
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
    return [
        *lines,
        *_table(header, rows, "rlrlrrrrr"),
        "",
        "Ratio: PostgreSQL p50 divided by llmhub p50 for the same events, client and "
        "endpoint at concurrency 1.",
        "",
        f"![llmhub vs PostgreSQL p50]({link})",
        "",
    ]


def _ingest_section(results: Mapping[str, Any], link: str) -> list[str]:
    ingest = results.get("ingest")
    lines = ["## Ingest", ""]
    if not ingest:
        return [*lines, "Not measured.", "", "## Where the time goes", "", "Not measured.", ""]
    backlog = ingest.get("rss_5m_backlog_mib")
    rows = [
        ("Events", fmt_int(int(ingest["events"]))),
        ("Seconds", f"{float(ingest['seconds']):.1f}"),
        ("Worker events/s", fmt_int(float(ingest["events_per_s"]))),
        (
            "Ceiling: bare aiokafka fetch + decode, events/s",
            fmt_int(ingest.get("ceiling_events_per_s")),
        ),
        ("Worker / ceiling", fmt_ratio(_ingest_ratio(ingest))),
        ("Worker peak RSS", f"{float(ingest['worker_peak_rss_mib']):.0f} MiB"),
        (
            "Worker RSS with a 5M-event backlog",
            "n/a" if backlog is None else f"{float(backlog):.0f} MiB",
        ),
    ]
    lines += [*_table(("Metric", "Value"), rows, "lr"), "", f"![ingest throughput]({link})", ""]
    lines += ["## Where the time goes", ""]
    profile = _profile_rows(ingest)
    if not profile:
        return [*lines, "Not measured.", ""]
    prow = [(stage, f"{sec:.2f}", f"{share * 100:.1f}%") for stage, sec, share in profile]
    return [*lines, *_table(("Stage", "Seconds", "Share"), prow, "lrr"), ""]


def _targets_section(results: Mapping[str, Any]) -> list[str]:
    targets = _as_list(results.get("targets"))
    lines = ["## Targets", ""]
    if not targets:
        return [*lines, "None recorded.", ""]
    rows = [
        (str(t["target"]), str(t["measured"]), "yes" if t["met"] else "**no**") for t in targets
    ]
    return [*lines, *_table(("Target", "Measured", "Met"), rows), ""]


def render_markdown(results: Mapping[str, Any], links: Mapping[str, str]) -> str:
    """The markdown document; ``links`` maps plot file names to their relative links."""
    lines = [
        "# llmhub benchmarks",
        "",
        f"- Date: {results.get('date', 'n/a')}",
        f"- Mode: {results.get('mode', 'n/a')}",
        f"- Command: `{results.get('command', 'n/a')}`",
        "",
        *_machine_section(results.get("machine") or {}),
        *_load_section(results),
        *_query_section(results, links[QUERY_P99_PNG]),
        *_postgres_section(results, links[POSTGRES_PNG]),
        *_ingest_section(results, links[INGEST_PNG]),
        *_targets_section(results),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- plots


def _new_figure() -> Figure:
    fig = Figure(figsize=_FIGSIZE, dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, format="png", dpi=_DPI, metadata=_PNG_METADATA)


def _no_data(fig: Figure, title: str) -> None:
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _positive(value: float) -> float:
    # Log axes cannot show 0; a zero latency is drawn at 1 µs.
    return max(value, 1e-3)


def _grouped_bars(
    ax: Any, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> None:
    """One group of bars per category, one bar per series (None: no bar)."""
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
        pts = [(x, _positive(v)) for x, v in zip(xs, values, strict=True) if v is not None]
        ax.bar([p[0] for p in pts], [p[1] for p in pts], width=width, label=label)
    ax.set_xticks(range(len(categories)), list(categories))


def plot_query_p99(results: Mapping[str, Any], path: Path) -> None:
    fig = _new_figure()
    title = "llmhub p99 latency per endpoint"
    query = _as_list(results.get("query"))
    if not query:
        _no_data(fig, title)
        _save(fig, path)
        return
    endpoints = list(dict.fromkeys(str(q["endpoint"]) for q in query))
    clients = {str(q["client"]) for q in query}
    groups = list(
        dict.fromkeys((int(q["events"]), str(q["client"]), int(q["concurrency"])) for q in query)
    )
    p99 = {
        (int(q["events"]), str(q["client"]), int(q["concurrency"]), str(q["endpoint"])): float(
            q["p99_ms"]
        )
        for q in query
    }
    series = []
    for events, client, conc in groups:
        label = f"{short_count(events)} events"
        if len(clients) > 1:
            label += f", {client} client"
        label += f", concurrency {conc}"
        series.append((label, [p99.get((events, client, conc, e)) for e in endpoints]))
    ax = fig.add_subplot()
    _grouped_bars(ax, endpoints, series)
    for target, style in zip(LATENCY_TARGETS_MS, ("--", ":"), strict=True):
        ax.axhline(
            target, color="black", linestyle=style, linewidth=1, label=f"target {target:g} ms"
        )
    ax.set_yscale("log")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    _save(fig, path)


def plot_postgres(results: Mapping[str, Any], path: Path) -> None:
    fig = _new_figure()
    title = "p50 latency: llmhub vs PostgreSQL (concurrency 1)"
    ratios = compute_ratios(results)
    if not ratios:
        _no_data(fig, title)
        _save(fig, path)
        return
    clients = {r["client"] for r in ratios}
    events = {r["events"] for r in ratios}
    categories = []
    for r in ratios:
        label = str(r["endpoint"])
        if len(clients) > 1:
            label += f"\n{r['client']}"
        if len(events) > 1:
            label += f"\n{short_count(int(r['events']))}"
        categories.append(label)
    ax = fig.add_subplot()
    _grouped_bars(
        ax,
        categories,
        [
            ("llmhub", [r["llmhub_p50_ms"] for r in ratios]),
            ("PostgreSQL", [r["postgres_p50_ms"] for r in ratios]),
        ],
    )
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency (ms, log scale)")
    ax.set_title(title + f", {', '.join(short_count(e) for e in sorted(events))} events")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save(fig, path)


def plot_ingest(results: Mapping[str, Any], path: Path) -> None:
    fig = _new_figure()
    title = "Ingest throughput"
    ingest = results.get("ingest")
    if not ingest:
        _no_data(fig, title)
        _save(fig, path)
        return
    labels = ["worker"]
    values = [float(ingest["events_per_s"])]
    if ingest.get("ceiling_events_per_s"):
        labels.append("fetch + decode ceiling")
        values.append(float(ingest["ceiling_events_per_s"]))
    ax = fig.add_subplot()
    ax.bar(labels, values, width=0.5, color=["tab:blue", "tab:gray"][: len(values)])
    ax.axhline(
        INGEST_TARGET_EVENTS_PER_S,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"target {fmt_int(INGEST_TARGET_EVENTS_PER_S)} events/s",
    )
    for x, v in enumerate(values):
        ax.annotate(fmt_int(v), (x, v), ha="center", va="bottom", fontsize="small")
    ax.set_ylim(0, max([*values, INGEST_TARGET_EVENTS_PER_S]) * 1.15)
    ax.set_ylabel("events/s")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_title(f"{title} ({short_count(int(ingest['events']))} events)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save(fig, path)


# --------------------------------------------------------------------------- entry point


def write_report(results: dict[str, Any], out_md: Path, plots_dir: Path) -> None:
    """Write the markdown to ``out_md`` and the three PNGs to ``plots_dir``."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    plot_query_p99(results, plots_dir / QUERY_P99_PNG)
    plot_postgres(results, plots_dir / POSTGRES_PNG)
    plot_ingest(results, plots_dir / INGEST_PNG)
    links = {name: _relative_link(plots_dir, out_md, name) for name in PLOT_FILES}
    out_md.write_text(render_markdown(results, links), encoding="utf-8")
