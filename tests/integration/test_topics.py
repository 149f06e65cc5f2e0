"""Topics are created with the configured partitions and replication factor, and a factor the
cluster cannot satisfy is an error at start-up rather than a silently missing topic."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from core.settings import KafkaSettings, Settings
from ingest.topics import ensure_topics

pytestmark = pytest.mark.kafka


def kafka_settings(bootstrap: str, replication_factor: int) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        topic=f"rf-{suffix}",
        dlq_topic=f"rf-{suffix}.dlq",
        partitions=3,
        replication_factor=replication_factor,
    )
    return Settings(kafka=kafka)


async def describe(bootstrap: str, topics: list[str]) -> dict[str, list[int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        t["topic"]: [len(p["replicas"]) for p in t["partitions"]] for t in found if t["partitions"]
    }


async def test_topics_get_the_configured_replication_factor(kafka_bootstrap: str) -> None:
    settings = kafka_settings(kafka_bootstrap, 1)
    await ensure_topics(settings)
    await ensure_topics(settings)  # idempotent
    k = settings.kafka
    assert await describe(kafka_bootstrap, [k.topic, k.dlq_topic]) == {
        k.topic: [1, 1, 1],
        k.dlq_topic: [1, 1, 1],
    }


async def test_a_factor_above_the_broker_count_fails_loudly(kafka_bootstrap: str) -> None:
    settings = kafka_settings(kafka_bootstrap, 3)  # the test broker is one node
    with pytest.raises(Exception, match=r"(?i)replication"):
        await ensure_topics(settings)
    assert await describe(kafka_bootstrap, [settings.kafka.topic]) == {}
