"""Every 422 case, 401s, admin protection and the import's handling of bad lines."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from ingest.synthetic import EventFactory
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
ALL_PATHS = [
    f"{BASE}/usage/summary",
    f"{BASE}/usage/by-provider",
    f"{BASE}/usage/by-endpoint",
    f"{BASE}/usage/current-month",
    f"{BASE}/logs",
    f"{BASE}/logs/{uuid.uuid4()}",
]


def _locs(body: dict[str, Any]) -> list[list[Any]]:
    for item in body["detail"]:
        assert set(item) >= {"loc", "msg", "type"} and item["msg"]
    return [item["loc"] for item in body["detail"]]


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_missing_api_key_is_422_naming_the_header(api: Api, path: str) -> None:
    status, body = await api.get(path, None)
    assert status == 422
    assert ["header", "x-api-key"] in _locs(body)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("key", ["nonsense", "llmh_0123456789abcdef_" + "A" * 43, ""])
async def test_unknown_or_malformed_key_is_401(api: Api, path: str, key: str) -> None:
    status, body = await api.get(path, key)
    assert status == 401, body


@pytest.mark.parametrize(
    ("path", "params", "expected_locs"),
    [
        (f"{BASE}/logs", {"limit": "abc"}, [["query", "limit"]]),
        (f"{BASE}/logs", {"limit": 0}, [["query", "limit"]]),
        (f"{BASE}/logs", {"limit": 1001}, [["query", "limit"]]),
        (f"{BASE}/logs", {"offset": -1}, [["query", "offset"]]),
        (f"{BASE}/logs", {"success": "maybe"}, [["query", "success"]]),
        (
            f"{BASE}/logs",
            {"limit": "x", "offset": "y", "success": "z"},
            [["query", "limit"], ["query", "offset"], ["query", "success"]],
        ),
        (f"{BASE}/usage/summary", {"group_by": "week"}, [["query", "group_by"]]),
        (f"{BASE}/usage/summary", {"start_date": "yesterday"}, [["query", "start_date"]]),
        (
            f"{BASE}/usage/summary",
            {"start_date": "2026-13-01T00:00:00Z", "end_date": "nope"},
            [["query", "start_date"], ["query", "end_date"]],
        ),
        (
            f"{BASE}/usage/by-provider",
            {"start_date": "2026-10-02T00:00:00Z", "end_date": "2026-10-01T00:00:00Z"},
            [["query", "end_date"]],
        ),
        (
            f"{BASE}/usage/summary",
            {
                "start_date": "2020-01-01T00:00:00Z",
                "end_date": "2026-01-01T00:00:00Z",
                "group_by": "hour",
            },
            [["query", "group_by"]],
        ),
    ],
)
async def test_bad_parameters_are_422_with_every_problem(
    api: Api, path: str, params: dict[str, Any], expected_locs: list[list[str]]
) -> None:
    key = await api.new_client("val")
    status, body = await api.get(path, key, **params)
    assert status == 422, body
    assert sorted(_locs(body)) == sorted(expected_locs)


async def test_missing_key_and_bad_params_reported_together(api: Api) -> None:
    status, body = await api.get(f"{BASE}/logs", None, limit="many", success="perhaps", offset=-4)
    assert status == 422
    assert sorted(_locs(body)) == [
        ["header", "x-api-key"],
        ["query", "limit"],
        ["query", "offset"],
        ["query", "success"],
    ]
    # Cross-parameter rules still run beside type errors.
    status, body = await api.get(f"{BASE}/usage/summary", None, group_by="week")
    assert sorted(_locs(body)) == [["header", "x-api-key"], ["query", "group_by"]]


async def test_revoked_key_is_401_and_other_keys_still_work(api: Api) -> None:
    key = await api.new_client("rev")
    status, issued = await api.admin("POST", "/clients/rev/keys", json={"label": "second"})
    assert status == 201
    assert (await api.get(f"{BASE}/usage/current-month", key))[0] == 200
    _, keys = await api.admin("GET", "/clients/rev/keys")
    assert all("api_key" not in k and "key_hash" not in k for k in keys["keys"])
    first = next(k for k in keys["keys"] if k["key_id"] != issued["key_id"])
    status, revoked = await api.admin("DELETE", f"/keys/{first['key_id']}")
    assert status == 200 and revoked["revoked_at"] is not None
    assert (await api.get(f"{BASE}/usage/current-month", key))[0] == 401
    assert (await api.get(f"{BASE}/usage/current-month", issued["api_key"]))[0] == 200


async def test_keys_are_stored_only_as_hashes(api: Api) -> None:
    key = await api.new_client("hashy")
    rows = api.pool.query_rows(f"SELECT * FROM {api.pool.database}.api_keys")
    assert rows and all(key not in str(row) for row in rows)
    assert all(key.split("_")[2] not in str(row) for row in rows)


async def test_admin_api_requires_the_admin_token(api: Api) -> None:
    async with api.session.get(f"{api.base_url}/admin/v1/clients") as response:
        assert response.status == 401
    async with api.session.get(
        f"{api.base_url}/admin/v1/clients", headers={"Authorization": "Bearer wrong"}
    ) as response:
        assert response.status == 401


async def test_admin_validation_names_every_problem(api: Api) -> None:
    status, body = await api.admin(
        "POST", "/clients", json={"client_id": "", "monthly_budget_usd": "-1", "extra": 1}
    )
    assert status == 422
    locs = _locs(body)
    for loc in (
        ["body", "client_id"],
        ["body", "name"],
        ["body", "monthly_budget_usd"],
        ["body", "extra"],
    ):
        assert loc in locs
    assert (await api.admin("POST", "/clients", json={"client_id": "a", "name": "A"}))[0] == 201
    assert (await api.admin("POST", "/clients", json={"client_id": "a", "name": "A"}))[0] == 409
    assert (await api.admin("GET", "/clients/nobody"))[0] == 404


async def test_import_reports_bad_lines_and_counts_duplicates_once(api: Api) -> None:
    key = await api.new_client("imp")
    good = list(EventFactory(seed=3).month({"imp": 20}, *_window()))
    bad = [
        b"{not json",
        b'"not an event"',
        orjson.dumps({**good[0], "input_tokens": -5, "event_id": str(uuid.uuid4())}),
    ]
    payload = b"\n".join([*(orjson.dumps(e) for e in good), *bad, orjson.dumps(good[0])])
    status, body = await api.admin("POST", "/events/import", data=payload)
    assert status == 200, body
    assert body["received"] == 24 and body["inserted"] == 20 and body["duplicates"] == 1
    assert body["rejected"] == 3
    assert [r["line"] for r in body["rejections"]] == [21, 22, 23]
    assert [r["reason"] for r in body["rejections"]] == [
        "invalid_json",
        "not_an_object",
        "invalid_event",
    ]
    assert body["rejections"][2]["errors"][0]["loc"] == ["input_tokens"]
    # Importing the same file again stores nothing new.
    status, again = await api.admin("POST", "/events/import", data=payload)
    assert again["inserted"] == 0 and again["duplicates"] == 21
    _, logs = await api.get(f"{BASE}/logs", key, limit=100)
    assert logs["total"] == 20


def _window() -> tuple[Any, Any]:
    from datetime import UTC, datetime, timedelta

    end = datetime.now(UTC)
    return end - timedelta(days=3), end
