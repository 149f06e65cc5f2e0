"""The report's three plots (PNG), written by :func:`write_plots`.

``query_p99.png``: p99 per endpoint, one bar per events/client/concurrency, log y, with the
p99 target lines; ``postgres_p50.png``: llmhub vs PostgreSQL p50 per endpoint and client, log
y; ``ingest.png``: worker vs ceiling events/s with the throughput target line. The same
results give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The Agg canvas directly, no pyplot: no global figure state, no GUI backend.
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from bench import targets
from bench.common import fmt_int, short_count

QUERY_P99_PNG = "query_p99.png"
POSTGRES_PNG = "postgres_p50.png"
INGEST_PNG = "ingest.png"
PLOT_FILES = (QUERY_P99_PNG, POSTGRES_PNG, INGEST_PNG)

_DPI = 100
# No "Software" (matplotlib version) and no creation time in the PNG metadata.
_PNG_METADATA: dict[str, str | None] = {"Software": None}


def _axes(fig: Figure, title: str, measured: bool) -> Axes | None:
    """The figure's axes, or None after marking an empty figure "not measured"."""
    ax = fig.add_subplot()
    ax.set_title(title)
    if measured:
        return ax
    ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return None


def _grouped_bars(
    ax: Axes, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> None:
    """One group of bars per category, one bar per series (None: no bar), on a log y axis."""
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
        # Log axes cannot show 0: a zero latency is drawn at 1 µs.
        pts = [(x, max(v, 1e-3)) for x, v in zip(xs, values, strict=True) if v is not None]
        ax.bar([p[0] for p in pts], [p[1] for p in pts], width=width, label=label)
    ax.set_xticks(range(len(categories)), list(categories))
    ax.set_yscale("log")


def _query_p99(results: Mapping[str, Any], fig: Figure) -> None:
    query = results.get("query") or []
    ax = _axes(fig, "llmhub p99 latency per endpoint", bool(query))
    if ax is None:
        return
    endpoints = list(dict.fromkeys(str(q["endpoint"]) for q in query))
    several_clients = len({q["client"] for q in query}) > 1
    p99: dict[tuple[int, str, int], dict[str, float]] = {}
    for q in query:
        group = (int(q["events"]), str(q["client"]), int(q["concurrency"]))
        p99.setdefault(group, {})[str(q["endpoint"])] = float(q["p99_ms"])
    series = []
    for (events, client, conc), by_endpoint in p99.items():
        label = f"{short_count(events)} events"
        if several_clients:
            label += f", {client} client"
        label += f", concurrency {conc}"
        series.append((label, [by_endpoint.get(e) for e in endpoints]))
    _grouped_bars(ax, endpoints, series)
    for (_, limit), style in zip(targets.P99_MS.items(), ("--", ":"), strict=True):
        ax.axhline(limit, color="black", linestyle=style, linewidth=1, label=f"target {limit:g} ms")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _postgres(results: Mapping[str, Any], fig: Figure) -> None:
    title = "p50 latency: llmhub vs PostgreSQL (concurrency 1)"
    ratios = targets.compute_ratios(results)
    ax = _axes(fig, title, bool(ratios))
    if ax is None:
        return
    several_clients = len({r["client"] for r in ratios}) > 1
    events = sorted({r["events"] for r in ratios})
    categories = []
    for r in ratios:
        label = str(r["endpoint"])
        if several_clients:
            label += f"\n{r['client']}"
        if len(events) > 1:
            label += f"\n{short_count(int(r['events']))}"
        categories.append(label)
    series = [
        ("llmhub", [r["llmhub_p50_ms"] for r in ratios]),
        ("PostgreSQL", [r["postgres_p50_ms"] for r in ratios]),
    ]
    _grouped_bars(ax, categories, series)
    ax.set_ylabel("p50 latency (ms, log scale)")
    ax.set_title(title + f", {', '.join(short_count(e) for e in events)} events")
    ax.legend(fontsize="small")


def _ingest(results: Mapping[str, Any], fig: Figure) -> None:
    """Left: old path, new path and ceiling events/s; right: events/s by batch size."""
    ingest = results.get("ingest")
    sizes = (ingest or {}).get("batch_sizes") or []
    ax = _axes(fig, "Ingest throughput", bool(ingest))
    if ax is None or not ingest:
        return
    if sizes:
        ax.remove()
        ax = fig.add_subplot(1, 2, 1)
    paths = ingest.get("paths") or {}
    labels = [f"{p} path" for p in paths] or ["worker"]
    values = [float(f["events_per_s"]) for f in paths.values()] or [float(ingest["events_per_s"])]
    if ingest.get("ceiling_events_per_s"):
        labels.append("fetch + decode ceiling")
        values.append(float(ingest["ceiling_events_per_s"]))
    colors = ["tab:orange", "tab:blue"][: len(paths)] if paths else ["tab:blue"]
    ax.bar(labels, values, width=0.5, color=[*colors, "tab:gray"][: len(values)])
    target = targets.INGEST_EVENTS_PER_S
    ax.axhline(
        target,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"target {fmt_int(target)} events/s",
    )
    for x, v in enumerate(values):
        ax.annotate(fmt_int(v), (x, v), ha="center", va="bottom", fontsize="small")
    ax.set_ylim(0, max([*values, target]) * 1.15)
    ax.set_ylabel("events/s")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_title(f"Ingest throughput ({short_count(int(ingest['events']))} events)")
    ax.legend(fontsize="small")
    if not sizes:
        return
    right = fig.add_subplot(1, 2, 2)
    for path, color in (("old", "tab:orange"), ("new", "tab:blue")):
        points = sorted((r["batch_mib"], r["events_per_s"]) for r in sizes if r["path"] == path)
        if points:
            right.plot(*zip(*points, strict=True), marker="o", color=color, label=f"{path} path")
    right.set_xscale("log")
    right.set_xlabel("MiB per sink batch (~2,100 events per MiB)")
    right.set_ylabel("events/s")
    right.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    right.set_title("Throughput vs batch size")
    right.legend(fontsize="small")


def write_plots(results: Mapping[str, Any], plots_dir: Path) -> None:
    """Write the three PNGs into ``plots_dir``."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in (
        (QUERY_P99_PNG, _query_p99),
        (POSTGRES_PNG, _postgres),
        (INGEST_PNG, _ingest),
    ):
        fig = Figure(figsize=(10.0, 5.0), dpi=_DPI)
        FigureCanvasAgg(fig)
        draw(results, fig)
        if fig.axes[0].axison:
            fig.tight_layout()
        fig.savefig(plots_dir / name, format="png", dpi=_DPI, metadata=_PNG_METADATA)
