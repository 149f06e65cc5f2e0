"""What every long-running command does first: logging, validated settings, a stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from cli import logs
from core.settings import Settings, SettingsError


def cli_settings() -> Settings:
    """Settings for a command-line tool's defaults; exits with every problem if invalid."""
    settings = load_settings()
    if settings is None:
        raise SystemExit(2)
    return settings


def load_settings() -> Settings | None:
    """Read the settings and configure logging (``LLMHUB_LOG_FORMAT``/``_LEVEL``); print every
    problem and return None if invalid."""
    logs.configure("text", "INFO")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return None
    logs.configure(settings.observability.format, settings.observability.level)
    return settings


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful shutdown of the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
