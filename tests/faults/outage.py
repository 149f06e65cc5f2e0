"""The storage outage, in-process: the sink runs in this process so the test can take the
engine's table away (DETACH) for a while and give it back, as an unreachable server would."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from core.decode import Limits
from core.pricing import load_catalog
from core.settings import KafkaSettings, Settings, WorkerSettings
from ingest.runtime import IngestRuntime
from storage.clickhouse import ClickHouseStorage
from storage.clickhouse.pool import ClickHousePool
from tests.faults import ledger
from tests.faults.scenarios import Outcome, dead_letter_count, drained, produce


async def storage_outage(
    pool: ClickHousePool,
    settings: Settings,
    bootstrap: str,
    sent: list[dict[str, Any]],
    outage_s: float,
    workdir: Path,
) -> Outcome:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        topic=f"outage-{suffix}",
        dlq_topic=f"outage-{suffix}.dlq",
        group=f"outage-{suffix}",
    )
    worker = WorkerSettings(retry_initial_s=0.1, retry_max_s=2, state_dir=workdir / "worker")
    full = settings.model_copy(update={"kafka": kafka, "worker": worker})
    storage = ClickHouseStorage(pool, load_catalog())
    runtime = IngestRuntime(full, storage.events, Limits.from_settings(worker))
    await runtime.start()
    db = pool.database
    outcome = Outcome("storage outage", f"storage unavailable for {outage_s:.0f}s mid-stream", 0)
    try:
        # Spread over twice the outage: events arrive before, during and after it.
        rate = len(sent) / (2 * outage_s + 2)
        producing = asyncio.ensure_future(produce(bootstrap, kafka.topic, sent, 500, rate))
        await asyncio.sleep(1)
        pool.command(f"DETACH TABLE {db}.generations")
        detached = time.monotonic()
        await asyncio.sleep(outage_s)
        pool.command(f"ATTACH TABLE {db}.generations")
        recovered = time.monotonic()
        await producing
        env = {
            "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
            "LLMHUB_KAFKA_TOPIC": kafka.topic,
            "LLMHUB_KAFKA_GROUP": kafka.group,
            "LLMHUB_KAFKA_DLQ_TOPIC": kafka.dlq_topic,
        }
        await drained(env, 600)
        outcome.notes["drained_after_recovery_s"] = f"{time.monotonic() - recovered:.1f}"
        outcome.notes["retries"] = str(runtime.status().get("storage_retries", ""))
        # The only stall is the outage itself: storage came back and the sink went on alone.
        outcome.stall_s = round(recovered - detached, 1)
        outcome.dead_lettered = await dead_letter_count(env)
    finally:
        await runtime.stop()
    outcome.sent = len(sent)
    expectation = workdir / "expected.json"
    ledger.write_expectation(expectation, sent)
    with pool.client() as client:
        outcome.books = ledger.read(client, expectation, db)
    return outcome
