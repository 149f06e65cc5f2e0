"""Deployment files stay valid and in step with the code: Kubernetes manifests checked against
the Kubernetes API schemas (kubernetes-validate, offline), docker-compose.yml and Prometheus
config parsed and cross-checked. No cluster or Docker engine runs them here."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.33.0"


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def scripts() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(pyproject["project"]["scripts"])


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_matches_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}


def test_every_process_has_probes_resources_and_metrics() -> None:
    found = deployments()
    assert set(found) == {"llmhub-api", "llmhub-worker", "llmhub-alerts"}
    for name, d in found.items():
        pod = d["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert container["command"][0] in scripts(), name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        res = container["resources"]
        assert res["requests"]["cpu"] and res["requests"]["memory"], name
        assert res["limits"]["memory"], name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        annotations = pod["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) in ports.values(), name
        assert annotations["prometheus.io/path"] == "/metrics"
    assert found["llmhub-alerts"]["spec"]["replicas"] == 1
    assert found["llmhub-alerts"]["spec"]["strategy"]["type"] == "Recreate"


def test_the_config_map_holds_valid_settings() -> None:
    (config,) = [d for d in documents() if d["kind"] == "ConfigMap"]
    data = config["data"]
    assert int(data["LLMHUB_KAFKA_REPLICATION_FACTOR"]) == 3
    assert int(data["LLMHUB_METRICS_PORT"]) == 9100
    # Every key is a setting the code reads, with a value it accepts.
    import os

    saved = dict(os.environ)
    try:
        os.environ.update(data)
        settings = Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert settings.kafka.replication_factor == 3
    assert settings.clickhouse.cluster == "llmhub_cluster"
    assert settings.observability.metrics_port == 9100 and not settings.api.with_worker


def test_compose_has_profiles_and_the_same_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    assert profiles == {"metrics", "dashboard"}
    llmhub = {n: s for n, s in services.items() if s.get("build")}
    assert {"api", "worker", "alerts", "demo"} <= set(llmhub)
    for name, service in llmhub.items():
        assert service["command"][0] in scripts(), name
        env = service["environment"]
        assert env["LLMHUB_KAFKA_REPLICATION_FACTOR"] == "1", name  # one broker in this file
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"] for j in prometheus["scrape_configs"]}
    assert jobs == {"llmhub-api", "llmhub-worker", "llmhub-alerts"}
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for package in ("core", "schemas", "query_api", "ingest", "storage", "notify", "cli"):
        assert f"COPY {package} {package}" in dockerfile
