"""Peak memory of the service while it streams a big client's year out as an export.

Loads one client's year of calls (N rows, made by the engine itself) into a fresh embedded
engine, starts the service on it, and downloads the log and usage exports while sampling the
service's resident memory every 20 ms. Prints rows, bytes, seconds and the peak RSS above the
idle service: with streaming, that peak stays flat as N grows while the export grows with it.

    .venv/bin/python -m bench.export_memory --rows 1000000 4000000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, log, start_service

LOAD = """
import sys
from pathlib import Path
from core.pricing import load_catalog
from core.settings import ClickHouseSettings
from storage.clickhouse import open_storage
rows = int(sys.argv[2])
storage = open_storage(ClickHouseSettings(data_dir=Path(sys.argv[1])), load_catalog())
storage.tenants.create_client("big", "Big Client")
gap_ms = 365 * 86400 * 1000 // rows
per_month = rows // 12
for m in range(12):
    storage.pool.command(
        "INSERT INTO llmhub.generations (event_id, client_id, occurred_at, provider, model, "
        "endpoint, input_tokens, output_tokens, cost_usd, cost_source, latency_ms, success, "
        "request_id) SELECT generateUUIDv4(), 'big', "
        "toDateTime64('2025-01-01', 3, 'UTC') + toIntervalMillisecond(({m:UInt64} * {n:UInt64} "
        "+ number) * {gap:UInt64}), ['openai', 'anthropic', 'google'][number % 3 + 1], "
        "'model-' || toString(number % 7), ['chat', 'embeddings'][number % 2 + 1], "
        "100 + number % 900, 50, toDecimal64(number % 100000, 9) / 1000000000, 'provider', "
        "100 + number % 50, number % 17 != 0, 'req_' || toString(number) FROM numbers({n:UInt64})",
        {"m": m, "n": per_month, "gap": gap_ms},
    )
print(storage.tenants.issue_key("big", "bench").key)
storage.close()
"""


def rss(pid: int) -> int:
    """Resident memory of a process in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.02)


def export(url: str, key: str) -> tuple[int, int, float]:
    """(bytes, lines, seconds) of one export, read in 1 MiB chunks and thrown away."""
    request = urllib.request.Request(url, headers={"x-api-key": key})
    started = time.perf_counter()
    size = lines = 0
    with urllib.request.urlopen(request, timeout=3600) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return size, lines, time.perf_counter() - started


EXPORTS = {
    "logs-csv": "exports/logs?{period}&format=csv",
    "logs-jsonl": "exports/logs?{period}&format=jsonl",
    "usage-hourly-csv": "exports/usage?{period}&group_by=hour&by=provider,model",
}


def measure(rows: int, work: Path, exports: list[str]) -> list[dict[str, object]]:
    data = work / f"chdb-{rows}"
    shutil.rmtree(data, ignore_errors=True)
    log(f"loading {rows:,} rows")
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD, str(data), str(rows)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    key = loaded.stdout.strip().splitlines()[-1]
    service = start_service(data, work / f"serve-{rows}.log")
    results = []
    try:
        idle = rss(service.proc.pid)
        period = "start_date=2025-01-01T00:00:00Z&end_date=2026-01-01T00:00:00Z"
        for what in exports:
            query = EXPORTS[what].format(period=period)
            sampler = Sampler(service.proc.pid)
            sampler.peak = idle
            sampler.start()
            size, lines, seconds = export(f"{service.url}/api/v1/llm/billing/{query}", key)
            sampler.running = False
            sampler.join()
            results.append(
                {
                    "rows_stored": rows,
                    "export": what,
                    "lines": lines,
                    "mb": size / 1e6,
                    "seconds": seconds,
                    "idle_rss_mb": idle / 1e6,
                    "peak_rss_mb": sampler.peak / 1e6,
                }
            )
            log(f"{what}: {results[-1]}")
    finally:
        service.stop()
        shutil.rmtree(data, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--exports", nargs="+", choices=list(EXPORTS), default=list(EXPORTS))
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench" / "export-memory")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    results = [r for n in args.rows for r in measure(n, args.work, args.exports)]
    print("| rows stored | export | lines | MB | s | idle RSS MB | peak RSS MB | peak - idle |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['rows_stored']:,} | {r['export']} | {r['lines']:,} | {r['mb']:.0f} | "
            f"{r['seconds']:.1f} | {r['idle_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
            f"{float(r['peak_rss_mb']) - float(r['idle_rss_mb']):.0f} |"  # type: ignore[arg-type]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
