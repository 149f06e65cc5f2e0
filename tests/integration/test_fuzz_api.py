"""The billing API fuzzed from its own OpenAPI document (schemathesis) against the real service.

The service is the production app on the real engine, with a client and a month of its calls
loaded, served from its own thread so schemathesis's synchronous HTTP calls can reach it.
Each of the six operations is fuzzed with data that fits the document (positive) and data that
does not (negative). Every answer must be: not a 5xx; a status the document declares (200/422
on the operation, 401/404/429 in ``components.responses``); a body and headers matching it.

The quick run (``make test``) is deterministic: hypothesis derandomized, a fixed number of
examples per operation and mode. ``make fuzz`` (``LLMHUB_FUZZ_EXAMPLES=400``) runs longer.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
)

from core.pricing import load_catalog
from core.settings import ApiSettings, ClickHouseSettings, Settings
from ingest.synthetic import EventFactory
from query_api import contract
from query_api.app import create_app
from query_api.http import Services
from query_api.openapi import build_openapi
from query_api.reports import BillingReports
from storage.clickhouse import ClickHouseStorage
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool

EXAMPLES = int(os.environ.get("LLMHUB_FUZZ_EXAMPLES", "15"))
DOCUMENT = build_openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CLIENT = "fuzzco"
CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Statuses each operation may answer: its own responses, and the shared error responses.
ERROR_STATUSES = {401, 429}
LOG_DETAIL_STATUSES = {404}

# Every status seen, per operation and mode, summed over the run (printed at the end).
SEEN: Counter[tuple[str, str, int]] = Counter()


class LiveService:
    """The production app on its own event loop in a thread; stopped at the end."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-api", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(create_app(self.services), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> LiveService:
        self._thread.start()
        assert self.ready.wait(30), "the API did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


class Loaded:
    def __init__(self, base_url: str, key: str, log_ids: list[str]) -> None:
        self.base_url = base_url
        self.key = key
        self.log_ids = log_ids
        self.session = requests.Session()


@pytest.fixture(scope="module")
def live(engine_dir: Path, clickhouse_url: str) -> Iterator[Loaded]:
    # One service and one data set for every case of this module: fuzzing reads only.
    ch = ClickHouseSettings(
        url=clickhouse_url, data_dir=engine_dir, database=f"t_fuzz_{uuid.uuid4().hex[:10]}"
    )
    # Random keys fail on most requests: a high allowance keeps the fuzz on the operations
    # (the limits have their own tests); the gate and everything else are as in production.
    api = ApiSettings(
        admin_token="fuzz-admin",
        auth_failure_burst=1_000_000,
        auth_failures_per_minute=1_000_000,
    )
    pool = ClickHousePool(ch)
    migrate(pool)
    storage = ClickHouseStorage(pool, load_catalog())
    services = Services(
        settings=Settings(clickhouse=ch, api=api),
        storage=storage,
        reports=BillingReports(storage),
    )
    try:
        with LiveService(services) as service:
            admin = {"Authorization": "Bearer fuzz-admin"}
            url = f"{service.base_url}/admin/v1"
            body = {"client_id": CLIENT, "name": "Fuzz", "monthly_budget_usd": "50"}
            assert requests.post(f"{url}/clients", json=body, headers=admin, timeout=30).ok
            key = requests.post(f"{url}/clients/{CLIENT}/keys", json={}, headers=admin, timeout=30)
            now = datetime.now(UTC)
            events = list(EventFactory(seed=41).month({CLIENT: 300}, now - timedelta(40), now))
            lines = b"\n".join(orjson.dumps(e) for e in events)
            imported = requests.post(f"{url}/events/import", data=lines, headers=admin, timeout=60)
            assert imported.json()["inserted"] == len(events), imported.text
            yield Loaded(service.base_url, key.json()["api_key"], [e["event_id"] for e in events])
    finally:
        pool.command(f"DROP DATABASE IF EXISTS {pool.database}")
        pool.close()


def _pick(case: schemathesis.Case, modulo: int) -> int:
    """A stable choice per case (hypothesis is derandomized, so runs repeat exactly)."""
    text = repr((case.path_parameters, case.query, case.headers))
    return zlib.crc32(text.encode()) % modulo


def _aim(case: schemathesis.Case, loaded: Loaded) -> None:
    """Positive cases mostly carry the real key (and sometimes a real log id) to reach data."""
    if _pick(case, 4):
        case.headers = {**(case.headers or {}), "x-api-key": loaded.key}
    if case.path_parameters and "log_id" in case.path_parameters and _pick(case, 3) == 0:
        case.path_parameters["log_id"] = loaded.log_ids[_pick(case, len(loaded.log_ids))]


def _check_declared(case: schemathesis.Case, response: requests.Response) -> None:
    operation = case.operation.definition.raw
    allowed = {int(code) for code in operation["responses"]} | ERROR_STATUSES
    if case.path.endswith("{log_id}"):
        allowed |= LOG_DETAIL_STATUSES
    # An unknown path (an empty or odd log id routed nowhere) is the app's plain 404 too.
    allowed |= {404}
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    if response.status_code in {401, 404, 429}:
        body = response.json()
        assert isinstance(body.get("detail"), str), body
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1


OPERATIONS = [(op.path, op.method) for op in contract.OPERATIONS]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_fuzzed_operation_never_fails_and_matches_its_document(
    live: Loaded, path: str, method: str, mode: GenerationMode
) -> None:
    operation = SCHEMA[path][method]
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: schemathesis.Case) -> None:
        if mode is GenerationMode.POSITIVE:
            _aim(case, live)
        response = case.call(base_url=live.base_url, session=live.session, timeout=60)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks)
        _check_declared(case, response)

    fuzz()
    for status, count in statuses.items():
        SEEN[(path, str(mode), status)] += count
    print(f"\n{method} {path} [{mode}]: {dict(sorted(statuses.items()))}")
    assert not any(status >= 500 for status in statuses)
    if mode is GenerationMode.POSITIVE:
        assert statuses[200] > 0, statuses  # the fuzz reached the data, not only errors


def test_fuzz_document_is_the_served_one(live: Loaded) -> None:
    served = requests.get(f"{live.base_url}/openapi.json", timeout=30).json()
    assert served == orjson.loads(orjson.dumps(DOCUMENT))
