"""Analytics SQL through the service: every query of docs/analytics.md runs on the real engine,
and the read-only session refuses writes, setting changes, outside reads and oversized or slow
results."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.synthetic import EventFactory
from tests import oracle
from tests.conftest import Api

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
QUERIES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
async def loaded(api: Api) -> list[dict[str, Any]]:
    await api.new_client("acme", budget="5")
    await api.new_client("globex")
    now = datetime.now(UTC)
    events = list(
        EventFactory(seed=3).month({"acme": 500, "globex": 200}, now - timedelta(13), now)
    )
    assert (await api.import_events(events))["inserted"] == len(events)
    return events


async def sql(api: Api, query: str, fmt: str = "json") -> tuple[int, bytes]:
    async with api.session.post(
        f"{api.base_url}/admin/v1/sql",
        headers={"Authorization": f"Bearer {api.admin_token}"},
        json={"sql": query, "format": fmt},
    ) as r:
        return r.status, await r.read()


def test_the_doc_has_the_worked_queries() -> None:
    assert len(QUERIES) >= 5


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.split("\n")[1].strip()[:30])
async def test_every_documented_query_runs(
    api: Api, loaded: list[dict[str, Any]], query: str
) -> None:
    status, body = await sql(api, query)
    assert status == 200, body
    result = orjson.loads(body)
    assert result["rows"] > 0
    for column in result["meta"]:
        if column["type"].startswith("Decimal"):  # money leaves as exact strings
            assert all(isinstance(row[column["name"]], str) for row in result["data"])


async def test_cost_per_model_per_day_adds_up_to_the_oracle(
    api: Api, loaded: list[dict[str, Any]]
) -> None:
    status, body = await sql(api, QUERIES[0])
    assert status == 200, body
    rows = orjson.loads(body)["data"]
    cutoff = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0)
    expected = oracle.group(
        [e for e in loaded if oracle.parse_time(e["occurred_at"]) >= cutoff],
        lambda e: (e["occurred_at"][:10], e["provider"], e["model"]),
    )
    got = {(r["day"], r["provider"], r["model"]): r for r in rows}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k]["cost_usd"] == v["cost_usd"]
        assert int(got[k]["calls"]) == v["calls"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "pretty"])
async def test_output_formats(api: Api, loaded: list[dict[str, Any]], fmt: str) -> None:
    status, body = await sql(api, "SELECT sum(cost_usd) AS total FROM generations", fmt)
    assert status == 200
    assert oracle.totals(loaded)["cost_usd"] in body.decode()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("INSERT INTO clients (client_id) VALUES ('evil')", "READONLY"),
        ("ALTER TABLE generations DELETE WHERE 1", "READONLY"),
        ("DROP TABLE generations", "READONLY"),
        ("CREATE TABLE x (a UInt8) ENGINE = Memory", "READONLY"),
        ("SET readonly = 0", "DB::Exception"),  # a SET takes no FORMAT: refused as syntax
        ("SELECT 1 SETTINGS max_result_rows = 0", "READONLY"),
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "READONLY"),
        ("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", "READONLY"),
        ("SELECT number FROM numbers(200000)", "TOO_MANY_ROWS_OR_BYTES"),
        ("SELEC 1", "SYNTAX_ERROR"),
    ],
)
async def test_refused_queries_answer_422_with_the_reason(api: Api, query: str, code: str) -> None:
    await api.new_client("acme")
    await api.new_client("globex")
    status, body = await sql(api, query)
    assert status == 422, body
    detail = orjson.loads(body)["detail"]
    assert detail[0]["loc"] == ["body", "sql"] and code in detail[0]["msg"]
    status, body = await sql(api, "SELECT count() AS n FROM clients FINAL")
    assert orjson.loads(body)["data"] == [{"n": "2"}]  # nothing was written


async def test_time_limit(api: Api) -> None:
    api.services.settings.api.sql_max_execution_s = 0.5
    status, body = await sql(api, "SELECT count() FROM numbers(100000000000)")
    assert status == 422 and "TIMEOUT_EXCEEDED" in body.decode()


async def test_only_the_admin_runs_sql(api: Api) -> None:
    async with api.session.post(f"{api.base_url}/admin/v1/sql", json={"sql": "SELECT 1"}) as r:
        assert r.status == 401
    status, body = await sql(api, "SELECT 1", fmt="xml")
    assert status == 422 and b"format" in body
