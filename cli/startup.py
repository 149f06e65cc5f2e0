"""What every long-running command does first: logging, validated settings, a stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from core.settings import Settings, SettingsError


def cli_settings() -> Settings:
    """Settings for a command-line tool's defaults; exits with every problem if invalid."""
    settings = load_settings()
    if settings is None:
        raise SystemExit(2)
    return settings


def load_settings() -> Settings | None:
    """Configure logging and read the settings; print every problem and return None if invalid."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return None


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful shutdown of the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
