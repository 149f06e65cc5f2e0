"""Processes the fault suite drives: ``llmhub-serve`` (API + sink) and the local broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "faults-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(workdir: Path, bootstrap: str, **extra: str) -> dict[str, str]:
    """Settings of one service: its own engine directory, topics and consumer group."""
    suffix = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(workdir / "engine"),
        "LLMHUB_WORKER_STATE_DIR": str(workdir / "worker"),
        "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
        "LLMHUB_KAFKA_TOPIC": f"faults-{suffix}",
        "LLMHUB_KAFKA_DLQ_TOPIC": f"faults-{suffix}.dlq",
        "LLMHUB_KAFKA_GROUP": f"faults-{suffix}",
        "LLMHUB_API_PORT": str(free_port()),
        "LLMHUB_API_ADMIN_TOKEN": ADMIN_TOKEN,
        "LLMHUB_WORKER_SESSION_TIMEOUT_S": "6",
        **extra,
    }


class Service:
    """One ``llmhub-serve`` process that can be killed and started again on the same data."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{env['LLMHUB_API_PORT']}"
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_rss = 0

    @property
    def bootstrap(self) -> str:
        return self.env["LLMHUB_KAFKA_BOOTSTRAP"]

    @property
    def topic(self) -> str:
        return self.env["LLMHUB_KAFKA_TOPIC"]

    async def start(self, session: aiohttp.ClientSession, limit_s: float = 120) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.serve", env=self.env, stdout=out, stderr=out, cwd=ROOT
        )
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError("service exited:\n" + self.log.read_text()[-3000:])
            try:
                health = await self.health(session)
                if "sink" in health:
                    return
            except (aiohttp.ClientError, ValueError):
                pass
            await asyncio.sleep(0.3)
        raise RuntimeError("service did not start:\n" + self.log.read_text()[-3000:])

    async def health(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        """/healthz as the admin sees it: status, reason and the details (``sink`` counters)."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with session.get(
            f"{self.url}/healthz", headers=headers, timeout=aiohttp.ClientTimeout(total=5)
        ) as r:
            body = dict(await r.json())
        return {**body, **body.get("details", {})}

    def sample_rss(self) -> int:
        """Resident memory of the service now (bytes), remembering the peak."""
        if self.proc is None or self.proc.returncode is not None:
            return 0
        try:
            rss = int(psutil.Process(self.proc.pid).memory_info().rss)
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    async def stop(self, sig: int = signal.SIGTERM, limit_s: float = 60) -> float:
        """Send ``sig`` and wait for the exit; returns the seconds it took."""
        started = time.monotonic()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), limit_s)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise RuntimeError(f"service ignored signal {sig} for {limit_s}s") from None
        return time.monotonic() - started

    async def admin(
        self, session: aiohttp.ClientSession, method: str, path: str, body: Any = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with session.request(
            method, f"{self.url}/admin/v1{path}", json=body, headers=headers
        ) as r:
            assert r.status < 300, (r.status, await r.text())
            return await r.json()

    async def client_key(self, session: aiohttp.ClientSession, client_id: str) -> str:
        await self.admin(session, "POST", "/clients", {"client_id": client_id, "name": client_id})
        issued = await self.admin(session, "POST", f"/clients/{client_id}/keys", {})
        return str(issued["api_key"])


def broker(command: str, port: int) -> None:
    """``deploy/kafka/kafka.sh start|stop`` for the broker listening on ``port``."""
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1)}
    subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka" / "kafka.sh"), command],
        env=env,
        check=True,
        capture_output=True,
    )
