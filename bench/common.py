"""What every benchmark step shares: paths, logging, the service process, the API's questions,
latency statistics and number formatting."""

from __future__ import annotations

import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from query_api.contract import OPERATIONS

ROOT = Path(__file__).resolve().parents[1]
# The product's service entry point: the API, plus the Kafka sink when a broker is configured.
SERVICE_MODULE = "cli.serve"


def _question_name(path: str) -> str:
    # The names the report has always used: the last path segment (summary, by_provider, ...,
    # logs), and log_details for the one page whose last segment is its {log_id} parameter.
    last = path.rsplit("/", 1)[1]
    return "log_details" if last.startswith("{") else last.replace("-", "_")


# The six billing questions, name -> path template, in the contract's order.
QUESTIONS: dict[str, str] = {_question_name(op.path): op.path for op in OPERATIONS}


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the service under test -----------------------------------------------------------------
# The sink's counters on /healthz are for the admin only.
BENCH_ADMIN_TOKEN = secrets.token_urlsafe(16)


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str
    output: IO[bytes]

    def health(self) -> dict[str, Any] | None:
        """/healthz with the admin token: status, reason and the details (sink counters)."""
        request = urllib.request.Request(
            f"{self.url}/healthz", headers={"Authorization": f"Bearer {BENCH_ADMIN_TOKEN}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                body = dict(orjson.loads(r.read()))
        except OSError:
            return None
        return {**body, **body.get("details", {})}

    def stop(self) -> None:
        # SIGTERM, as in production: the service commits what it stored before exiting.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.output.close()


def start_service(
    data_dir: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    ready: Callable[[dict[str, Any]], bool] = lambda health: True,
    timeout_s: float = 300,
) -> Service:
    """Start the service in its own process on the embedded engine in ``data_dir``; return
    once /healthz answers and ``ready`` accepts its body. Output goes to ``log_path``."""
    port = free_port()
    full_env = {
        **os.environ,
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(data_dir),
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_KAFKA_BOOTSTRAP": "",
        "LLMHUB_API_PORT": str(port),
        "LLMHUB_API_ADMIN_TOKEN": BENCH_ADMIN_TOKEN,
        **(env or {}),
    }
    output = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", SERVICE_MODULE], env=full_env, stdout=output, stderr=output, cwd=ROOT
    )
    service = Service(proc, f"http://127.0.0.1:{port}", output)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        health = service.health()
        if health is not None and ready(health):
            return service
        time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"service did not start; see {log_path}")


# -- latency statistics ---------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The nearest-rank ``pct``-th percentile of an ascending, non-empty sequence.

    The smallest value such that at least ``pct`` percent of the values are less than
    or equal to it: rank ``ceil(pct / 100 * n)`` (1-based), and the minimum for 0.
    """
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile out of range: {pct}")
    rank = math.ceil(pct / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def latency_stats(latencies_s: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99 (nearest rank), mean and max in milliseconds, and the count."""
    ms = sorted(x * 1000.0 for x in latencies_s)
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "max_ms": round(ms[-1], 3),
        "n": len(ms),
    }


# -- formatting shared by the report and its plots ------------------------------------------
def fmt_int(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value):,}"


def short_count(n: int) -> str:
    """10000000 -> "10M", 250000 -> "250k"."""
    for div, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= div:
            value = n / div
            return f"{value:g}{suffix}" if value == round(value, 1) else f"{value:.1f}{suffix}"
    return str(n)
