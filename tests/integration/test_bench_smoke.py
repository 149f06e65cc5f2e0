"""``make bench`` in quick mode, end to end: every step runs and the report is written.

A smoke test only: the quick figures say nothing about speed, so nothing here asserts timing.
It does assert that every request was answered, PostgreSQL answered the same questions, and
the ingest run stored every event it was given.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bench.common import QUESTIONS, ROOT, free_port

# The whole quick run (data, same-layer, HTTP, PostgreSQL, ingest) outlasts the suite's
# default 300 s on a busy machine: the run's own limit below is what bounds it.
pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(960)]


async def test_quick_benchmark_writes_the_report(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = {
        **os.environ,
        "BENCH_PG_HOME": str(tmp_path / "pg"),
        "BENCH_PG_PORT": str(free_port()),
        "BENCH_PG_SHARED_BUFFERS": "128MB",
        "BENCH_PG_EFFECTIVE_CACHE_SIZE": "1GB",
    }
    out = tmp_path / "benchmarks.md"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.run",
        "--quick",
        "--kafka-bootstrap",
        kafka_bootstrap,
        "--work",
        str(tmp_path / "work"),
        "--out",
        str(out),
        "--plots",
        str(tmp_path / "plots"),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=900)
    assert proc.returncode == 0, output.decode()[-5000:]

    results = json.loads(out.with_suffix(".json").read_text())
    assert out.read_text().startswith("#")
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == [
        "ingest.png",
        "postgres_p50.png",
        "query_p99.png",
    ]
    query = results["query"]
    # Every question of the API (tests/unit/test_bench_tools.py pins their names).
    assert set(QUESTIONS) <= {r["endpoint"] for r in query}
    assert {(r["client"], r["concurrency"]) for r in query} == {
        ("largest", 1),
        ("typical", 1),
        ("largest", 16),
        ("typical", 16),
    }
    assert all(r["errors"] == 0 for r in query), [r for r in query if r["errors"]]
    assert {r["endpoint"] for r in results["postgres"]} >= {"summary", "logs", "log_details"}
    # The same-layer run: both read paths, every question, both clients and concurrencies.
    layer = results["layer"]["rows"]
    assert {(r["variant"], r["client"], r["concurrency"]) for r in layer} == {
        (v, c, n) for v in ("before", "after") for c in ("largest", "typical") for n in (1, 16)
    }
    assert {r["question"] for r in layer} >= {"summary", "logs_deep", "log_details"}
    ingest = results["ingest"]
    assert ingest["stored"] == ingest["events"] and ingest["duplicates"] == 0
    assert ingest["events_per_s"] > 0 and ingest["ceiling_events_per_s"] > 0
    assert ingest["profile"][0]["stage"] == "decode + validate"
    assert results["targets"]
