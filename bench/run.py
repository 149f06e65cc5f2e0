"""``make bench``: every benchmark of docs/benchmarks.md, run and written in one go.

Full mode: 10M and 100M events for the query benchmark (HTTP, largest and a typical client,
concurrency 1 and 16), the PostgreSQL baseline on the 10M data set, ingest of a 1M-event
backlog through Kafka with its fetch+decode ceiling, peak RSS with a 5M-event backlog, and a
per-stage profile of the sink. ``--quick`` runs the same steps on small numbers (the test suite
runs it as a smoke test); its figures say nothing about speed.

The service under test always runs as its own process (``python -m query_api.main``) and the
load generator in another (``python -m bench.http_load``), as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "bench-admin-token"
ENDPOINTS = {
    "summary": "/api/v1/llm/billing/usage/summary",
    "by_provider": "/api/v1/llm/billing/usage/by-provider",
    "by_endpoint": "/api/v1/llm/billing/usage/by-endpoint",
    "current_month": "/api/v1/llm/billing/usage/current-month",
    "logs": "/api/v1/llm/billing/logs",
    "logs_filtered": "/api/v1/llm/billing/logs",
    "logs_deep": "/api/v1/llm/billing/logs",
    "log_details": "/api/v1/llm/billing/logs/{log_id}",
}
USAGE_ENDPOINTS = ("summary", "by_provider", "by_endpoint", "current_month")


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def python(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m ...`` in a child process and return its stdout (fails loudly)."""
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return done.stdout


# -- steps that must own the embedded engine: run in child processes ---------------------------
def _pool(data_dir: Path) -> Any:
    from core.clickhouse import ClickHousePool
    from core.settings import ClickHouseSettings

    return ClickHousePool(ClickHouseSettings(data_dir=data_dir), size=1)


def cmd_generate(data_dir: Path, events: int) -> None:
    from bench import datagen
    from core.migrations import migrate

    pool = _pool(data_dir)
    migrate(pool)
    have = pool.query_rows(f"SELECT count() FROM {pool.database}.generations")[0][0]
    seconds = 0.0
    if have != events:
        pool.command(f"TRUNCATE TABLE {pool.database}.generations")
        pool.command(f"TRUNCATE TABLE {pool.database}.usage_hourly")
        seconds = datagen.generate(pool, events)
        # Steady state: parts merged as a long-running server would have them.
        pool.command(f"OPTIMIZE TABLE {pool.database}.generations FINAL")
        pool.command(f"OPTIMIZE TABLE {pool.database}.usage_hourly FINAL")
    sizes = datagen.client_sizes(pool)
    version = pool.query_rows("SELECT version()")[0][0]
    print(json.dumps({"seconds": seconds, "sizes": sizes, "clickhouse": version}))


def cmd_export(data_dir: Path, out: Path) -> None:
    pool = _pool(data_dir)
    out.unlink(missing_ok=True)
    pool.command(
        "SELECT toString(event_id), client_id, "
        "formatDateTime(occurred_at, '%Y-%m-%d %H:%i:%S.%f'), provider, model, endpoint, "
        "input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, "
        "toString(cost_usd), latency_ms, success, status_code, error_type "
        f"FROM {pool.database}.generations INTO OUTFILE '{out}' FORMAT TabSeparated"
    )


# -- the service under test ----------------------------------------------------------------------
@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_service(data_dir: Path, log_path: Path) -> Service:
    port = free_port()
    env = {
        **os.environ,
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(data_dir),
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_KAFKA_BOOTSTRAP": "",
        "LLMHUB_API_PORT": str(port),
        "LLMHUB_API_ADMIN_TOKEN": ADMIN,
    }
    out = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "query_api.main"], env=env, stdout=out, stderr=out, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return Service(proc, url)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"service did not start; see {log_path}")


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
    try:
        http(
            "POST",
            f"{service.url}/admin/v1/clients",
            {"client_id": client_id, "name": client_id, "monthly_budget_usd": "5000"},
            auth,
        )
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
    return str(
        http("POST", f"{service.url}/admin/v1/clients/{client_id}/keys", {}, auth)["api_key"]
    )


def query_bench(
    events: int, work: Path, requests: int, quick: bool
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    data_dir = work / f"engine-{events}"
    log(f"{events:,} events: generating (reused when already there)")
    generated = json.loads(
        python("-m", "bench.run", "_generate", "--data-dir", str(data_dir), "--events", str(events))
    )
    sizes = generated["sizes"]
    largest = sizes[0]
    typical = sizes[len(sizes) // 2]
    service = start_service(data_dir, work / f"serve-{events}.log")
    rows: list[dict[str, Any]] = []
    try:
        clients = {}
        for label, (client_id, client_events) in (("largest", largest), ("typical", typical)):
            key = api_key(service, client_id)
            page = http(
                "GET", f"{service.url}/api/v1/llm/billing/logs?limit=1", headers={"x-api-key": key}
            )
            clients[label] = (client_id, client_events, key, page["items"][0]["log_id"])
        for concurrency in (1, 16):
            for label, (_client_id, client_events, key, log_id) in clients.items():
                spec = {
                    "base_url": service.url,
                    "concurrency": concurrency,
                    "requests_per_endpoint": requests * (2 if concurrency > 1 else 1),
                    "warmup": 3 if quick else 20,
                    "timeout_s": 60,
                    "requests": [
                        {
                            "name": name,
                            "path": path.format(log_id=log_id),
                            "params": _params(name, client_events),
                            "headers": {"x-api-key": key},
                        }
                        for name, path in ENDPOINTS.items()
                    ],
                }
                spec_path = work / "spec.json"
                spec_path.write_text(json.dumps(spec))
                log(
                    f"{events:,} events: {label} client ({client_events:,} events), "
                    f"concurrency {concurrency}"
                )
                measured = json.loads(python("-m", "bench.http_load", str(spec_path), "--quiet"))
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
        "log_ids": {label: c[3] for label, c in clients.items()},
    }
    return rows, {"events": events, "seconds": round(generated["seconds"], 1)}, info


def _params(name: str, client_events: int) -> dict[str, Any]:
    if name == "logs":
        return {"limit": 100}
    if name == "logs_filtered":
        return {"limit": 100, "provider": "openai", "success": "false"}
    if name == "logs_deep":
        return {"limit": 100, "offset": min(client_events // 2, 10_000_000)}
    return {}


def postgres_bench(
    events: int, work: Path, info: dict[str, Any], reps: int
) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    from bench import postgres

    tsv = work / f"events-{events}.tsv"
    log(f"PostgreSQL: exporting {events:,} events")
    python(
        "-m",
        "bench.run",
        "_export",
        "--data-dir",
        str(work / f"engine-{events}"),
        "--out",
        str(tsv),
    )
    dsn = postgres.start_server()
    try:
        log("PostgreSQL: loading and indexing")
        loaded = postgres.load_tsv(dsn, tsv)
        version = str(postgres.server_info(dsn).get("version", "PostgreSQL"))
        now = datetime.now(UTC)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_end = (month_start + timedelta(days=32)).replace(day=1)
        rows = []
        for label in ("largest", "typical"):
            client_id = info[label][0]
            params = postgres.QuestionParams(
                client_id=client_id,
                start=now - timedelta(days=30),
                end=now,
                group_by="day",
                month_start=month_start,
                month_end=month_end,
                log_id=postgres.pick_log_id(dsn, client_id),
            )
            log(f"PostgreSQL: {label} client")
            stats = postgres.run_questions(dsn, params, repetitions=reps, warmup=2)
            for name, s in stats.items():
                rows.append(
                    {
                        "events": events,
                        "client": label,
                        "endpoint": name,
                        "concurrency": 1,
                        **{k: s[k] for k in ("p50_ms", "p95_ms", "p99_ms")},
                    }
                )
    finally:
        postgres.stop_server()
        tsv.unlink(missing_ok=True)
    return rows, version, loaded.as_dict()


def ingest_bench(
    bootstrap: str, work: Path, events: int, rss_events: int, partitions: int = 4
) -> dict[str, Any]:
    from bench import ingest

    stamp = int(time.time())
    result: dict[str, Any] = {"events": events}
    topic = f"bench-ingest-{stamp}"
    _create_topic(bootstrap, topic, partitions)
    log(f"ingest: producing a backlog of {events:,} events")
    result["producer_events_per_s"] = round(
        asyncio.run(ingest.produce_backlog(bootstrap, topic, events))
    )
    log("ingest: ceiling (bare aiokafka fetch + decode)")
    result["ceiling_events_per_s"] = round(
        asyncio.run(ingest.ceiling(bootstrap, topic, events, partitions))
    )
    log("ingest: worker")
    data_dir = work / f"ingest-{stamp}"
    run = ingest.run_worker(bootstrap, topic, events, data_dir, free_port(), partitions)
    shutil.rmtree(data_dir, ignore_errors=True)
    result.update(
        events_per_s=round(run.events_per_s),
        seconds=round(run.seconds, 1),
        worker_peak_rss_mib=round(run.peak_rss_mib),
        ratio=round(run.events_per_s / result["ceiling_events_per_s"], 3),
        stored=run.stats.get("inserted"),
        duplicates=run.stats.get("duplicates"),
    )
    if rss_events:
        topic = f"bench-rss-{stamp}"
        _create_topic(bootstrap, topic, partitions)
        log(f"ingest: peak RSS with a {rss_events:,}-event backlog")
        asyncio.run(ingest.produce_backlog(bootstrap, topic, rss_events, seed=7))
        data_dir = work / f"rss-{stamp}"
        big = ingest.run_worker(bootstrap, topic, rss_events, data_dir, free_port(), partitions)
        shutil.rmtree(data_dir, ignore_errors=True)
        result["rss_5m_backlog_mib"] = round(big.peak_rss_mib)
        result["rss_backlog_events"] = rss_events
        result["rss_backlog_events_per_s"] = round(big.events_per_s)
    else:
        result["rss_5m_backlog_mib"] = None
    log("ingest: per-stage profile")
    result["profile"] = ingest.profile_stages(min(events, 200_000), work / "profile")
    return result


def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()

    asyncio.run(create())


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


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    from bench.report import compute_ratios

    out = []
    query = results["query"]
    biggest = max((r["events"] for r in query), default=0)
    for conc, limit in ((1, 50.0), (16, 200.0)):
        rows = [r for r in query if r["events"] == biggest and r["concurrency"] == conc]
        worst = max(rows, key=lambda r: r["p99_ms"])
        out.append(
            {
                "target": f"every endpoint p99 < {limit:.0f} ms at {biggest:,} events, "
                f"concurrency {conc}",
                "measured": f"worst p99 {worst['p99_ms']:.1f} ms ({worst['endpoint']}, "
                f"{worst['client']} client)",
                "met": worst["p99_ms"] < limit and all(r["errors"] == 0 for r in rows),
            }
        )
    ratios = [
        r
        for r in compute_ratios(results)
        if r.get("endpoint") in USAGE_ENDPOINTS and r.get("ratio") is not None
    ]
    if ratios:
        low = min(ratios, key=lambda r: r["ratio"])
        out.append(
            {
                "target": ">= 20x faster than PostgreSQL on every usage endpoint",
                "measured": f"lowest {low['ratio']:.1f}x ({low['endpoint']}, "
                f"{low['client']} client)",
                "met": low["ratio"] >= 20,
            }
        )
    ing = results.get("ingest")
    if ing:
        out.append(
            {
                "target": ">= 100k events/s end to end (one worker)",
                "measured": f"{ing['events_per_s']:,} events/s",
                "met": ing["events_per_s"] >= 100_000,
            }
        )
        out.append(
            {
                "target": "worker / ceiling >= 0.7",
                "measured": f"{ing['ratio']:.2f}",
                "met": ing["ratio"] >= 0.7,
            }
        )
        if ing.get("rss_5m_backlog_mib") is not None:
            out.append(
                {
                    "target": "worker RSS < 1 GiB with a 5M-event backlog",
                    "measured": f"{ing['rss_5m_backlog_mib']} MiB "
                    f"({ing['rss_backlog_events']:,}-event backlog)",
                    "met": ing["rss_5m_backlog_mib"] < 1024,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    sub = parser.add_subparsers(dest="internal")
    g = sub.add_parser("_generate")
    g.add_argument("--data-dir", type=Path, required=True)
    g.add_argument("--events", type=int, required=True)
    e = sub.add_parser("_export")
    e.add_argument("--data-dir", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke test")
    parser.add_argument("--sizes", help="comma-separated event counts for the query benchmark")
    parser.add_argument("--pg-events", type=int, help="data set used for PostgreSQL")
    parser.add_argument("--ingest-events", type=int)
    parser.add_argument("--rss-events", type=int)
    parser.add_argument("--kafka-bootstrap", default="", help="use this broker (else start one)")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--plots", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args(argv)
    if args.internal == "_generate":
        cmd_generate(args.data_dir, args.events)
        return 0
    if args.internal == "_export":
        cmd_export(args.data_dir, args.out)
        return 0

    quick = args.quick
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([200_000] if quick else [10_000_000, 100_000_000])
    )
    pg_events = args.pg_events or sizes[0]
    ingest_events = args.ingest_events or (30_000 if quick else 1_000_000)
    rss_events = args.rss_events if args.rss_events is not None else (0 if quick else 5_000_000)
    requests = 20 if quick else 200
    args.work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "command": "make bench" + (" QUICK=1" if quick else ""),
        "machine": machine(),
        "load": [],
        "query": [],
        "postgres": [],
    }
    infos = {}
    for events in sizes:
        rows, load, info = query_bench(events, args.work, requests, quick)
        results["query"].extend(rows)
        results["load"].append(load)
        results["machine"]["clickhouse"] = f"chdb (ClickHouse {info['clickhouse']})"
        infos[events] = info
    if pg_events not in infos:
        raise SystemExit(f"--pg-events {pg_events} must be one of the sizes {sizes}")
    pg_rows, pg_version, pg_load = postgres_bench(
        pg_events, args.work, infos[pg_events], reps=20 if quick else 50
    )
    results["postgres"] = pg_rows
    results["postgres_load"] = pg_load
    results["machine"]["postgres"] = pg_version
    bootstrap = args.kafka_bootstrap
    script = ROOT / "deploy" / "kafka" / "kafka.sh"
    kenv = {**os.environ, "KAFKA_PORT": "19492"}
    if not bootstrap:
        subprocess.run(["bash", str(script), "start"], env=kenv, check=True, capture_output=True)
        bootstrap = "127.0.0.1:19492"
    try:
        results["ingest"] = ingest_bench(bootstrap, args.work, ingest_events, rss_events)
    finally:
        if not args.kafka_bootstrap:
            subprocess.run(
                ["bash", str(script), "reset"], env=kenv, check=False, capture_output=True
            )
    results["targets"] = targets(results)
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds())
    from bench.report import write_report

    write_report(results, args.out, args.plots)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    for t in results["targets"]:
        log(f"{'MET ' if t['met'] else 'MISS'} {t['target']}: {t['measured']}")
    log(f"wrote {args.out} in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
