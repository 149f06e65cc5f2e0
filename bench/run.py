"""``make bench``: every benchmark of docs/benchmarks.md, run and written in one go.

Full mode: 10M and 100M events for the query benchmark (HTTP, largest and a typical client,
concurrency 1 and 16), the PostgreSQL baseline on the 10M data set, ingest of a 1M-event
backlog through Kafka with its fetch+decode ceiling, peak RSS with a 5M-event backlog, and a
per-stage profile of the sink. ``--quick`` runs the same steps on small numbers (the test suite
runs it as a smoke test); its figures say nothing about speed.

The service under test always runs as its own process and the load client in another
(``python -m bench.load``), as in production; the steps that own the embedded engine run in
children too (``python -m bench.datagen``), since one process can hold only one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import asks, ingest, targets
from bench.common import QUESTIONS, ROOT, Service, log, start_service
from bench.postgres import load as pg_load
from bench.postgres import questions as pg_questions
from bench.postgres import server_version, start_server, stop_server
from bench.report import write_report
from query_api.contract import MAX_LOG_OFFSET

ADMIN = "bench-admin-token"


def python(*args: str) -> str:
    """Run ``python -m ...`` in a child process and return its stdout (fails loudly)."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def api_key(service: Service, client_id: str) -> str:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    client = {"client_id": client_id, "name": client_id, "monthly_budget_usd": "5000"}
    try:
        http("POST", f"{service.url}/admin/v1/clients", client, auth)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # a data set reused from an earlier run has the client already
            raise
    return str(
        http("POST", f"{service.url}/admin/v1/clients/{client_id}/keys", {}, auth)["api_key"]
    )


def requests_for(client_events: int, log_id: str, key: str) -> list[dict[str, Any]]:
    """The load client's requests: every question, and on the logs path also a filtered page
    and a deep page (half way through the client's calls)."""
    out = []
    for question, path in QUESTIONS.items():
        variants: dict[str, dict[str, Any]] = {question: {}}
        if question == "logs":
            variants = {
                "logs": {"limit": 100},
                "logs_filtered": {"limit": 100, "provider": "openai", "success": "false"},
                "logs_deep": {"limit": 100, "offset": min(client_events // 2, MAX_LOG_OFFSET)},
            }
        for name, params in variants.items():
            out.append(
                {
                    "name": name,
                    "path": path.format(log_id=log_id),
                    "params": params,
                    "headers": {"x-api-key": key},
                }
            )
    return out


def query_bench(
    events: int, work: Path, requests: int, quick: bool, layer_requests: int
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    data_dir = work / f"engine-{events}"
    log(f"{events:,} events: generating (reused when already there)")
    generated = json.loads(
        python(
            "-m", "bench.datagen", "generate", "--data-dir", str(data_dir), "--events", str(events)
        )
    )
    sizes = generated["sizes"]
    largest, typical = sizes[0], sizes[len(sizes) // 2]
    layer = None
    if layer_requests:
        log(f"{events:,} events: same-layer benchmark, before and after the read model")
        layer = json.loads(
            python(
                "-m",
                "bench.layer",
                "--data-dir",
                str(data_dir),
                "--clients",
                f"largest={largest[0]},typical={typical[0]}",
                "--rounds",
                "2" if quick else "3",
                "--requests",
                str(layer_requests),
            )
        )
        layer["events"] = events
    service = start_service(
        data_dir, work / f"serve-{events}.log", {"LLMHUB_API_ADMIN_TOKEN": ADMIN}
    )
    rows: list[dict[str, Any]] = []
    try:
        clients = {}
        for label, (client_id, client_events) in (("largest", largest), ("typical", typical)):
            key = api_key(service, client_id)
            page = http(
                "GET", f"{service.url}{QUESTIONS['logs']}?limit=1", headers={"x-api-key": key}
            )
            clients[label] = (client_events, key, page["items"][0]["log_id"])
        for concurrency in targets.P99_MS:
            for label, (client_events, key, log_id) in clients.items():
                spec = {
                    "base_url": service.url,
                    "concurrency": concurrency,
                    "requests_per_endpoint": requests * (2 if concurrency > 1 else 1),
                    "warmup": 3 if quick else 20,
                    "timeout_s": 60,
                    "requests": requests_for(client_events, log_id, key),
                }
                spec_path = work / "spec.json"
                spec_path.write_text(json.dumps(spec))
                log(
                    f"{events:,} events: {label} client ({client_events:,} events), "
                    f"concurrency {concurrency}"
                )
                measured = json.loads(python("-m", "bench.load", str(spec_path), "--quiet"))
                for name, stats in measured.items():
                    rows.append(
                        {
                            "events": events,
                            "client": label,
                            "client_events": client_events,
                            "concurrency": concurrency,
                            "endpoint": name,
                            **{
                                k: stats[k] for k in ("p50_ms", "p95_ms", "p99_ms", "rps", "errors")
                            },
                        }
                    )
    finally:
        service.stop()
    info = {
        "largest": largest,
        "typical": typical,
        "clickhouse": generated["clickhouse"],
        "layer": layer,
    }
    return rows, {"events": events, "seconds": round(generated["seconds"], 1)}, info


def postgres_bench(
    events: int, work: Path, info: dict[str, Any], reps: int, rounds: int
) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    tsv = work / f"events-{events}.tsv"
    log(f"PostgreSQL: exporting {events:,} events")
    data_dir = str(work / f"engine-{events}")
    python("-m", "bench.datagen", "export", "--data-dir", data_dir, "--out", str(tsv))
    dsn = start_server()
    try:
        log("PostgreSQL: loading and indexing")
        loaded = pg_load.load_tsv(dsn, tsv)
        version = server_version(dsn)
        now = datetime.now(UTC)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_end = (month_start + timedelta(days=32)).replace(day=1)
        month = (pg_questions.naive_utc(month_start), pg_questions.naive_utc(month_end))
        rows = []
        for label in ("largest", "typical"):
            facts = info["layer"]["clients"][label]
            client_id, client_events, log_ids = (
                facts["client_id"],
                facts["events"],
                facts["log_ids"],
            )
            first = datetime.fromisoformat(facts["first"]).replace(tzinfo=UTC)
            last = datetime.fromisoformat(facts["last"]).replace(tzinfo=UTC)
            log(f"PostgreSQL: {label} client")
            for question in asks.QUESTIONS:
                # The seeds bench.layer uses at concurrency 1: the very same asks.
                drawn = [
                    a
                    for r in range(rounds)
                    for a in asks.draw(
                        question, reps, r * 1000 + 1, first, last, client_events, log_ids
                    )
                ]
                s = pg_questions.run_asks(dsn, client_id, drawn, month)
                rows.append(
                    {
                        "events": events,
                        "client": label,
                        "endpoint": question,
                        "concurrency": 1,
                        **{k: s[k] for k in ("p50_ms", "p95_ms", "p99_ms")},
                    }
                )
    finally:
        stop_server()
        tsv.unlink(missing_ok=True)
    return rows, version, loaded


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke test")
    parser.add_argument(
        "--sizes", help="comma-separated event counts for the query benchmark; 0: ingest only"
    )
    parser.add_argument(
        "--pg-events", type=int, help="data set used for PostgreSQL; 0: no PostgreSQL"
    )
    parser.add_argument("--ingest-events", type=int, help="0: no ingest benchmark")
    parser.add_argument("--http-requests", type=int, help="per endpoint and phase")
    parser.add_argument("--layer-requests", type=int, help="per question, round and variant")
    parser.add_argument("--rss-events", type=int)
    parser.add_argument("--kafka-bootstrap", default="", help="use this broker (else start one)")
    parser.add_argument("--label", help="the command to name in the report")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--plots", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args(argv)

    quick = args.quick
    sizes = (
        [int(s) for s in args.sizes.split(",") if int(s) > 0]
        if args.sizes
        else ([200_000] if quick else [10_000_000, 100_000_000])
    )
    # Ingest only (``--sizes 0``, ``make bench MODE=ingest``): no query data set, no PostgreSQL.
    pg_events = args.pg_events if args.pg_events is not None else (sizes[0] if sizes else 0)
    if pg_events and pg_events not in sizes:
        raise SystemExit(f"--pg-events {pg_events} must be one of the sizes {sizes}")
    ingest_events = (
        args.ingest_events if args.ingest_events is not None else (30_000 if quick else 1_000_000)
    )
    rss_events = args.rss_events
    if rss_events is None:
        rss_events = 0 if quick else targets.BACKLOG_EVENTS
    requests = args.http_requests or (20 if quick else 200)
    layer_requests = (
        args.layer_requests if args.layer_requests is not None else (5 if quick else 40)
    )
    args.work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "mode": "quick"
        if quick
        else ("full" if not args.sizes else f"sizes {args.sizes}" if sizes else "ingest only"),
        "command": args.label or ("make bench" + (" QUICK=1" if quick else "")),
        "machine": machine(),
        "load": [],
        "query": [],
        "postgres": [],
    }
    infos = {}
    for events in sizes:
        rows, load, info = query_bench(events, args.work, requests, quick, layer_requests)
        # The same-layer table of the PostgreSQL data set, else of the largest one.
        if info["layer"] and events == (pg_events or max(sizes)):
            results["layer"] = info["layer"]
        results["query"].extend(rows)
        results["load"].append(load)
        results["machine"]["clickhouse"] = f"chdb (ClickHouse {info['clickhouse']})"
        infos[events] = info
    if pg_events:
        pg_rows, pg_version, pg_loaded = postgres_bench(
            pg_events, args.work, infos[pg_events], reps=layer_requests, rounds=2 if quick else 3
        )
        results["postgres"] = pg_rows
        results["postgres_load"] = pg_loaded
        results["machine"]["postgres"] = pg_version
    if not sizes and not ingest_events:
        raise SystemExit("--sizes 0 with --ingest-events 0: nothing to measure")
    if ingest_events:
        bootstrap = args.kafka_bootstrap
        # Without a broker given, run the local one on a port of its own (not the development
        # broker's 19092 nor the tests' 19292), and reset it after.
        script = ROOT / "deploy" / "kafka" / "kafka.sh"
        kenv = {**os.environ, "KAFKA_PORT": "19492"}
        if not bootstrap:
            subprocess.run(
                ["bash", str(script), "start"], env=kenv, check=True, capture_output=True
            )
            bootstrap = f"127.0.0.1:{kenv['KAFKA_PORT']}"
        try:
            results["ingest"] = ingest.measure(
                bootstrap, args.work, ingest_events, rss_events, quick
            )
        finally:
            if not args.kafka_bootstrap:
                subprocess.run(
                    ["bash", str(script), "reset"], env=kenv, check=False, capture_output=True
                )
    results["targets"] = targets.evaluate(results)
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds())
    write_report(results, args.out, args.plots)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    for t in results["targets"]:
        log(f"{'MET ' if t['met'] else 'MISS'} {t['target']}: {t['measured']}")
    log(f"wrote {args.out} in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
