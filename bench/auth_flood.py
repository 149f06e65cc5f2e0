"""A legitimate client's latency while a flood of wrong API keys hits the service, old vs new.

Two services run side by side on loopback, each on its own embedded engine: ``--old-src`` (a
checkout of the code before the auth guard, e.g. ``git archive main``) and this checkout. For
each round and each service, in interleaved order, a legitimate client asks the usage summary
sequentially for ``--seconds`` three times: alone, during a flood of wrong keys from its own
address (127.0.0.1), and during a flood spread over ``--addresses`` loopback addresses
(127.0.0.2...). The flood runs in another process, at ``--concurrency`` requests at once,
bounded by ``--seconds`` and ``--max-requests``. Medians over rounds of the client's p50/p99
are printed with new/old ratios. Only loopback addresses are used.

    python -m bench.auth_flood --old-src /tmp/old --rounds 2 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = "/api/v1/llm/billing/usage/summary"
TARGET = "/api/v1/llm/billing/usage/current-month"
ADMIN = "bench-admin-token"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Service:
    def __init__(self, name: str, src: Path, port: int, data_dir: Path) -> None:
        self.name, self.src, self.port = name, src, port
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(src),
            "LLMHUB_CLICKHOUSE_DATA_DIR": str(data_dir),
            "LLMHUB_KAFKA_BOOTSTRAP": "",
            "LLMHUB_API_HOST": "127.0.0.1",
            "LLMHUB_API_PORT": str(port),
            "LLMHUB_API_ADMIN_TOKEN": ADMIN,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.serve"],
            cwd=src,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.key = ""

    def wait(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not start")

    async def load(self, session: aiohttp.ClientSession) -> None:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        body = {"client_id": "legit", "name": "Legit"}
        async with session.post(f"{self.url}/admin/v1/clients", json=body, headers=admin) as r:
            assert r.status == 201, await r.text()
        async with session.post(
            f"{self.url}/admin/v1/clients/legit/keys", json={}, headers=admin
        ) as r:
            self.key = (await r.json())["api_key"]
        from ingest.synthetic import EventFactory

        now = datetime.now(UTC)
        events = EventFactory(seed=1).month({"legit": 3000}, now - timedelta(30), now)
        lines = b"\n".join(orjson.dumps(e) for e in events)
        async with session.post(
            f"{self.url}/admin/v1/events/import", data=lines, headers=admin
        ) as r:
            assert r.status == 200, await r.text()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def legit_client(service: Service, seconds: float) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession() as session:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            async with session.get(
                f"{service.url}{SUMMARY}", headers={"x-api-key": service.key}
            ) as r:
                await r.read()
                statuses[r.status] += 1
            latencies.append((time.perf_counter() - began) * 1000)
    return latencies, statuses


async def flood(
    url: str, seconds: float, concurrency: int, max_requests: int, addresses: int
) -> dict[str, int]:
    """Wrong, well-formed keys (each a storage lookup unless refused first)."""
    statuses: Counter[int] = Counter()
    sent = 0
    end = time.monotonic() + seconds
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                local_addr=(f"127.0.0.{2 + n}" if addresses > 1 else "127.0.0.1", 0)
            )
        )
        for n in range(addresses)
    ]

    async def worker(n: int) -> None:
        nonlocal sent
        session = sessions[n % len(sessions)]
        while time.monotonic() < end and sent < max_requests:
            sent += 1
            key = f"llmh_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
            try:
                async with session.get(f"{url}{TARGET}", headers={"x-api-key": key}) as r:
                    await r.read()
                    statuses[r.status] += 1
            except aiohttp.ClientError:
                statuses[-1] += 1

    try:
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    finally:
        for session in sessions:
            await session.close()
    return {str(k): v for k, v in sorted(statuses.items())}


async def measure(service: Service, seconds: float, flood_args: list[str] | None) -> dict[str, Any]:
    proc = None
    if flood_args is not None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.auth_flood",
            "flood",
            service.url,
            *flood_args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(1.0)  # let the flood reach its pace (and the guard block it)
    latencies, statuses = await legit_client(service, seconds)
    flooded: dict[str, int] = {}
    if proc is not None:
        out, _ = await proc.communicate()
        flooded = orjson.loads(out)
    return {
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "requests": len(latencies),
        "statuses": dict(statuses),
        "flood": flooded,
    }


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="llmhub-auth-flood-") as tmp:
        services = [
            Service("old", Path(args.old_src), args.port, Path(tmp) / "old"),
            Service("new", ROOT, args.port + 1, Path(tmp) / "new"),
        ]
        try:
            for s in services:
                s.wait()
            async with aiohttp.ClientSession() as session:
                for s in services:
                    await s.load(session)
            flood_time = str(args.seconds + 1.5)
            common = [flood_time, str(args.concurrency), str(args.max_requests)]
            scenarios: dict[str, list[str] | None] = {
                "alone": None,
                "flood, 1 address": [*common, "1"],
                f"flood, {args.addresses} addresses": [*common, str(args.addresses)],
            }
            results: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for n in range(args.rounds):
                for scenario, flood_args in scenarios.items():
                    order = services if n % 2 == 0 else services[::-1]
                    for s in order:
                        r = await measure(s, args.seconds, flood_args)
                        results.setdefault((scenario, s.name), []).append(r)
                        line = orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS).decode()
                        print(f"round {n + 1} {scenario:<22} {s.name}: {line}", flush=True)
        finally:
            for s in services:
                s.stop()
    print(
        "\nscenario                 | old p50 | new p50 | old p99 | new p99 "
        "| p50 new/old | p99 new/old"
    )
    print("-" * 95)
    for scenario in scenarios:
        med = {
            (name, q): statistics.median(r[q] for r in results[(scenario, name)])
            for name in ("old", "new")
            for q in ("p50", "p99")
        }
        print(
            f"{scenario:<24} | {med['old', 'p50']:7.1f} | {med['new', 'p50']:7.1f} | "
            f"{med['old', 'p99']:7.1f} | {med['new', 'p99']:7.1f} | "
            f"{med['new', 'p50'] / med['old', 'p50']:11.2f} | "
            f"{med['new', 'p99'] / med['old', 'p99']:11.2f}"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "flood":
        url, seconds, concurrency, max_requests, addresses = sys.argv[2:7]
        counts = asyncio.run(
            flood(url, float(seconds), int(concurrency), int(max_requests), int(addresses))
        )
        print(orjson.dumps(counts).decode())
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--old-src", required=True)
    parser.add_argument("--port", type=int, default=19610)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--addresses", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
