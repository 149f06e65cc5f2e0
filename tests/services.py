"""Real services for the test session, each started once.

Order of preference for each: an address you give (``LLMHUB_TEST_KAFKA_BOOTSTRAP``,
``LLMHUB_TEST_CLICKHOUSE_URL``), then testcontainers when a Docker engine answers, else what
runs without Docker: the project's own KRaft broker (deploy/kafka/kafka.sh, on its own port and
data directory, removed afterwards) and the embedded ClickHouse engine.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_PORT = int(os.environ.get("LLMHUB_TEST_KAFKA_PORT", "19292"))


def docker_available() -> bool:
    if os.environ.get("LLMHUB_TEST_DOCKER", "1") == "0":
        return False
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def kafka_broker() -> Iterator[str]:
    given = os.environ.get("LLMHUB_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    env = {
        **os.environ,
        "KAFKA_PORT": str(TEST_PORT),
        "KAFKA_CONTROLLER_PORT": str(TEST_PORT + 1),
    }
    script = ROOT / "deploy" / "kafka" / "kafka.sh"
    subprocess.run(["bash", str(script), "reset"], env=env, check=True, capture_output=True)
    started = subprocess.run(
        ["bash", str(script), "start"], env=env, capture_output=True, text=True
    )
    if started.returncode != 0:
        raise RuntimeError(f"Kafka did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield f"127.0.0.1:{TEST_PORT}"
    finally:
        subprocess.run(["bash", str(script), "reset"], env=env, check=False)


@contextlib.contextmanager
def clickhouse_url() -> Iterator[str]:
    """An http(s) URL of a ClickHouse server, or "" for the embedded engine."""
    given = os.environ.get("LLMHUB_TEST_CLICKHOUSE_URL")
    if given is not None:
        yield given
        return
    if docker_available():
        from testcontainers.community.clickhouse import ClickHouseContainer

        with ClickHouseContainer("clickhouse/clickhouse-server:25.8") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(8123)
            yield f"http://{container.username}:{container.password}@{host}:{port}/"
        return
    yield ""
