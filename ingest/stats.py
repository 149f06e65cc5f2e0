"""The sink's counters: what logs, health (/healthz, /readyz) and Prometheus show."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class SinkStats:
    """Counters shown in logs and, to the admin, on /healthz and /readyz."""

    batches: int = 0
    records: int = 0  # Kafka messages
    events: int = 0  # events in them (a batch message holds many)
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    refused_by_storage: int = 0  # part of dead_lettered
    unpriced: int = 0
    storage_retries: int = 0
    last_batch_size: int = 0
    last_insert_ms: float = 0.0
    storage_ok: bool = True
    last_error: str = ""
    lag: dict[str, int] = field(default_factory=dict)
    # Seconds spent per stage since start (the benchmark's per-stage profile). ``wait`` is
    # the time commit() waited on the previous batch or on the store beyond its own stages.
    stage_s: dict[str, float] = field(default_factory=dict)

    def timed(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.stage_s[stage] = round(self.stage_s.get(stage, 0.0) + now - started, 4)
        return now

    def snapshot(self) -> dict[str, object]:
        return asdict(self)
