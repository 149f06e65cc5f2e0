"""Shared fixtures: real ClickHouse (embedded engine, or a server: see tests/services.py) with a
fresh database per test, a real Kafka broker per session, and the API on a free loopback port."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from core.pricing import load_catalog
from core.settings import ApiSettings, ClickHouseSettings, Settings
from query_api.app import create_app
from query_api.http import Services
from query_api.reports import BillingReports
from storage.clickhouse import ClickHouseStorage
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One embedded engine directory per test session (chdb: one directory per process).
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def clickhouse_url() -> Iterator[str]:
    from tests.services import clickhouse_url

    with clickhouse_url() as url:
        yield url


@pytest.fixture
def settings(engine_dir: Path, clickhouse_url: str) -> Settings:
    database = f"t_{uuid.uuid4().hex[:12]}"
    ch = ClickHouseSettings(
        url=clickhouse_url,
        data_dir=engine_dir,
        database=database,
        pool_size=4,
    )
    api = ApiSettings(admin_token=secrets.token_urlsafe(16), ingest_token="ingest-secret")
    return Settings(clickhouse=ch, api=api)


@pytest.fixture
def pool(settings: Settings, request: pytest.FixtureRequest) -> Iterator[ClickHousePool]:
    pool = ClickHousePool(settings.clickhouse)
    migrate(pool)
    yield pool
    # Keep the database of a failed test for inspection; drop the others.
    failed = getattr(request.node, "rep_call", None)
    if not (failed and failed.failed):
        pool.command(f"DROP DATABASE IF EXISTS {pool.database}")
    pool.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@dataclass
class Api:
    """The running API and a session to call it."""

    base_url: str
    services: Services
    pool: ClickHousePool
    session: aiohttp.ClientSession
    admin_token: str

    async def admin(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with self.session.request(
            method, f"{self.base_url}/admin/v1{path}", headers=headers, **kwargs
        ) as response:
            return response.status, await response.json()

    async def get(self, path: str, api_key: str | None, **params: Any) -> tuple[int, Any]:
        headers = {"x-api-key": api_key} if api_key is not None else {}
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        async with self.session.get(
            f"{self.base_url}{path}", headers=headers, params=query
        ) as response:
            return response.status, await response.json()

    async def new_client(self, client_id: str, budget: str | None = None) -> str:
        body: dict[str, Any] = {"client_id": client_id, "name": client_id.title()}
        if budget is not None:
            body["monthly_budget_usd"] = budget
        status, _ = await self.admin("POST", "/clients", json=body)
        assert status == 201
        status, key = await self.admin("POST", f"/clients/{client_id}/keys", json={})
        assert status == 201
        return str(key["api_key"])

    async def import_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        import orjson

        payload = b"\n".join(orjson.dumps(e) for e in events)
        status, body = await self.admin("POST", "/events/import", data=payload)
        assert status == 200, body
        return dict(body)


@pytest.fixture
async def api(settings: Settings, pool: ClickHousePool) -> AsyncIterator[Api]:
    storage = ClickHouseStorage(pool, load_catalog())
    services = Services(settings=settings, storage=storage, reports=BillingReports(storage))
    runner = web.AppRunner(create_app(services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    token = settings.api.admin_token
    assert token is not None
    async with aiohttp.ClientSession() as session:
        yield Api(f"http://127.0.0.1:{port}", services, pool, session, token.get_secret_value())
    await runner.cleanup()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    from tests.services import kafka_broker

    with kafka_broker() as bootstrap:
        yield bootstrap
