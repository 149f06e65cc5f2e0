"""Closed-loop HTTP load client, run in a process of its own so that it shares no GIL (and
no event loop) with the service under test.

Usage: ``python -m bench.load SPEC.json [--concurrency N] [--requests N] [--quiet]``, where
the spec is JSON::

    {"base_url": "http://127.0.0.1:8080",
     "requests": [{"name": "logs", "path": "/api/...", "params": {"limit": 100},
                   "headers": {"x-api-key": "..."}}],
     "concurrency": 16, "requests_per_endpoint": 200, "warmup": 20, "timeout_s": 30}

Each named request is measured separately: ``warmup`` unmeasured requests, then
``requests_per_endpoint`` requests issued by ``concurrency`` workers, each sending its next
request as soon as the previous one is answered, over one keep-alive session. A latency is
``time.perf_counter`` around the whole request, body included. Any answer but 200, and any
transport failure or timeout, is an error; errors count in ``n`` and the latencies too.

Output on stdout, one JSON object keyed by request name: nearest-rank ``p50_ms``, ``p95_ms``,
``p99_ms``, ``mean_ms``, ``max_ms``, ``n``, ``rps`` (``n`` over the measured wall time),
``errors``, ``first_error`` (status and body or exception, truncated) and ``statuses``
(answers per status code, "error" for transport failures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from bench.common import latency_stats

FIRST_ERROR_MAX_CHARS = 500

ParamValue = str | int | float | bool | Sequence[str | int | float | bool]


@dataclass(frozen=True)
class RequestSpec:
    name: str
    path: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadSpec:
    base_url: str
    requests: tuple[RequestSpec, ...]
    concurrency: int = 16
    requests_per_endpoint: int = 200
    warmup: int = 20
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.requests_per_endpoint < 1:
            raise ValueError("requests_per_endpoint must be at least 1")
        if self.warmup < 0:
            raise ValueError("warmup must not be negative")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        names = [r.name for r in self.requests]
        if len(set(names)) != len(names):
            raise ValueError(f"request names must be unique: {names}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LoadSpec:
        requests = tuple(
            RequestSpec(
                name=str(r["name"]),
                path=str(r["path"]),
                params=dict(r.get("params") or {}),
                headers={str(k): str(v) for k, v in (r.get("headers") or {}).items()},
            )
            for r in raw["requests"]
        )
        # The optional fields keep the dataclass defaults when the spec leaves them out.
        options = {f.name for f in fields(cls)} - {"base_url", "requests"}
        given = {k: v for k, v in raw.items() if k in options}
        return cls(base_url=str(raw["base_url"]), requests=requests, **given)


def _query_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_url(base_url: str, path: str, params: Mapping[str, ParamValue]) -> URL:
    """The full request URL, built (and encoded) once rather than on every request."""
    query: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, str | int | float | bool):
            query.append((key, _query_value(value)))
        else:
            query.extend((key, _query_value(v)) for v in value)
    return URL(base_url.rstrip("/") + "/" + path.lstrip("/")).with_query(query)


@dataclass
class _Recorder:
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    first_error: str | None = None

    def error(self, text: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = text[:FIRST_ERROR_MAX_CHARS]


async def _run_closed_loop(
    session: aiohttp.ClientSession,
    url: URL,
    headers: Mapping[str, str],
    total: int,
    concurrency: int,
    recorder: _Recorder | None,
) -> None:
    """``total`` requests by ``min(concurrency, total)`` workers; record when a recorder
    is given."""
    remaining = total
    perf_counter = time.perf_counter

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status: int | None = None
            body = b""
            failure: BaseException | None = None
            start = perf_counter()
            try:
                async with session.get(url, headers=headers) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = exc
            elapsed = perf_counter() - start
            if recorder is None:
                continue
            recorder.latencies_s.append(elapsed)
            if failure is not None:
                recorder.statuses["error"] += 1
                recorder.error(f"{type(failure).__name__}: {failure}")
            else:
                recorder.statuses[str(status)] += 1
                if status != 200:
                    recorder.error(f"HTTP {status}: {body.decode('utf-8', 'replace')}")

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, total)):
            group.create_task(worker())


def summarize(recorder: _Recorder, wall_s: float) -> dict[str, Any]:
    """The statistics of one measured phase (latencies in milliseconds)."""
    n = len(recorder.latencies_s)
    return {
        **latency_stats(recorder.latencies_s),
        "rps": round(n / wall_s, 2) if wall_s > 0 else 0.0,
        "errors": recorder.errors,
        "first_error": recorder.first_error,
        "statuses": dict(sorted(recorder.statuses.items())),
    }


async def run_endpoint(
    session: aiohttp.ClientSession, spec: LoadSpec, request: RequestSpec
) -> dict[str, Any]:
    """Warm up, then measure one named request."""
    url = build_url(spec.base_url, request.path, request.params)
    headers = dict(request.headers)
    if spec.warmup:
        await _run_closed_loop(session, url, headers, spec.warmup, spec.concurrency, None)
    recorder = _Recorder()
    start = time.perf_counter()
    await _run_closed_loop(
        session, url, headers, spec.requests_per_endpoint, spec.concurrency, recorder
    )
    wall = time.perf_counter() - start
    return summarize(recorder, wall)


async def run_load(
    spec: LoadSpec, progress: Callable[[str, dict[str, Any]], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Measure every named request of ``spec`` in turn, over one keep-alive session."""
    connector = aiohttp.TCPConnector(
        limit=spec.concurrency, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=None
    )
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    results: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for request in spec.requests:
            results[request.name] = await run_endpoint(session, spec, request)
            if progress is not None:
                progress(request.name, results[request.name])
    return results


def _print_progress(name: str, stats: dict[str, Any]) -> None:
    print(
        f"{name}: n={stats['n']} p50={stats['p50_ms']}ms p99={stats['p99_ms']}ms "
        f"rps={stats['rps']} errors={stats['errors']}",
        file=sys.stderr,
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description="Closed-loop HTTP load generator."
    )
    parser.add_argument("spec", type=Path, help="JSON spec file")
    parser.add_argument("--concurrency", type=int, help="override the spec's concurrency")
    parser.add_argument("--requests", type=int, help="override requests_per_endpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    raw = dict(json.loads(args.spec.read_text()))
    if args.concurrency is not None:
        raw["concurrency"] = args.concurrency
    if args.requests is not None:
        raw["requests_per_endpoint"] = args.requests
    try:
        spec = LoadSpec.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        parser.error(f"bad spec {args.spec}: {exc!r}")

    progress = None if args.quiet else _print_progress
    results = asyncio.run(run_load(spec, progress))
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
