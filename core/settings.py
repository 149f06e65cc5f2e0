"""One settings tree, read from ``LLMHUB_*`` environment variables and validated at start-up.

Each section is its own ``BaseSettings`` with its own prefix so the variable names stay flat
(``LLMHUB_CLICKHOUSE_URL``, ``LLMHUB_KAFKA_BOOTSTRAP``...). Library code never reads the
environment: entry points call :func:`Settings.from_env` and pass the result down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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

    @field_validator("database")
    @classmethod
    def _identifier(cls, value: str) -> str:
        # The database name is spliced into SQL as an identifier, so it must be one.
        if not _IDENT.match(value):
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

    # Kafka messages per sink batch; a batch message holds up to 200 events, so a full batch
    # of batch messages is ~20k events (one insert), of single-event messages 100.
    batch_size: int = Field(default=100, ge=1)
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

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def admin_token_text(self) -> str:
        return self.admin_token.get_secret_value() if self.admin_token else ""


class Settings(BaseModel):
    """The whole configuration tree."""

    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read every section from the environment; raise SettingsError naming each problem."""
        sections: dict[str, type[BaseSettings]] = {
            "clickhouse": ClickHouseSettings,
            "kafka": KafkaSettings,
            "worker": WorkerSettings,
            "api": ApiSettings,
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
