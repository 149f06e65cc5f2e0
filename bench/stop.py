"""How long SIGTERM takes while the sink is in trouble.

Starts ``llmhub-serve`` (API + sink, embedded engine) from each code tree given, against a
broker of its own (``deploy/kafka/kafka.sh`` on ``--port``), feeds it a backlog, then
``--scenario broker-down``: stops the broker mid-stream; ``backfill``: sends one batch message
spanning 130 months (one insert would touch 130 partitions: ClickHouse refuses it). Five
seconds later it sends SIGTERM and measures until the process exits (SIGKILL after ``--cap``
seconds, reported as inf). Trees are interleaved round by round; medians are printed, never
asserted.

    .venv/bin/python -m bench.stop --port 19430 --code . --code ../other
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
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from bench.common import ROOT, free_port
from bench.resume import TOKEN, _start, _wait
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory


def _broker(command: str, port: int) -> None:
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1)}
    subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka" / "kafka.sh"), command],
        env=env,
        check=True,
        capture_output=True,
    )


def one_round(code: Path, port: int, cap_s: float, work: Path, scenario: str) -> float:
    bootstrap = f"127.0.0.1:{port}"
    _broker("start", port)
    suffix = uuid.uuid4().hex[:8]
    api_port = free_port()
    env = {
        **os.environ,
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(work / "engine"),
        "LLMHUB_WORKER_STATE_DIR": str(work / "worker"),
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
        "LLMHUB_KAFKA_TOPIC": f"stop-{suffix}",
        "LLMHUB_KAFKA_DLQ_TOPIC": f"stop-{suffix}.dlq",
        "LLMHUB_KAFKA_GROUP": f"stop-{suffix}",
        "LLMHUB_API_PORT": str(api_port),
        "LLMHUB_API_ADMIN_TOKEN": TOKEN,
        "LLMHUB_WORKER_BATCH_SIZE": "3",
        "LLMHUB_WORKER_BATCH_WINDOW_S": "0.05",
    }
    url = f"http://127.0.0.1:{api_port}"
    proc = _start(code, env, work / "serve.log")
    try:
        _wait(url, lambda s: True, 120)
        end = datetime.now(UTC)
        events = list(EventFactory(seed=1).month({"a": 4000}, end - timedelta(days=1), end))

        async def feed() -> None:
            async with EventProducer(bootstrap, env["LLMHUB_KAFKA_TOPIC"]) as producer:
                await producer.send_all(events)

        asyncio.run(feed())
        _wait(url, lambda s: s.get("inserted", 0) >= 300, 120)
        if scenario == "broker-down":
            _broker("stop", port)
        else:
            backfill = [
                {**events[0], "event_id": str(uuid.uuid4()), "occurred_at": when.isoformat()}
                for when in (end - timedelta(days=30.5 * i) for i in range(130))
            ]
            asyncio.run(_send_raw(bootstrap, env["LLMHUB_KAFKA_TOPIC"], orjson.dumps(backfill)))
        time.sleep(5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=cap_s)
        except subprocess.TimeoutExpired:
            return float("inf")
        return time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _broker("reset", port)


async def _send_raw(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"a")
    finally:
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.stop", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--code", action="append", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--logs", type=Path, help="keep each round's service log here")
    parser.add_argument("--cap", type=float, default=120.0)
    parser.add_argument("--scenario", choices=["broker-down", "backfill"], default="broker-down")
    args = parser.parse_args(argv)
    results: dict[Path, list[float]] = {c: [] for c in args.code}
    for round_no in range(args.rounds):
        for code in args.code:
            work = Path(tempfile.mkdtemp(prefix="stop-"))
            try:
                seconds = one_round(code.resolve(), args.port, args.cap, work, args.scenario)
            finally:
                if args.logs is not None:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    name = f"{round_no}-{code.resolve().name}-{args.scenario}.log"
                    shutil.copy(work / "serve.log", args.logs / name)
                shutil.rmtree(work, ignore_errors=True)
            results[code].append(seconds)
            print(f"round {round_no} {code}: SIGTERM took {seconds:.1f} s", flush=True)
    for code, runs in results.items():
        print(f"{code}: median {statistics.median(runs):.1f} s (n={len(runs)}; inf = over the cap)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
