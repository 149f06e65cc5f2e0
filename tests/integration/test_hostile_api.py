"""The API under hostile or clumsy input: never a 5xx, always a 4xx that names the problem.

Regression tests for the API bugs of issue 8, each of which failed before its fix: dates
the engine or the calendar cannot hold (500), an empty period (422), a log id that is not a
UUID (422), malformed Authorization and x-api-key headers (500), a budget of 0 and an empty
threshold list taken as "no change", client ids that cannot be used in a URL path, and
failed authentication that was never limited.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core import utc
from ingest.synthetic import EventFactory
from query_api.routes import ingest as ingest_route
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
PERIOD_PATHS = [f"{BASE}/usage/summary", f"{BASE}/usage/by-provider", f"{BASE}/usage/by-endpoint"]
RANGE_TEXT = "1970-01-01T00:00:00Z to 2106-01-01T00:00:00Z"


def _problems(body: dict[str, Any]) -> dict[tuple[str, ...], str]:
    return {tuple(p["loc"]): p["msg"] for p in body["detail"]}


# -- dates -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PERIOD_PATHS)
@pytest.mark.parametrize(
    ("params", "bad"),
    [
        # Years before 1000 (used to be a 500).
        ({"start_date": "0999-12-31T00:00:00Z"}, ["start_date"]),
        ({"start_date": "0001-01-01T00:00:00+01:00"}, ["start_date"]),
        # Past year 9999 once shifted to UTC (used to be a 500).
        (
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "9999-12-31T23:00:00-05:00"},
            ["end_date"],
        ),
        # The last day of 9999: its next bucket does not exist (used to be a 500).
        (
            {"start_date": "9999-12-30T00:00:00Z", "end_date": "9999-12-31T12:00:00Z"},
            ["start_date", "end_date"],
        ),
        # Outside what the rollup's DateTime column holds.
        (
            {"start_date": "1969-12-31T23:59:59Z", "end_date": "1970-01-02T00:00:00Z"},
            ["start_date"],
        ),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2106-01-01T00:00:01Z"}, ["end_date"]),
        ({"end_date": "1969-12-01T00:00:00Z"}, ["end_date"]),
    ],
)
async def test_dates_outside_the_supported_range_are_422_naming_it(
    api: Api, path: str, params: dict[str, str], bad: list[str]
) -> None:
    key = await api.new_client("dates")
    status, body = await api.get(path, key, **params)
    assert status == 422, body
    problems = _problems(body)
    assert sorted(problems) == sorted(("query", name) for name in bad)
    assert all(RANGE_TEXT in msg for msg in problems.values()), problems


@pytest.mark.parametrize("value", ["20260101", "1700000000", "-1", "1e9"])
async def test_numbers_are_not_read_as_unix_times(api: Api, value: str) -> None:
    key = await api.new_client("numbers")
    status, body = await api.get(f"{BASE}/usage/summary", key, start_date=value)
    assert status == 422, body
    assert list(_problems(body)) == [("query", "start_date")]


async def test_the_whole_supported_range_is_answered(api: Api) -> None:
    key = await api.new_client("edges")
    full = {"start_date": "1970-01-01T00:00:00Z", "end_date": "2106-01-01T00:00:00Z"}
    status, body = await api.get(f"{BASE}/usage/summary", key, group_by="month", **full)
    assert status == 200, body
    assert len(body["buckets"]) == (2106 - 1970) * 12
    assert body["buckets"][-1]["end"].startswith("2106-01-01T00:00:00")
    for path in PERIOD_PATHS[1:]:
        status, body = await api.get(path, key, **full)
        assert status == 200, body
    # The same instants written with offsets that keep them inside the range.
    status, body = await api.get(
        f"{BASE}/usage/by-provider",
        key,
        start_date="1970-01-01T01:00:00+01:00",
        end_date="2105-12-31T19:00:00-05:00",
    )
    assert status == 200, body


async def test_an_end_near_1970_clamps_the_default_start(api: Api) -> None:
    key = await api.new_client("epoch")
    status, body = await api.get(f"{BASE}/usage/summary", key, end_date="1970-01-05T00:00:00Z")
    assert status == 200, body
    assert body["period"]["start"].startswith("1970-01-01T00:00:00")
    assert len(body["buckets"]) == 4
    status, body = await api.get(f"{BASE}/usage/by-provider", key, end_date="1970-01-01T00:00:00Z")
    assert status == 200, body


@pytest.mark.parametrize(("limit", "offset"), [("1" * 400, "0"), ("10", "9" * 400), ("-0", "-0")])
async def test_huge_and_odd_integers_are_422(api: Api, limit: str, offset: str) -> None:
    key = await api.new_client("ints")
    status, body = await api.get(f"{BASE}/logs", key, limit=limit, offset=offset)
    assert status == 422, body


async def test_the_deepest_offset_is_answered(api: Api) -> None:
    key = await api.new_client("deep")
    status, body = await api.get(f"{BASE}/logs", key, limit=1000, offset=10_000_000)
    assert status == 200, body
    assert body["items"] == [] and body["has_more"] is False


# -- empty periods ---------------------------------------------------------------------------
async def test_a_period_whose_start_equals_its_end_is_empty(api: Api) -> None:
    key = await api.new_client("empty")
    now = datetime.now(UTC)
    await api.import_events(
        list(EventFactory(seed=5).month({"empty": 30}, now - timedelta(2), now))
    )
    instant = (now - timedelta(days=1)).isoformat()
    for group_by in ("hour", "day", "month"):
        status, body = await api.get(
            f"{BASE}/usage/summary", key, start_date=instant, end_date=instant, group_by=group_by
        )
        assert status == 200, body
        assert body["buckets"] == []
        assert body["totals"]["calls"] == 0 and body["totals"]["cost_usd"] == "0.000000000"
    for path, items in ((PERIOD_PATHS[1], "providers"), (PERIOD_PATHS[2], "endpoints")):
        status, body = await api.get(path, key, start_date=instant, end_date=instant)
        assert status == 200, body
        assert body[items] == [] and body["totals"]["calls"] == 0


# -- log ids ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "log_id",
    [
        "not-a-uuid",
        "123",
        "' OR 1=1 --",
        "x" * 2000,
        "%00%ff%fe",
        "ünïcødé",
        uuid.uuid4().hex,  # a UUID without dashes that exists nowhere
        str(uuid.uuid4()),
    ],
)
async def test_an_unknown_log_id_of_any_shape_is_404(api: Api, log_id: str) -> None:
    key = await api.new_client("logs404")
    async with api.session.get(
        f"{api.base_url}{BASE}/logs/{log_id}", headers={"x-api-key": key}
    ) as response:
        assert response.status == 404
        assert await response.json() == {"detail": "Not Found"}
    # Without a valid key the answer is 401, whatever the id: nothing is said about ids.
    async with api.session.get(
        f"{api.base_url}{BASE}/logs/{log_id}", headers={"x-api-key": "wrong"}
    ) as response:
        assert response.status == 401


async def test_another_clients_log_id_reads_as_any_unknown_one(api: Api) -> None:
    mine = await api.new_client("owner")
    theirs = await api.new_client("other")
    now = datetime.now(UTC)
    events = list(EventFactory(seed=9).month({"owner": 3}, now - timedelta(1), now))
    await api.import_events(events)
    log_id = events[0]["event_id"]
    assert (await api.get(f"{BASE}/logs/{log_id}", mine))[0] == 200
    assert await api.get(f"{BASE}/logs/{log_id}", theirs) == (404, {"detail": "Not Found"})
    assert await api.get(f"{BASE}/logs/nonsense", theirs) == (404, {"detail": "Not Found"})


# -- malformed credentials -------------------------------------------------------------------
async def _raw(api: Api, request_head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes no HTTP client library would send; (status, body)."""
    host, port = api.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = request_head + b"Connection: close\r\n"
        if body:
            head += b"Content-Length: %d\r\n" % len(body)
        writer.write(head + b"\r\n" + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1]


BAD_AUTHORIZATIONS = [
    b"Bearer",
    b"Bearer ",
    b"bearer",
    b"Basic dXNlcjpwYXNz",
    b"Bearer \xff\xfe\xfd",
    b"Bearer \xc3\xa9t\xc3\xa9",
    b"\xff",
    b"Bearer " + b"a" * 6000,
    b"Bearer  two  spaces",
]


@pytest.mark.parametrize("value", BAD_AUTHORIZATIONS)
@pytest.mark.parametrize(
    ("method", "path"), [(b"GET", b"/admin/v1/clients"), (b"POST", b"/ingest/v1/events")]
)
async def test_malformed_authorization_headers_are_401(
    api: Api, method: bytes, path: bytes, value: bytes
) -> None:
    head = method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n"
    status, body = await _raw(api, head, b"{}" if method == b"POST" else b"")
    assert status == 401, body
    assert orjson.loads(body)["detail"]


async def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    head = b"GET /admin/v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: bEaReR %s\r\n" % (
        api.admin_token.encode()
    )
    status, _ = await _raw(api, head)
    assert status == 200


@pytest.mark.parametrize(
    "value",
    [
        b"\xff\xfe",
        b"llmh_\xc3\xa9" + b"0" * 20,
        b"llmh_0123456789abcdef_" + b"\xff" * 43,
        b"x" * 7000,
    ],
)
async def test_malformed_api_keys_are_401(api: Api, value: bytes) -> None:
    head = b"GET " + BASE.encode() + b"/usage/current-month HTTP/1.1\r\nHost: x\r\n"
    status, body = await _raw(api, head + b"x-api-key: " + value + b"\r\n")
    assert status == 401, body


# -- admin input -----------------------------------------------------------------------------
async def test_a_zero_budget_and_no_thresholds_are_values(api: Api) -> None:
    body = {"client_id": "zero", "name": "Zero", "monthly_budget_usd": "100"}
    assert (await api.admin("POST", "/clients", json=body))[0] == 201
    status, client = await api.admin("PATCH", "/clients/zero", json={"monthly_budget_usd": 0})
    assert status == 200, client
    assert client["monthly_budget_usd"] == "0.000000000"
    status, client = await api.admin("PATCH", "/clients/zero", json={"alert_thresholds": []})
    assert status == 200, client
    assert client["alert_thresholds"] == [] and client["monthly_budget_usd"] == "0.000000000"
    _, stored = await api.admin("GET", "/clients/zero")
    assert (stored["monthly_budget_usd"], stored["alert_thresholds"]) == ("0.000000000", [])
    # Fields left out stay; the budget can still be removed with null.
    status, client = await api.admin("PATCH", "/clients/zero", json={"name": "Renamed"})
    assert (client["monthly_budget_usd"], client["alert_thresholds"]) == ("0.000000000", [])
    status, client = await api.admin("PATCH", "/clients/zero", json={"monthly_budget_usd": None})
    assert client["monthly_budget_usd"] is None
    # A new client may have no alert thresholds at all.
    body = {"client_id": "quiet", "name": "Quiet", "alert_thresholds": []}
    status, client = await api.admin("POST", "/clients", json=body)
    assert status == 201 and client["alert_thresholds"] == []


@pytest.mark.parametrize(
    "client_id", ["a/b", "a b", "ünï", "-lead", "x" * 65, "a\n", "..", "a?b", "a#b", "a%2Fb"]
)
async def test_client_ids_must_be_usable_in_a_url_path(api: Api, client_id: str) -> None:
    status, body = await api.admin("POST", "/clients", json={"client_id": client_id, "name": "X"})
    assert status == 422, body
    assert list(_problems(body)) == [("body", "client_id")]


async def test_admin_bodies_name_every_problem(api: Api) -> None:
    bad = {
        "client_id": "a/b",
        "name": "",
        "monthly_budget_usd": "1e400",
        "alert_thresholds": [0, 80, 5000, "50"],
    }
    status, body = await api.admin("POST", "/clients", json=bad)
    assert status == 422, body
    assert {loc[:2] for loc in _problems(body)} == {
        ("body", "client_id"),
        ("body", "name"),
        ("body", "monthly_budget_usd"),
        ("body", "alert_thresholds"),
    }
    assert (await api.admin("POST", "/clients", json={"client_id": "c", "name": "C"}))[0] == 201
    update = {"name": None, "monthly_budget_usd": "-0.5", "alert_thresholds": list(range(1, 30))}
    status, body = await api.admin("PATCH", "/clients/c", json=update)
    assert status == 422, body
    assert {loc[:2] for loc in _problems(body)} == {
        ("body", "name"),
        ("body", "monthly_budget_usd"),
        ("body", "alert_thresholds"),
    }
    status, body = await api.admin(
        "PATCH", "/clients/c", json={"monthly_budget_usd": "0.1234567891"}
    )
    assert status == 422 and list(_problems(body)) == [("body", "monthly_budget_usd")]


# -- repeated failed authentication ----------------------------------------------------------
async def test_repeated_failures_are_429_and_a_known_key_still_works(api: Api) -> None:
    burst = api.services.settings.api.auth_failure_burst
    key = await api.new_client("legit")
    assert (await api.get(f"{BASE}/usage/current-month", key))[0] == 200
    statuses = []
    retry_after = []
    for n in range(burst + 5):
        wrong = f"llmh_{n:016x}_{'A' * 43}" if n % 2 else f"garbage-{n}"
        async with api.session.get(
            f"{api.base_url}{BASE}/usage/current-month", headers={"x-api-key": wrong}
        ) as response:
            statuses.append(response.status)
            if response.status == 429:
                retry_after.append(int(response.headers["Retry-After"]))
    assert statuses[:burst] == [401] * burst
    assert statuses[-1] == 429 and set(statuses) == {401, 429}
    assert all(seconds >= 1 for seconds in retry_after)
    # The legitimate client behind the same address is not refused.
    assert (await api.get(f"{BASE}/usage/current-month", key))[0] == 200
    # Wrong admin tokens from the blocked address: 429; the right one still works.
    async with api.session.get(
        f"{api.base_url}/admin/v1/clients", headers={"Authorization": "Bearer wrong"}
    ) as response:
        assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert (await api.admin("GET", "/clients"))[0] == 200


# -- large bodies off the event loop ---------------------------------------------------------
async def test_ingest_and_import_validate_off_the_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    seen: list[bool] = []
    real_encode, real_decode = ingest_route.encode, ingest_route.decode_batch

    def encode(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident() == loop_thread)
        return real_encode(*args, **kwargs)

    def decode_batch(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident() == loop_thread)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(ingest_route, "encode", encode)
    monkeypatch.setattr(ingest_route, "decode_batch", decode_batch)
    await api.new_client("bulk")
    now = datetime.now(UTC)
    events = list(EventFactory(seed=2).month({"bulk": 50}, now - timedelta(1), now))
    async with api.session.post(
        f"{api.base_url}/ingest/v1/events",
        data=orjson.dumps(events),
        headers={"Authorization": "Bearer ingest-secret"},
    ) as response:
        # Valid events and no broker configured: validated, then 503.
        assert response.status == 503, await response.text()
    await api.import_events(events)
    assert len(seen) == len(events) + 1
    assert not any(seen), "validation ran on the event loop"


def test_supported_range_text_is_the_one_the_api_names() -> None:
    assert RANGE_TEXT == utc.SUPPORTED_RANGE


async def test_an_import_line_longer_than_the_stream_buffer_is_rejected_not_a_500(api: Api) -> None:
    await api.new_client("longline")
    now = datetime.now(UTC)
    good = list(EventFactory(seed=4).month({"longline": 2}, now - timedelta(1), now))
    huge = b'{"pad": "' + b"x" * 300_000 + b'"}'
    payload = b"\n".join([orjson.dumps(good[0]), huge, orjson.dumps(good[1])])
    status, body = await api.admin("POST", "/events/import", data=payload)
    assert status == 200, body
    assert (body["inserted"], body["rejected"]) == (2, 1)
    assert body["rejections"][0]["line"] == 2


async def test_metadata_deeper_than_the_encoder_allows_is_a_422(api: Api) -> None:
    await api.new_client("deepmeta")
    now = datetime.now(UTC)
    good, bad = list(EventFactory(seed=6).month({"deepmeta": 2}, now - timedelta(1), now))
    # Deeper than any JSON encoder here writes (so built as text), shallower than parsers read.
    deep = b'{"a":' * 300 + b"{}" + b"}" * 300
    bad_json = orjson.dumps({**bad, "request_metadata": "DEEP"}).replace(b'"DEEP"', deep)
    async with api.session.post(
        f"{api.base_url}/ingest/v1/events",
        data=b"[" + orjson.dumps(good) + b"," + bad_json + b"]",
        headers={"Authorization": "Bearer ingest-secret"},
    ) as response:
        assert response.status == 422, await response.text()
        body = await response.json()
    assert [p["loc"][:2] for p in body["detail"]] == [["body", 1]]
    status, imported = await api.admin(
        "POST", "/events/import", data=orjson.dumps(good) + b"\n" + bad_json
    )
    assert status == 200, imported
    assert (imported["inserted"], imported["rejected"]) == (1, 1)
