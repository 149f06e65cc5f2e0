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

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

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


class TopicError(RuntimeError):
    """The broker refused to create a topic (e.g. more replicas than brokers)."""


async def ensure_topics(settings: Settings) -> None:
    """Create the generations and dead-letter topics if missing, or fix their settings (idempotent).

    Both get ``LLMHUB_KAFKA_PARTITIONS`` partitions and ``LLMHUB_KAFKA_REPLICATION_FACTOR``
    replicas. The broker answers per topic; a refusal (a replication factor above the broker
    count, say) raises instead of leaving the topic to be auto-created with other settings.
    """
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
            await _create(admin, new, settings)
        for name in existing & wanted.keys():
            await _align(admin, name, wanted[name])
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, new: list[NewTopic], settings: Settings) -> None:
    """Create ``new``; the broker answers per topic, and a refusal other than "exists" raises."""
    k = settings.kafka
    try:
        response = await admin.create_topics(new)
    except TopicAlreadyExistsError:
        return  # another process created them meanwhile
    problems = []
    for error in response.topic_errors:
        name, code = error[0], error[1]
        message = error[2] if len(error) > 2 else None
        if code and for_code(code) is not TopicAlreadyExistsError:
            problems.append(f"{name}: {for_code(code).__name__}: {message or ''}".strip())
    if problems:
        raise TopicError(
            f"cannot create topics (replication factor {k.replication_factor}, "
            f"{k.partitions} partitions): " + "; ".join(problems)
        )


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
