"""``python -m bench.ingest_speed_run``: issue 9's figures, old path vs new, interleaved.

Prints JSON (and writes it to ``--out``): end-to-end events/s of one worker from a backlog,
the bare fetch+decode ceiling measured between the runs, worker peak RSS, freshness p99 at a
steady rate, and events/s by sink batch size. Medians and new/old ratios are what count on a
shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import ingest_speed as speed


def _order(rep: int) -> tuple[str, str]:
    return ("old", "new") if rep % 2 == 0 else ("new", "old")


def throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    topic = f"speed-{uuid.uuid4().hex[:8]}"
    asyncio.run(speed.create_topic(args.bootstrap, topic, args.partitions))
    produced = asyncio.run(speed.produce_backlog(args.bootstrap, topic, args.events))
    ceilings: list[float] = []
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for rep in range(args.reps):
        ceilings.append(asyncio.run(speed.ceiling(args.bootstrap, topic, args.events, 4)))
        for path in _order(rep):
            data = work / f"tp-{path}-{rep}"
            group = f"{topic}-{path}-{rep}"
            with speed.Service(
                args.bootstrap, topic, data, args.port, args.partitions, path, group=group
            ) as service:
                run = speed.run_worker(service, args.events, path)
            runs[path].append(asdict(run))
            print(f"  rep {rep} {path}: {run.events_per_s:,.0f} ev/s rss {run.peak_rss_mib:.0f}")
            shutil.rmtree(data, ignore_errors=True)
    med = {p: statistics.median(r["events_per_s"] for r in runs[p]) for p in runs}
    ceiling = statistics.median(ceilings)
    return {
        "events": args.events,
        "produce_events_per_s": round(produced),
        "ceiling_events_per_s": [round(c) for c in ceilings],
        "ceiling_median": round(ceiling),
        "runs": runs,
        "median_events_per_s": {p: round(v) for p, v in med.items()},
        "new_over_old": round(med["new"] / med["old"], 2),
        "ratio_to_ceiling": {p: round(v / ceiling, 3) for p, v in med.items()},
    }


def batch_sizes(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    topic = f"speed-bs-{uuid.uuid4().hex[:8]}"
    asyncio.run(speed.create_topic(args.bootstrap, topic, args.partitions))
    asyncio.run(speed.produce_backlog(args.bootstrap, topic, args.sweep_events))
    rows = []
    for size in args.sweep_sizes:
        for path in _order(size):
            data = work / f"bs-{path}-{size}"
            env = {"LLMHUB_WORKER_BATCH_SIZE": str(size)}
            with speed.Service(
                args.bootstrap, topic, data, args.port, args.partitions, path, env, f"{data.name}"
            ) as service:
                run = speed.run_worker(service, args.sweep_events, path)
            rows.append({"batch_messages": size, "path": path, "events_per_s": run.events_per_s})
            print(f"  batch {size} {path}: {run.events_per_s:,.0f} ev/s")
            shutil.rmtree(data, ignore_errors=True)
    return rows


def memory(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    topic = f"speed-rss-{uuid.uuid4().hex[:8]}"
    asyncio.run(speed.create_topic(args.bootstrap, topic, args.partitions))
    asyncio.run(speed.produce_backlog(args.bootstrap, topic, args.rss_events))
    rows = []
    for name, path, env in args.rss_variants:
        data = work / f"rss-{name}"
        with speed.Service(
            args.bootstrap, topic, data, args.port, args.partitions, path, env, data.name
        ) as service:
            run = speed.run_worker(service, args.rss_events, path)
        rows.append({"variant": name, **asdict(run)})
        print(f"  rss {name}: {run.peak_rss_mib:.0f} MiB, {run.events_per_s:,.0f} ev/s")
        shutil.rmtree(data, ignore_errors=True)
    return rows


def fresh(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = []
    for path in ("old", "new"):
        topic = f"speed-fresh-{uuid.uuid4().hex[:8]}"
        asyncio.run(speed.create_topic(args.bootstrap, topic, args.partitions))
        data = work / f"fresh-{path}"
        with speed.Service(
            args.bootstrap, topic, data, args.port, args.partitions, path
        ) as service:
            result = asyncio.run(
                speed.freshness(
                    service, args.bootstrap, topic, path, args.fresh_rate, args.fresh_seconds
                )
            )
        rows.append(asdict(result))
        print(f"  fresh {path}: p99 {result.p99_s} s at {result.rate:,.0f} ev/s")
        shutil.rmtree(data, ignore_errors=True)
    return rows


RSS_VARIANTS = {
    "default": ("new", {}),
    "arena2": ("new", {"MALLOC_ARENA_MAX": "2"}),
    "old": ("old", {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--port", type=int, default=19720, help="API port of the service")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sweep-events", type=int, default=200_000)
    parser.add_argument("--sweep-sizes", type=int, nargs="*", default=[10, 30, 100, 300])
    parser.add_argument("--rss-events", type=int, default=5_000_000)
    parser.add_argument("--rss", nargs="*", default=["default", "arena2"])
    parser.add_argument("--fresh-rate", type=int, default=20_000)
    parser.add_argument("--fresh-seconds", type=float, default=60)
    parser.add_argument("--only", nargs="*", default=["throughput", "sweep", "rss", "fresh"])
    parser.add_argument("--out", type=Path, default=Path(".cache/bench/ingest_speed.json"))
    args = parser.parse_args(argv)
    args.rss_variants = [(name, *RSS_VARIANTS[name]) for name in args.rss]
    work = Path(tempfile.mkdtemp(prefix="ingest-speed-", dir=".cache"))
    results: dict[str, Any] = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    steps = {"throughput": throughput, "sweep": batch_sizes, "rss": memory, "fresh": fresh}
    try:
        for name in args.only:
            print(f"{name} ...", flush=True)
            results[name] = steps[name](args, work)
            args.out.write_text(json.dumps(results, indent=2, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
