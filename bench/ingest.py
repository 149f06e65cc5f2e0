"""Ingest: one worker from a backlog to stored and committed, old path vs new, interleaved.

``measure`` gives the ingest section of ``make bench`` (the pieces are in
:mod:`bench.ingest_speed`, :mod:`bench.freshness` and :mod:`bench.ingest_profile`):
- events/s end to end from a backlog of batch messages, the old path (pydantic per event, one
  batch at a time) and the new one (columnar decoder, pipelined sink) taking turns, with the
  bare aiokafka fetch+decode ceiling measured before each turn; medians and ratios;
- worker peak RSS with a large backlog (new path);
- freshness at a steady rate: producer ack -> visible through the API (the probe client's newest
  log row), messages per partition and per client;
- events/s by sink batch size (MiB of Kafka values per batch), both paths;
- a per-stage profile in one process, both paths, and the worker's own stage timings.

``python -m bench.ingest --bootstrap HOST:PORT [--only ...]`` runs sections alone (also the
memory variants: allocator arenas, fetch sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import freshness as fresh
from bench import ingest_profile
from bench import ingest_speed as speed
from bench.common import log

ORDER = (("old", "new"), ("new", "old"))
MIB = 1024 * 1024
# Memory variants (``--rss-variants``): environment of the worker for each.
RSS_VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "arena2": {"MALLOC_ARENA_MAX": "2"},
    "bytes2": {"LLMHUB_WORKER_BATCH_MAX_BYTES": str(2 * MIB)},
    "bytes16": {"LLMHUB_WORKER_BATCH_MAX_BYTES": str(16 * MIB)},
}
# The batch-size sweep, in MiB of Kafka values per sink batch (the default is 8).
SWEEP_MIB = [1, 2, 4, 8, 16]


def _topic(kind: str, bootstrap: str, events: int, seed: int = 1) -> tuple[str, float]:
    topic = f"bench-{kind}-{int(time.time() * 1000)}"
    asyncio.run(speed.create_topic(bootstrap, topic))
    return topic, asyncio.run(speed.produce_backlog(bootstrap, topic, events, seed))


def _stages(run: speed.WorkerRun, events: int) -> dict[str, float]:
    """The worker's own stage timings, in us per event; ``wait`` is wall time not in them."""
    stages = {k: v / events * 1e6 for k, v in run.stats.get("stage_s", {}).items()}
    stages["wall"] = run.seconds / events * 1e6
    stages["wait"] = stages["wall"] - sum(v for k, v in stages.items() if k != "wall")
    return {k: round(v, 2) for k, v in stages.items()}


def throughput(bootstrap: str, work: Path, events: int, reps: int) -> dict[str, Any]:
    log(f"ingest: producing a backlog of {events:,} events")
    topic, produced = _topic("ingest", bootstrap, events)
    ceilings: list[float] = []
    runs: dict[str, list[speed.WorkerRun]] = {"old": [], "new": []}
    for rep in range(reps):
        log(f"ingest: ceiling (bare aiokafka fetch + decode), turn {rep + 1}/{reps}")
        ceilings.append(asyncio.run(speed.ceiling(bootstrap, topic, events)))
        for path in ORDER[rep % 2]:
            log(f"ingest: {path} path, turn {rep + 1}/{reps}")
            with speed.Service(bootstrap, topic, work / f"ingest-{path}-{rep}", path) as svc:
                runs[path].append(speed.run_worker(svc, events, path))
    ceiling = statistics.median(ceilings)
    paths: dict[str, dict[str, Any]] = {}
    for path, done in runs.items():
        rate = statistics.median(r.events_per_s for r in done)
        paths[path] = {
            "events_per_s": round(rate),
            "runs_events_per_s": [round(r.events_per_s) for r in done],
            "ratio": round(rate / ceiling, 3),
            "peak_rss_mib": round(max(r.peak_rss_mib for r in done)),
            "stages_us_per_event": _stages(done[-1], events),
        }
    new = runs["new"][-1]
    return {
        "events": events,
        "producer_events_per_s": round(produced),
        "ceiling_events_per_s": round(ceiling),
        "ceiling_runs": [round(c) for c in ceilings],
        "events_per_s": paths["new"]["events_per_s"],
        "seconds": round(statistics.median(r.seconds for r in runs["new"]), 1),
        "worker_peak_rss_mib": paths["new"]["peak_rss_mib"],
        "ratio": paths["new"]["ratio"],
        "new_over_old": round(paths["new"]["events_per_s"] / paths["old"]["events_per_s"], 2),
        "stored": new.stats.get("inserted"),
        "duplicates": new.stats.get("duplicates"),
        "paths": paths,
    }


def batch_sizes(bootstrap: str, work: Path, events: int, sizes: list[int]) -> list[dict[str, Any]]:
    """Events/s by the sink batch's byte bound (``sizes`` in MiB), both paths, interleaved."""
    log(f"ingest: events/s by batch size over {events:,} events")
    topic, _ = _topic("batch", bootstrap, events)
    rows = []
    for i, size in enumerate(sizes):
        for path in ORDER[i % 2]:
            env = {"LLMHUB_WORKER_BATCH_MAX_BYTES": str(size * MIB)}
            with speed.Service(bootstrap, topic, work / f"bs-{path}-{size}", path, env) as svc:
                run = speed.run_worker(svc, events, path)
            rows.append({"batch_mib": size, "path": path, "events_per_s": round(run.events_per_s)})
    return rows


def memory(bootstrap: str, work: Path, events: int, variants: list[str]) -> list[dict[str, Any]]:
    log(f"ingest: peak RSS with a {events:,}-event backlog")
    topic, _ = _topic("rss", bootstrap, events, seed=7)
    rows = []
    for name in variants:
        env = RSS_VARIANTS[name]
        with speed.Service(bootstrap, topic, work / f"rss-{name}", "new", env) as svc:
            run = speed.run_worker(svc, events, "new")
        rows.append(
            {
                "variant": name,
                "env": env,
                "peak_rss_mib": round(run.peak_rss_mib),
                "events_per_s": round(run.events_per_s),
            }
        )
        log(f"ingest: rss {name}: {run.peak_rss_mib:.0f} MiB")
    return rows


# Freshness runs: (path, how events are packed into messages). Per partition is how the
# project's producer sends; per client is what keyed single-client messages cost.
FRESH_RUNS = (("old", "partition"), ("new", "partition"), ("new", "client"))


def freshness(
    bootstrap: str, work: Path, rate: int, seconds: float, runs: tuple[tuple[str, str], ...]
) -> list[dict[str, Any]]:
    rows = []
    for path, per in runs:
        log(f"ingest: freshness at {rate:,} events/s for {seconds:g} s, {path} path, per {per}")
        topic = f"bench-fresh-{path}-{per}-{int(time.time() * 1000)}"
        asyncio.run(speed.create_topic(bootstrap, topic))
        with speed.Service(bootstrap, topic, work / f"fresh-{path}-{per}", path) as svc:
            result = asyncio.run(fresh.measure(svc, bootstrap, topic, path, rate, seconds, per))
        rows.append(asdict(result))
    return rows


def profile(events: int, work: Path) -> list[dict[str, Any]]:
    """Per stage: us per event for each path (in one process, batches alternating)."""
    log("ingest: per-stage profile")
    result = ingest_profile.profile(events, work / "profile")
    old = {r["stage"]: r for r in result["old"]}
    return [
        {
            "stage": row["stage"],
            "old_us_per_event": old[row["stage"]]["us_per_event"],
            "new_us_per_event": row["us_per_event"],
        }
        for row in result["new"]
    ]


def measure(
    bootstrap: str, work: Path, events: int, rss_events: int, quick: bool = False
) -> dict[str, Any]:
    """The ingest section of the results (see the module docstring)."""
    result = throughput(bootstrap, work, events, reps=1 if quick else 3)
    result["profile"] = profile(min(events, 200_000), work)
    result["freshness"] = freshness(
        bootstrap,
        work,
        2_000 if quick else 20_000,
        3 if quick else 60,
        (("new", "partition"),) if quick else FRESH_RUNS,
    )
    # The sweep costs a service start per point: the quick smoke run leaves it out.
    result["batch_sizes"] = [] if quick else batch_sizes(bootstrap, work, 200_000, SWEEP_MIB)
    result["rss_5m_backlog_mib"] = None
    if rss_events:
        # Bigger batches are faster (the sweep): is their memory still under the target?
        rows = memory(bootstrap, work, rss_events, ["default"] if quick else ["default", "bytes16"])
        result["rss_variants"] = rows
        result["rss_5m_backlog_mib"] = rows[0]["peak_rss_mib"]
        result["rss_backlog_events"] = rss_events
        result["rss_backlog_events_per_s"] = rows[0]["events_per_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--work", type=Path, default=Path(".cache/bench/ingest"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sweep-events", type=int, default=200_000)
    parser.add_argument("--sweep-mib", type=int, nargs="*", default=SWEEP_MIB)
    parser.add_argument("--rss-events", type=int, default=5_000_000)
    parser.add_argument("--rss-variants", nargs="*", default=["default", "arena2"])
    parser.add_argument("--fresh-rate", type=int, default=20_000)
    parser.add_argument("--fresh-seconds", type=float, default=60)
    parser.add_argument(
        "--only", nargs="*", default=["throughput", "profile", "fresh", "sweep", "rss"]
    )
    parser.add_argument("--out", type=Path, default=Path(".cache/bench/ingest.json"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    steps: dict[str, Callable[[], Any]] = {
        "throughput": lambda: throughput(args.bootstrap, args.work, args.events, args.reps),
        "profile": lambda: profile(min(args.events, 200_000), args.work),
        "fresh": lambda: freshness(
            args.bootstrap, args.work, args.fresh_rate, args.fresh_seconds, FRESH_RUNS
        ),
        "sweep": lambda: batch_sizes(args.bootstrap, args.work, args.sweep_events, args.sweep_mib),
        "rss": lambda: memory(args.bootstrap, args.work, args.rss_events, args.rss_variants),
    }
    results: dict[str, Any] = {}
    for name in args.only:
        results[name] = steps[name]()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
