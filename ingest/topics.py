"""The topics the project creates, and the settings that keep every record until handled.

- ``llmhub.generations``: records are stamped with the broker's append time
  (``message.timestamp.type=LogAppendTime``), so time-based retention counts from when the
  broker took a record, never from a timestamp a producer chose (an event time years old
  would otherwise make a record eligible for deletion as soon as it lands). Retention is
  ``LLMHUB_KAFKA_RETENTION_MS`` (default -1: none).
- ``llmhub.generations.dlq``: kept until someone replays or discards the dead letters
  (``retention.ms=-1``, ``retention.bytes=-1``), and large enough for the largest source
  message plus the dead-letter headers.

Topics are created with these settings, and a topic that exists with other values for them is
altered at start-up, keeping the other settings it has.
"""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import Settings

log = logging.getLogger(__name__)

# A dead letter is a source message (at most the broker default, 1 MiB) plus headers.
DLQ_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source: set on the topic itself


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The settings each project topic must have, by topic name."""
    k = settings.kafka
    return {
        k.topic: {
            "message.timestamp.type": "LogAppendTime",
            "retention.ms": str(k.retention_ms),
        },
        k.dlq_topic: {
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "message.timestamp.type": "LogAppendTime",
            "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES),
        },
    }


async def ensure_topics(settings: Settings) -> None:
    """Create the generations and dead-letter topics, or fix their settings (idempotent)."""
    k = settings.kafka
    wanted = topic_configs(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                num_partitions=k.partitions,
                replication_factor=k.replication_factor,
                topic_configs=configs,
            )
            for name, configs in wanted.items()
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        for name in existing & wanted.keys():
            await _align(admin, name, wanted[name])
    finally:
        await admin.close()


async def current_configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, tuple[str, int]]:
    """Every setting of ``topic``: name -> (value, config source)."""
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = described[0].resources[0][4]
    return {e[0]: (e[1], e[3]) for e in entries}


async def _align(admin: AIOKafkaAdminClient, topic: str, wanted: dict[str, str]) -> None:
    have = await current_configs(admin, topic)
    if all(have.get(key, ("", 0))[0] == value for key, value in wanted.items()):
        return
    # AlterConfigs replaces the topic's own settings as a whole: send the ones it has too.
    merged = {k: v for k, (v, source) in have.items() if source == _DYNAMIC_TOPIC_CONFIG}
    merged.update(wanted)
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, merged)])
    log.warning("topic %s: settings changed to %s", topic, wanted)
