"""The fault suite, small: every scenario of ``python -m tests.faults`` ends with nothing lost,
nothing counted twice, exact totals and no server error (the full-size run writes
docs/reliability.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import Settings
from storage.clickhouse.pool import ClickHousePool
from tests.faults import report, scenarios
from tests.faults.__main__ import QUICK
from tests.faults.outage import storage_outage
from tests.services import TEST_PORT, docker_available

# Each scenario takes well under a minute on an idle machine; the limit allows a busy one.
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]


def _check(outcome: scenarios.Outcome) -> None:
    assert report.clean(outcome), (outcome, report.row(outcome))


async def test_sigkills_lose_and_double_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    sent = scenarios.events(QUICK["kill_events"], 5, seed=11)
    outcome = await scenarios.run_with_service(
        "SIGKILL storm",
        tmp_path,
        kafka_bootstrap,
        sent,
        scenarios.sigkills(QUICK["kills"], seed=11),
        drain_timeout=300,
        rate=QUICK["kill_rate"],
    )
    _check(outcome)


@pytest.mark.skipif(
    bool(os.environ.get("LLMHUB_TEST_KAFKA_BOOTSTRAP")) or docker_available(),
    reason="restarts the project's own local broker; a given or containerised one is not ours",
)
async def test_broker_restart_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    sent = scenarios.events(QUICK["restart_events"], 5, seed=12)
    outcome = await scenarios.run_with_service(
        "broker restart",
        tmp_path,
        kafka_bootstrap,
        sent,
        scenarios.broker_restart(TEST_PORT, QUICK["broker_down_s"]),
        drain_timeout=300,
    )
    _check(outcome)


async def test_storage_outage_is_waited_out(
    pool: ClickHousePool, settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    sent = scenarios.events(QUICK["outage_events"], 5, seed=13)
    outcome = await storage_outage(
        pool, settings, kafka_bootstrap, sent, QUICK["outage_s"], tmp_path
    )
    _check(outcome)
    assert int(outcome.notes["retries"]) > 0, "the outage was never felt: the test tests nothing"


async def test_api_under_load_during_ingest_has_no_errors(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    sent = scenarios.events(QUICK["load_rate"] * QUICK["load_s"], 5, seed=14)
    outcome = await scenarios.run_with_service(
        "API load during ingest",
        tmp_path,
        kafka_bootstrap,
        sent,
        scenarios.http_load(QUICK["load_clients"], QUICK["load_s"], sent),
        drain_timeout=300,
        rate=QUICK["load_rate"],
    )
    _check(outcome)
    assert outcome.notes["errors"] == "0", outcome.notes
    assert int(outcome.notes["requests"]) > 0
