"""The settings tree: read from LLMHUB_* variables, every bad value named with its section."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No LLMHUB_* variable of the outer environment leaks in; relative paths land in tmp."""
    for name in list(os.environ):
        if name.startswith("LLMHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_use_the_embedded_engine(clean_env: Path) -> None:
    settings = Settings.from_env()
    assert settings.clickhouse.dsn == f"chdb://{clean_env.resolve() / '.data' / 'chdb'}"
    assert settings.clickhouse.embedded
    assert settings.clickhouse.database == "llmhub"
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8080)
    assert settings.api.admin_token is None
    assert settings.kafka.bootstrap == ""


def test_every_bad_value_is_named_with_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMHUB_CLICKHOUSE_DATABASE", "bad-name;")
    monkeypatch.setenv("LLMHUB_API_PORT", "99999")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "clickhouse.database" in message
    assert "api.port" in message


def test_more_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMHUB_CLICKHOUSE_URL", "ftp://example.org")
    monkeypatch.setenv("LLMHUB_CLICKHOUSE_POOL_SIZE", "0")
    monkeypatch.setenv("LLMHUB_WORKER_BATCH_SIZE", "many")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    message = str(caught.value)
    for name in ("clickhouse.url", "clickhouse.pool_size", "worker.batch_size"):
        assert name in message


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMHUB_CLICKHOUSE_URL", "http://ch.internal:8123")
    monkeypatch.setenv("LLMHUB_API_ADMIN_TOKEN", "s3cret")
    settings = Settings.from_env(api={"port": 9000})
    assert settings.clickhouse.dsn == "http://ch.internal:8123"
    assert not settings.clickhouse.embedded
    assert settings.api.port == 9000
    assert settings.api.admin_token is not None
    assert settings.api.admin_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)  # secrets never reach logs
