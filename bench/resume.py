"""Resume time after a SIGKILL: how long a restarted service takes to consume again.

Starts ``llmhub-serve`` (API + sink, embedded engine) from each code tree given, feeds it a
backlog, kills it with SIGKILL mid-stream, starts it again on the same data and measures from
the restart until the new process stored its first event. Trees are interleaved round by
round (the machine is shared and noisy); medians are printed, never asserted.

    .venv/bin/python -m bench.resume --bootstrap 127.0.0.1:19410 --code . --code ../other
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.common import free_port
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory

TOKEN = "resume-bench-admin"  # noqa: S105 - the benchmark's own loopback service


def _sink(url: str) -> dict[str, Any] | None:
    """The sink counters, from either health shape (before: public; after: admin details)."""
    request = urllib.request.Request(f"{url}/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            body = orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        body = orjson.loads(exc.read())
    except OSError:
        return None
    sink = body.get("sink") or body.get("details", {}).get("sink")
    return dict(sink) if sink else None


def _start(code: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.serve"],
        cwd=code,
        env={**env, "PYTHONPATH": str(code)},
        stdout=out,
        stderr=out,
    )


def _wait(url: str, check: Any, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        sink = _sink(url)
        if sink is not None and check(sink):
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout_s} s")


def one_round(
    code: Path, bootstrap: str, events: list[dict[str, Any]], work: Path
) -> dict[str, float]:
    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    env = {
        **os.environ,
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(work / "engine"),
        "LLMHUB_WORKER_STATE_DIR": str(work / "worker"),
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
        "LLMHUB_KAFKA_TOPIC": f"resume-{suffix}",
        "LLMHUB_KAFKA_DLQ_TOPIC": f"resume-{suffix}.dlq",
        "LLMHUB_KAFKA_GROUP": f"resume-{suffix}",
        "LLMHUB_API_PORT": str(port),
        "LLMHUB_API_ADMIN_TOKEN": TOKEN,
        "LLMHUB_WORKER_BATCH_SIZE": "3",
        "LLMHUB_WORKER_BATCH_WINDOW_S": "0.05",
    }
    url = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    proc = _start(code, env, log)
    try:
        _wait(url, lambda s: True, 120)

        async def feed() -> None:
            async with EventProducer(bootstrap, env["LLMHUB_KAFKA_TOPIC"]) as producer:
                await producer.send_all(events)

        asyncio.run(feed())
        _wait(url, lambda s: s.get("inserted", 0) >= 300, 120)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        restarted = time.monotonic()
        proc = _start(code, env, log)
        up = _wait(url, lambda s: True, 120)
        resumed = _wait(url, lambda s: s.get("inserted", 0) > 0, 120)
        return {"start_s": up - restarted, "resume_s": resumed - restarted}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.resume", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--code", action="append", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    end = datetime.now(UTC)
    results: dict[Path, list[dict[str, float]]] = {c: [] for c in args.code}
    for round_no in range(args.rounds):
        for code in args.code:
            events = list(
                EventFactory(seed=round_no).month(
                    {"a": 3000, "b": 3000}, end - timedelta(days=2), end
                )
            )
            work = Path(tempfile.mkdtemp(prefix="resume-"))
            try:
                result = one_round(code.resolve(), args.bootstrap, events, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            results[code].append(result)
            print(f"round {round_no} {code}: {result}", flush=True)
    for code, runs in results.items():
        start = statistics.median(r["start_s"] for r in runs)
        resume = statistics.median(r["resume_s"] for r in runs)
        print(
            f"{code}: median process start {start:.1f} s, median resume {resume:.1f} s "
            f"(n={len(runs)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
