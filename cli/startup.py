"""What every long-running command does first: logging, validated settings, a stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading

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


def stop_event(deadline_s: float | None = None) -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful shutdown of the running loop.

    ``deadline_s``: the stop is bounded whatever the process is doing. If it has not exited
    that long after the signal (a library waiting on a broker that is gone, say), it exits at
    once, as after a crash: nothing was committed past what was stored, so the records in
    flight are redelivered.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if deadline_s is not None and not stop.is_set():
            timer = threading.Timer(deadline_s, _exit_now, (deadline_s,))
            timer.daemon = True
            timer.start()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    return stop


def _exit_now(deadline_s: float) -> None:
    logging.getLogger("llmhub").error(
        "stop took longer than %.0f s: exiting now; uncommitted records will be redelivered",
        deadline_s,
    )
    logging.shutdown()
    os._exit(STOP_DEADLINE_EXIT)


# Exit status of a stop that had to be cut short (EX_SOFTWARE).
STOP_DEADLINE_EXIT = 70
