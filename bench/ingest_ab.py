"""Ingest throughput of this checkout against another one, interleaved on one backlog.

``python -m bench.ingest_ab --bootstrap HOST:PORT --base ../base`` runs the service of the
checkout at ``--base`` (e.g. ``git worktree add ../base <commit>``) and of this one, taking
turns on the same backlog topic (each turn a fresh engine and consumer group), and prints each
turn's events/s, the medians and their ratio. ``--fresh client partition`` measures
freshness (:mod:`bench.freshness`, new path) instead, for each checkout and packing of
messages. The machine is shared and noisy: only figures from one such run are compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench import common
from bench import ingest_speed as speed
from bench.ingest import _topic, freshness

HERE = common.ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_ab", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--base", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--path", default="new", choices=sorted(speed.PATHS))
    parser.add_argument("--work", type=Path, default=Path(".cache/bench/ab"))
    parser.add_argument("--fresh", nargs="*", choices=["partition", "client"], default=[])
    parser.add_argument("--fresh-rate", type=int, default=20_000)
    parser.add_argument("--fresh-seconds", type=float, default=60)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    roots = {"base": args.base.resolve(), "head": HERE}
    if args.fresh:
        rows = {}
        for name in ("base", "head"):
            common.ROOT = roots[name]
            try:
                runs = tuple((args.path, per) for per in args.fresh)
                rows[name] = freshness(
                    args.bootstrap, args.work / name, args.fresh_rate, args.fresh_seconds, runs
                )
            finally:
                common.ROOT = HERE
        print(json.dumps(rows, indent=2))
        return 0
    topic, _ = _topic("ab", args.bootstrap, args.events)
    rates: dict[str, list[float]] = {"base": [], "head": []}
    for rep in range(args.reps):
        for name in ("base", "head") if rep % 2 == 0 else ("head", "base"):
            common.ROOT = roots[name]  # where start_service runs `python -m cli.serve`
            try:
                run_dir = args.work / f"{name}-{rep}"
                with speed.Service(args.bootstrap, topic, run_dir, args.path) as svc:
                    run = speed.run_worker(svc, args.events, args.path)
            finally:
                common.ROOT = HERE
            rates[name].append(run.events_per_s)
            common.log(f"ab: {name} turn {rep + 1}: {run.events_per_s:,.0f} events/s")
    medians = {name: statistics.median(r) for name, r in rates.items()}
    result = {
        "events": args.events,
        "runs_events_per_s": {n: [round(r) for r in v] for n, v in rates.items()},
        "median_events_per_s": {n: round(m) for n, m in medians.items()},
        "head_over_base": round(medians["head"] / medians["base"], 3),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
