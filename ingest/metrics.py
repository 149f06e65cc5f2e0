"""Prometheus metrics of the sink: per-batch histograms (observed by a hook in
:class:`ingest.sink.BatchSink`) and counters/lag read from the runtime at scrape time.

Counters come from :class:`ingest.sink.SinkStats` when Prometheus scrapes, so the sink keeps a
single set of counters (also shown on /healthz) and nothing is counted twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_TP = re.compile(r"^(.*)\[(\d+)\]$")

# SinkStats field -> (metric name without _total, help).
COUNTERS = {
    "batches": ("llmhub_sink_batches", "Batches handled by the sink"),
    "records": ("llmhub_sink_messages", "Kafka messages consumed (a batch message holds many)"),
    "events": ("llmhub_sink_events", "Events in the consumed messages"),
    "inserted": ("llmhub_sink_events_stored", "Events stored in ClickHouse"),
    "duplicates": ("llmhub_sink_events_duplicated", "Events dropped as already stored"),
    "dead_lettered": ("llmhub_sink_events_dead_lettered", "Events sent to the dead-letter topic"),
    "unpriced": ("llmhub_sink_events_unpriced", "Events stored without a price (unknown model)"),
    "storage_retries": ("llmhub_sink_retries", "Retried storage or dead-letter operations"),
}


class SinkSource(Protocol):
    """What the collector reads: the runtime's sink counters and consumer lag."""

    def status(self) -> dict[str, Any]: ...


class SinkMetrics:
    """Histograms observed once per batch, through ``BatchSink.observers``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_messages = Histogram(
            "llmhub_sink_batch_messages",
            "Kafka messages per sink batch",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
            registry=registry,
        )
        self.batch_events = Histogram(
            "llmhub_sink_batch_events",
            "Events per sink batch",
            buckets=(1, 10, 100, 1000, 5000, 10_000, 20_000, 50_000, 100_000),
            registry=registry,
        )
        self.insert_seconds = Histogram(
            "llmhub_sink_insert_seconds",
            "Time to store one batch (duplicate check + insert, retries included)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )

    def observe(self, messages: int, events: int, store_seconds: float | None) -> None:
        self.batch_messages.observe(messages)
        self.batch_events.observe(events)
        if store_seconds is not None:
            self.insert_seconds.observe(store_seconds)


class SinkCollector(Collector):
    """Counters and lag of the running sink, read when scraped."""

    def __init__(self, source: SinkSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        status = self.source.status()
        for field, (name, help_text) in COUNTERS.items():
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], float(status.get(field, 0)))
            yield counter
        ok = GaugeMetricFamily("llmhub_sink_storage_ok", "1 while storage accepts writes")
        ok.add_metric([], 1.0 if status.get("storage_ok", True) else 0.0)
        yield ok
        lag = GaugeMetricFamily(
            "llmhub_sink_consumer_lag",
            "Records not yet committed per partition (high watermark - committed offset)",
            labels=["topic", "partition"],
        )
        for key, value in dict(status.get("lag", {})).items():
            match = _TP.match(str(key))
            if match:
                lag.add_metric([match.group(1), match.group(2)], float(value))
        yield lag
