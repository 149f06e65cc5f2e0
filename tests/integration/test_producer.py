"""The producer library on the real broker: batch messages per partition, clients in order.

``send_all`` packs the events of every client that shares a partition into its messages; a
client's events must still land on the partition a message keyed by its ``client_id`` goes to
(``send``), in the order they were sent: the sink's duplicate check and the rollup repair rely
on one client being read by one worker, in order.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ingest.producer import BATCH_EVENTS, EventProducer
from ingest.synthetic import EventFactory

PARTITIONS = 4


async def test_send_all_packs_per_partition_and_keeps_each_client_in_order(
    kafka_bootstrap: str,
) -> None:
    topic = f"producer-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    factory = EventFactory(seed=3)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    clients = [f"c-{i}" for i in range(12)]
    events = [
        factory.event(clients[i % len(clients)], start + timedelta(seconds=i)) for i in range(900)
    ]
    async with EventProducer(kafka_bootstrap, topic) as producer:
        # One event of each client sent alone, keyed: where Kafka itself puts the client.
        keyed = [await producer.send(factory.event(c, start)) for c in clients]
        home = {c: (await f).partition for c, f in zip(clients, keyed, strict=True)}
        assert await producer.send_all(events) == len(events)

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: dict[str, list[tuple[int, str]]] = {c: [] for c in clients}
    messages = 0
    try:
        while sum(map(len, seen.values())) < len(events) + len(clients):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "the events did not arrive"
            for tp, records in batch.items():
                for record in records:
                    assert record.value is not None
                    body = orjson.loads(record.value)
                    if isinstance(body, list):
                        messages += 1
                        assert len(body) <= BATCH_EVENTS
                    for e in body if isinstance(body, list) else [body]:
                        seen[e["client_id"]].append((tp.partition, e["event_id"]))
    finally:
        await consumer.stop()

    for client in clients:
        partitions = {p for p, _ in seen[client]}
        assert partitions == {home[client]}, client  # where a keyed message goes
        sent = [str(e["event_id"]) for e in events if e["client_id"] == client]
        assert [i for _, i in seen[client][1:]] == sent  # after its keyed one, in order
    # 12 clients on 4 partitions: the fewest messages per partition, not some per client.
    per_partition = Counter(home[e["client_id"]] for e in events)
    assert messages == sum(-(-n // BATCH_EVENTS) for n in per_partition.values())
    assert messages < len(clients)
