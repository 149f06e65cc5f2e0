"""What scripts rely on: exit codes (0 ok, 1 failure, 2 usage/config), JSON on stdout with
progress and errors on stderr, and --help with examples; run as a user runs the commands,
against the real service, engine and broker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.synthetic import EventFactory
from tests.conftest import Api

COMMANDS = ("admin", "serve", "worker", "alerts", "demo", "dlq", "loadgen")


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def admin_args(api: Api, *args: str) -> tuple[str, ...]:
    # "--token=..." because a random token may start with "-" (argparse would take it for an
    # option).
    return ("cli.admin", "--url", api.base_url, f"--token={api.admin_token}", *args)


@pytest.mark.parametrize("command", COMMANDS)
async def test_help_explains_with_examples_and_exit_codes(command: str) -> None:
    code, out, _ = await run(f"cli.{command}", "--help")
    assert code == 0
    assert "examples:" in out and f"llmhub-{command}" in out
    assert "exit codes: 0 ok, 1 failure" in out


async def test_admin_exit_codes(api: Api, tmp_path: Path) -> None:
    code, out, err = await run(*admin_args(api, "list-clients"))
    assert (code, json.loads(out), err) == (0, {"clients": []}, "")
    # The service says no: 1, with the HTTP answer on stderr and nothing on stdout.
    code, out, err = await run("cli.admin", "--url", api.base_url, "--token", "x", "list-clients")
    assert (code, out) == (1, "") and "HTTP 401" in err
    code, out, err = await run(*admin_args(api, "get-webhook", "nobody"))
    assert (code, out) == (1, "") and "HTTP 404" in err
    # Nobody listening: 1 and a sentence, not a traceback.
    code, out, err = await run(
        "cli.admin", "--url", "http://127.0.0.1:9", "--token", "x", "list-clients"
    )
    assert code == 1 and "cannot reach http://127.0.0.1:9" in err and "Traceback" not in err
    # Usage: 2.
    assert (await run("cli.admin", "--token", "x"))[0] == 2
    assert (await run(*admin_args(api, "no-such-command")))[0] == 2
    code, _, err = await run(*admin_args(api, "set-budget", "a", "5", "--thresholds", "5,x"))
    assert code == 2 and "--thresholds" in err
    # Invalid LLMHUB_* configuration: 2, naming the setting.
    code, _, err = await run(*admin_args(api, "list-clients"), env={"LLMHUB_API_PORT": "nope"})
    assert code == 2 and "api.port" in err


async def test_admin_import_shows_progress_on_stderr_and_counts_on_stdout(
    api: Api, tmp_path: Path
) -> None:
    await api.new_client("imp-co")
    end = datetime.now(UTC)
    events = list(EventFactory(seed=3).month({"imp-co": 3000}, end - timedelta(days=2), end))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n{broken\n")
    code, out, err = await run(*admin_args(api, "import", str(path)))
    assert code == 0, err
    counts = json.loads(out)
    assert (counts["inserted"], counts["rejected"]) == (3000, 1)
    # The broken line is named by its line number across the whole streamed upload.
    assert counts["rejections"][0]["line"] == 3001
    # Not a terminal: tqdm stays quiet rather than filling logs with carriage returns.
    assert "\r" not in err


async def test_admin_webhook_commands_print_json(api: Api) -> None:
    await api.new_client("hook-co", "10")
    code, out, err = await run(
        *admin_args(api, "set-webhook", "hook-co", "https://example.test/hook")
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["url"] == "https://example.test/hook" and made["secret"].startswith("whsec_")
    code, out, _ = await run(*admin_args(api, "get-webhook", "hook-co"))
    assert json.loads(out)["secret_hint"] == "..." + made["secret"][-4:]
    code, out, _ = await run(*admin_args(api, "deliveries", "hook-co"))
    assert (code, json.loads(out)) == (0, {"deliveries": []})
    code, out, err = await run(*admin_args(api, "set-webhook", "hook-co", "ftp://x"))
    assert code == 1 and "HTTP 422" in err


async def test_demo_json_gives_keys_that_work(api: Api) -> None:
    code, out, err = await run(
        "cli.demo",
        "--url",
        api.base_url,
        f"--token={api.admin_token}",
        "--bootstrap",
        "",
        "--days",
        "2",
        "--scale",
        "0.01",
        "--no-live",
        "--json",
    )
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    assert result["events_loaded"] == 120 + 50 + 20
    assert set(result["api_keys"]) == {"acme-corp", "globex", "initech"}
    status, body = await api.get(
        "/api/v1/llm/billing/usage/summary", result["api_keys"]["globex"], group_by="day"
    )
    assert status == 200 and body["totals"]["calls"] == 50


async def test_check_commands_exit_1_with_json_when_storage_is_down(tmp_path: Path) -> None:
    down = {"LLMHUB_CLICKHOUSE_URL": "http://127.0.0.1:9/", "LLMHUB_KAFKA_BOOTSTRAP": ""}
    for command in ("cli.serve", "cli.alerts"):
        code, out, _ = await run(command, "--check", "--json", env=down)
        result = json.loads(out)
        assert code == 1 and result["ok"] is False and "127.0.0.1:9" in result["error"], command
    engine = {"LLMHUB_CLICKHOUSE_URL": "", "LLMHUB_CLICKHOUSE_DATA_DIR": str(tmp_path / "e")}
    code, out, err = await run("cli.serve", "--check", "--json", env=engine)
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    code, _, err = await run(
        "cli.serve", "--check", env={**engine, "LLMHUB_CLICKHOUSE_URL": "mysql://x"}
    )
    assert code == 2 and "clickhouse.url" in err
    code, _, err = await run("cli.worker", "--check", env={"LLMHUB_KAFKA_BOOTSTRAP": ""})
    assert code == 2 and "LLMHUB_KAFKA_BOOTSTRAP" in err


@pytest.mark.kafka
async def test_dlq_replay_json_and_exit_codes(kafka_bootstrap: str) -> None:
    topic = f"dlq-json-{uuid.uuid4().hex[:8]}"
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(3):
            await (
                await producer.send(
                    topic, f"bad-{n}".encode(), headers=[("llmhub.reason", b"invalid_json")]
                )
            )
    finally:
        await producer.stop()
    code, out, err = await run(
        "cli.dlq",
        "--bootstrap",
        kafka_bootstrap,
        "--topic",
        topic,
        "replay",
        "--to",
        f"{topic}-back",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out) == {"replayed": 3, "from": topic, "to": f"{topic}-back"}
    code, _, err = await run("cli.dlq", "--bootstrap", kafka_bootstrap, "replay", "--offsets", "a")
    assert code == 2 and "--offsets" in err
