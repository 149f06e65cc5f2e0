"""The hostile corpus (tests/hostile.py) sent raw amid valid traffic, and the API fuzz run."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import aiohttp
from aiokafka import AIOKafkaProducer

from tests import hostile
from tests.faults.scenarios import Fault, Outcome
from tests.faults.service import ROOT, Service

# The broker refuses a message over ~1 MB: such records never reach the sink.
TRANSPORTABLE = 1_000_000
HOSTILE_CLIENT = "hostile"


def corpus() -> list[hostile.Hostile]:
    return [
        r for r in hostile.corpus(HOSTILE_CLIENT) if r.value is None or len(r.value) < TRANSPORTABLE
    ]


def refusals(records: list[hostile.Hostile]) -> int:
    return sum(v != hostile.STORED for r in records for v in r.expected)


def send_corpus(records: list[hostile.Hostile]) -> Fault:
    """Every hostile record, raw (past the producer library's checks), spread over the stream."""

    async def fault(service: Service, session: aiohttp.ClientSession, out: Outcome) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=service.bootstrap)
        await producer.start()
        try:
            for record in records:
                await producer.send_and_wait(
                    service.topic, record.value, key=HOSTILE_CLIENT.encode()
                )
                await asyncio.sleep(0.02)
        finally:
            await producer.stop()
        kinds = len({r.kind for r in records})
        out.injected = f"{len(records)} hostile records of {kinds} kinds amid valid traffic"
        out.hostile = refusals(records)

    return fault


def fuzz(examples: int) -> Outcome:
    """schemathesis over the six operations (tests/integration/test_fuzz_api.py), counted."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "--timeout",
            "0",
            "tests/integration/test_fuzz_api.py",
        ],
        cwd=ROOT,
        env={**os.environ, "LLMHUB_FUZZ_EXAMPLES": str(examples)},
        capture_output=True,
        text=True,
        check=False,
    )
    requests = 0
    server_errors = 0
    for line in done.stdout.splitlines():
        found = re.search(r"\]: (\{.*\})$", line)
        if found:
            for status, count in re.findall(r"(\d{3}): (\d+)", found.group(1)):
                requests += int(count)
                server_errors += int(count) if int(status) >= 500 else 0
    outcome = Outcome(
        "API fuzz (schemathesis)",
        f"{requests} requests generated from /openapi.json ({examples} examples per case)",
        0,
    )
    outcome.http_5xx = server_errors if done.returncode == 0 else max(server_errors, 1)
    outcome.notes["pytest"] = done.stdout.strip().splitlines()[-1] if done.stdout else "?"
    return outcome
