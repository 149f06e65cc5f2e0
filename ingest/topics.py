"""The topics the project creates: the generations topic and its dead-letter topic."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from core.settings import Settings


class TopicError(RuntimeError):
    """The broker refused to create a topic (e.g. more replicas than brokers)."""


async def ensure_topics(settings: Settings) -> None:
    """Create the generations and dead-letter topics if missing (idempotent).

    Both get ``LLMHUB_KAFKA_PARTITIONS`` partitions and ``LLMHUB_KAFKA_REPLICATION_FACTOR``
    replicas. The broker answers per topic; a refusal (a replication factor above the broker
    count, say) raises instead of leaving the topic to be auto-created with other settings.
    """
    k = settings.kafka
    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=k.partitions, replication_factor=k.replication_factor)
            for name in (k.topic, k.dlq_topic)
            if name not in existing
        ]
        if not wanted:
            return
        try:
            response = await admin.create_topics(wanted)
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
    finally:
        await admin.close()
