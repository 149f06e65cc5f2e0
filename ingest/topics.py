"""The topics the project creates: the generations topic and its dead-letter topic."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import Settings


async def ensure_topics(settings: Settings) -> None:
    """Create the generations and dead-letter topics if missing (idempotent)."""
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
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()
