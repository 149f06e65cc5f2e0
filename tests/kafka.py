"""The real Kafka broker for tests, started once per session.

Order of preference: ``LLMHUB_TEST_KAFKA_BOOTSTRAP`` (a broker you run), testcontainers when a
Docker engine answers, else the project's own KRaft broker (deploy/kafka/kafka.sh) on its own
ports and data directory, removed after the session.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_PORT = int(os.environ.get("LLMHUB_TEST_KAFKA_PORT", "19292"))


def _docker_available() -> bool:
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
    if _docker_available():
        from testcontainers.kafka import KafkaContainer

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
