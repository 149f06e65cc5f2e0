"""The command-line tools, run as a user runs them, against the real service and broker."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.synthetic import EventFactory
from tests.conftest import Api


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def admin(api: Api, *args: str) -> Any:
    code, out, err = await run(
        # "--token=..." because a random token may start with "-" (argparse: an option).
        "cli.admin",
        "--url",
        api.base_url,
        f"--token={api.admin_token}",
        *args,
    )
    assert code == 0, err
    return json.loads(out)


async def test_admin_cli_manages_clients_keys_budgets_and_imports(api: Api, tmp_path: Path) -> None:
    created = await admin(
        api,
        "create-client",
        "cli-co",
        "--name",
        "CLI Co",
        "--budget",
        "12.5",
        "--thresholds",
        "25,90",
    )
    assert created["monthly_budget_usd"] == "12.500000000"
    assert created["alert_thresholds"] == [25, 90]
    issued = await admin(api, "issue-key", "cli-co", "--label", "ci")
    key = issued["api_key"]
    assert (await api.get("/api/v1/llm/billing/usage/current-month", key))[0] == 200

    end = datetime.now(UTC)
    events = list(EventFactory(seed=8).month({"cli-co": 40}, end - timedelta(hours=3), end))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n{broken\n")
    imported = await admin(api, "import", str(path))
    assert (imported["inserted"], imported["rejected"]) == (40, 1)

    budget = await admin(api, "set-budget", "cli-co", "99")
    assert budget["monthly_budget_usd"] == "99.000000000"
    cleared = await admin(api, "set-budget", "cli-co", "--clear")
    assert cleared["monthly_budget_usd"] is None
    listed = await admin(api, "list-keys", "cli-co")
    assert [k["key_id"] for k in listed["keys"]] == [issued["key_id"]]
    assert "api_key" not in listed["keys"][0]
    revoked = await admin(api, "revoke-key", issued["key_id"])
    assert revoked["revoked_at"] is not None
    assert (await api.get("/api/v1/llm/billing/usage/current-month", key))[0] == 401
    clients = await admin(api, "list-clients")
    assert [c["client_id"] for c in clients["clients"]] == ["cli-co"]

    code, _, err = await run("cli.admin", "--url", api.base_url, "--token", "wrong", "list-clients")
    assert code != 0 and "401" in err


@pytest.mark.kafka
async def test_dlq_cli_lists_and_replays(kafka_bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from ingest.producer import EventProducer

    topic = f"dlq-cli-{uuid.uuid4().hex[:8]}"
    target = f"{topic}-replayed"
    admin_client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin_client.start()
    try:
        await admin_client.create_topics([NewTopic(topic, 2, 1), NewTopic(target, 1, 1)])
    finally:
        await admin_client.close()
    # Dead letters as the sink writes them: original bytes plus reason headers.
    async with EventProducer(kafka_bootstrap, topic) as producer:
        for n, reason in enumerate(("invalid_json", "invalid_event", "invalid_json")):
            fut = await producer._producer.send(
                topic,
                value=f"bad-{n}".encode(),
                headers=[
                    ("llmhub.reason", reason.encode()),
                    ("llmhub.errors", b'[{"loc": [], "msg": "x", "type": "t"}]'),
                    ("llmhub.source.offset", str(n).encode()),
                ],
            )
            await fut

    code, out, err = await run("cli.dlq", "--bootstrap", kafka_bootstrap, "--topic", topic, "list")
    assert code == 0, err
    items = [json.loads(line) for line in out.splitlines()]
    assert sorted(i["value"] for i in items) == ["bad-0", "bad-1", "bad-2"]
    assert {i["reason"] for i in items} == {"invalid_json", "invalid_event"}

    code, _, err = await run(
        "cli.dlq",
        "--bootstrap",
        kafka_bootstrap,
        "--topic",
        topic,
        "replay",
        "--reason",
        "invalid_json",
        "--to",
        target,
    )
    assert code == 0 and "replayed 2" in err
    code, out, _ = await run("cli.dlq", "--bootstrap", kafka_bootstrap, "--topic", target, "list")
    assert sorted(json.loads(line)["value"] for line in out.splitlines()) == ["bad-0", "bad-2"]
