"""The topics the project creates keep every record until handled (real broker)."""

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
