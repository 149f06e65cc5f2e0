"""The topics the project creates keep every record until handled, have the configured
partitions and replication factor, and a factor the cluster cannot satisfy is an error at
start-up rather than a silently missing topic (real broker)."""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from core.settings import KafkaSettings, Settings
from ingest.topics import DLQ_MAX_MESSAGE_BYTES, current_configs, ensure_topics

pytestmark = pytest.mark.kafka
LOG_APPEND_TIME = 1  # aiokafka's timestamp_type for broker-stamped records


def _settings(bootstrap: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(
            bootstrap=bootstrap, topic=f"t-{suffix}", dlq_topic=f"t-{suffix}.dlq", partitions=2
        )
    )


async def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {k: v for k, (v, _) in (await current_configs(admin, topic)).items()}
    finally:
        await admin.close()


async def test_created_topics_keep_dead_letters_and_stamp_append_time(
    kafka_bootstrap: str,
) -> None:
    settings = _settings(kafka_bootstrap)
    await ensure_topics(settings)
    generations = await _configs(kafka_bootstrap, settings.kafka.topic)
    assert generations["message.timestamp.type"] == "LogAppendTime"
    assert generations["retention.ms"] == "-1"
    dlq = await _configs(kafka_bootstrap, settings.kafka.dlq_topic)
    assert dlq["retention.ms"] == "-1" and dlq["retention.bytes"] == "-1"
    assert dlq["max.message.bytes"] == str(DLQ_MAX_MESSAGE_BYTES)

    # A producer stamping a record with an old event time (2001): the broker's append time
    # is what the record carries, so time-based retention cannot take it early.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.kafka.topic, b"{}", key=b"k", timestamp_ms=10**12)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        settings.kafka.topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.timestamp_type == LOG_APPEND_TIME
    assert abs(record.timestamp / 1000 - time.time()) < 300


async def test_existing_topics_are_fixed_and_keep_their_other_settings(
    kafka_bootstrap: str,
) -> None:
    settings = _settings(kafka_bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        # As an older version created them: broker default retention (7 days), create time.
        await admin.create_topics(
            [
                NewTopic(settings.kafka.topic, 2, 1, topic_configs={"segment.ms": "3600000"}),
                NewTopic(settings.kafka.dlq_topic, 2, 1),
            ]
        )
    finally:
        await admin.close()
    await ensure_topics(settings)
    await ensure_topics(settings)  # idempotent
    generations = await _configs(kafka_bootstrap, settings.kafka.topic)
    assert generations["message.timestamp.type"] == "LogAppendTime"
    assert generations["segment.ms"] == "3600000", "an operator's own setting is kept"
    assert (await _configs(kafka_bootstrap, settings.kafka.dlq_topic))["retention.ms"] == "-1"


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
