"""One settings tree, read from ``LLMHUB_*`` environment variables and validated at start-up.

Each section is its own ``BaseSettings`` with its own prefix so the variable names stay flat
(``LLMHUB_CLICKHOUSE_URL``, ``LLMHUB_KAFKA_BOOTSTRAP``...). Library code never reads the
environment: entry points call :func:`Settings.from_env` and pass the result down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.event import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_METADATA_BYTES

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class SettingsError(Exception):
    """Settings failed validation; the message names the section and every bad field."""


class ClickHouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMHUB_CLICKHOUSE_", extra="ignore")

    # Empty means the embedded engine (chdb) under ``data_dir``; http(s)://... a ClickHouse server.
    url: str = ""
    data_dir: Path = Path(".data/chdb")
    database: str = "llmhub"
    # Concurrent queries need several clients: one client serialises its calls.
    pool_size: int = Field(default=4, ge=1, le=64)
    # Blocks remembered for insert de-duplication (see docs/architecture.md, exactly-once).
    dedup_window: int = Field(default=10_000, ge=100)
    # Empty: one server (or the embedded engine). A cluster name from the servers'
    # remote_servers: tables become ReplicatedMergeTree shards behind Distributed tables,
    # created ON CLUSTER (storage/clickhouse/cluster.py, README "Scaling out").
    cluster: str = ""

    @field_validator("database", "cluster")
    @classmethod
    def _identifier(cls, value: str) -> str:
        # Spliced into SQL as an identifier, so it must be one.
        if value and not _IDENT.match(value):
            raise ValueError("must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return value

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://", "chdb://")):
            raise ValueError("must start with http://, https:// or chdb:// (or be empty)")
        return value

    @property
    def dsn(self) -> str:
        """The clickhouse-connect DSN: the configured URL or the embedded engine's directory."""
        if self.url:
            return self.url
        return f"chdb://{self.data_dir.resolve()}"

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb://")


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMHUB_KAFKA_", extra="ignore")

    # Empty means no broker: the service runs without the streaming path.
    bootstrap: str = ""
    topic: str = "llmhub.generations"
    dlq_topic: str = "llmhub.generations.dlq"
    partitions: int = Field(default=4, ge=1)
    # Copies of each topic the project creates: 1 for a single local broker, 3 in production.
    replication_factor: int = Field(default=1, ge=1)
    group: str = "llmhub-sink"
    # Time-based retention of the generations topic, in ms (-1: none). Records are stamped
    # with the broker's append time (LogAppendTime), so a producer's old timestamp cannot
    # expire them early; with a finite value, a sink stopped longer than it loses events.
    retention_ms: int = Field(default=-1, ge=-1)
    # Linger lets the producer batch: it trades a few ms of latency for throughput.
    producer_linger_ms: int = Field(default=5, ge=0)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMHUB_WORKER_", extra="ignore")

    # A sink batch (one duplicate check, one insert) is at most batch_max_bytes of Kafka
    # values or batch_size messages, and is handed over batch_window_s after its first
    # message at the latest (ingest.batching). Bytes are what memory follows: 8 MiB is ~17k
    # events, whether they came as 200-event batch messages (a backlog) or as a live
    # stream of small ones; the batch fills again while the one before is stored.
    batch_size: int = Field(default=2000, ge=1)
    batch_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    batch_window_s: float = Field(default=0.5, gt=0)
    # The columnar decoder (core.columnar) instead of one pydantic model per event: same
    # verdicts and rows, ~2x cheaper. Off only to compare the two (the benchmark does).
    columnar: bool = True
    # Decode the next batch while the previous one is checked and inserted (ingest.pipeline).
    pipeline: bool = True
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    # Events larger than this are dead-lettered rather than stored.
    max_event_bytes: int = Field(default=DEFAULT_MAX_EVENT_BYTES, ge=1024)
    max_metadata_bytes: int = Field(default=DEFAULT_MAX_METADATA_BYTES, ge=256)
    # Attempts at a storage error of no known kind before it counts as refusing the data.
    unknown_error_attempts: int = Field(default=5, ge=1)
    # How long the group waits for a silent (crashed) worker before handing its partitions on.
    session_timeout_s: float = Field(default=30.0, ge=3)
    # Static group membership (Kafka group.instance.id): a restarted worker with the same id
    # gets its partitions back at once instead of after the session timeout. Empty: derived
    # from the host name and the state directory, so one id per worker. Each worker of a
    # group needs its own.
    instance_id: str = Field(default="", max_length=200)
    # On SIGTERM, how long the batch in flight may take to finish; past it, it is left
    # uncommitted (redelivered to the next worker) and the worker stops.
    shutdown_grace_s: float = Field(default=10.0, gt=0)
    # The whole stop (grace, final commit, closing clients) never takes longer: past it the
    # process exits at once, as after a crash (what was not committed is redelivered).
    shutdown_deadline_s: float = Field(default=25.0, gt=0)
    # Health: a sink retrying, or not finishing a batch while records wait, for this long is
    # reported stuck (/healthz 503). Not ready (/readyz 503) as soon as it retries.
    stall_s: float = Field(default=60.0, gt=0)
    # llmhub-worker answers /healthz and /readyz on this loopback-or-any port (0: off); with
    # llmhub-serve the API answers them.
    health_port: int = Field(default=0, ge=0, le=65535)
    health_host: str = "127.0.0.1"
    # Local state of the stream processor (Faust's data directory): never the working directory.
    state_dir: Path = Path(".data/worker")


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMHUB_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Where command-line tools reach the service; empty means http://{host}:{port}.
    url: str = ""
    # Without an admin token the admin API answers 403 to everything.
    admin_token: SecretStr | None = None
    # Token that services use on the HTTP ingest endpoint.
    ingest_token: SecretStr | None = None
    # Run the Kafka sink inside the API process (required with the embedded engine).
    with_worker: bool = True
    # A client's API key for the command-line exports (``llmhub-admin export-*``).
    key: SecretStr | None = None
    # Analytics SQL (admin): each query is read-only and bounded in time and result size.
    sql_max_execution_s: float = Field(default=30.0, gt=0, le=3600)
    sql_max_result_rows: int = Field(default=100_000, ge=1)
    sql_max_result_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Failed authentications (wrong API key, admin or ingest token) allowed at once per source
    # address and per key id, then this many a minute; beyond that: 429 with Retry-After.
    auth_failure_burst: int = Field(default=20, ge=1)
    auth_failures_per_minute: float = Field(default=10.0, gt=0)
    # Storage lookups at once for API keys not yet seen valid on this replica, and how many
    # more may wait: a flood of wrong keys cannot take the storage pool or the thread pool.
    auth_lookup_concurrency: int = Field(default=2, ge=1)
    auth_lookup_queue: int = Field(default=512, ge=0)

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def admin_token_text(self) -> str:
        return self.admin_token.get_secret_value() if self.admin_token else ""


class AlertSettings(BaseSettings):
    """Budget alert webhooks (notify/): run beside the sink, one dispatcher per deployment."""

    model_config = SettingsConfigDict(env_prefix="LLMHUB_ALERTS_", extra="ignore")

    enabled: bool = True
    # How often month-to-date spend is compared with the last one seen, per client.
    interval_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    retry_initial_s: float = Field(default=2.0, gt=0)
    retry_max_s: float = Field(default=600.0, gt=0)
    # After this many failed attempts a delivery is marked failed (shown by the admin API).
    max_attempts: int = Field(default=12, ge=1)


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMHUB_LOG_", extra="ignore")

    # json: one JSON object per line (request id included); text: for a terminal.
    format: Literal["json", "text"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Port of /metrics (and /healthz, /readyz) for processes without the API (worker,
    # alerts); the API serves /metrics on its own port. 0 (default): no metrics server;
    # deployments set 9100 and host 0.0.0.0 (deploy/k8s, docker-compose.yml).
    metrics_port: int = Field(default=0, ge=0, le=65535, validation_alias="LLMHUB_METRICS_PORT")
    metrics_host: str = Field(default="127.0.0.1", validation_alias="LLMHUB_METRICS_HOST")


class Settings(BaseModel):
    """The whole configuration tree."""

    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read every section from the environment; raise SettingsError naming each problem."""
        sections: dict[str, type[BaseSettings]] = {
            "clickhouse": ClickHouseSettings,
            "kafka": KafkaSettings,
            "worker": WorkerSettings,
            "api": ApiSettings,
            "alerts": AlertSettings,
            "observability": ObservabilitySettings,
        }
        built: dict[str, Any] = {}
        problems: list[str] = []
        for name, section in sections.items():
            try:
                built[name] = section(**overrides.get(name, {}))
            except ValidationError as exc:
                for err in exc.errors():
                    field = ".".join(str(p) for p in err["loc"])
                    problems.append(f"{name}.{field}: {err['msg']}")
        if problems:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
        return cls(**built)
