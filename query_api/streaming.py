"""Streaming a storage read to an HTTP client without holding it in memory.

The storage stream is synchronous (a ClickHouse client), so one thread reads its blocks and
encodes them to bytes, handing them to the event loop through a small bounded queue: when the
HTTP client reads slowly the thread waits, so memory stays at a few blocks. The first chunk is
read before the response starts, so a query that fails at once still gets a proper error
status; a failure after that aborts the connection without the final chunk, so the client
sees a truncated transfer instead of a file that looks complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Chunks = Callable[[], contextlib.AbstractContextManager[Iterable[bytes]]]

_DONE = object()
QUEUE_CHUNKS = 4


class _Reader:
    """Runs ``open_chunks`` in its own thread and hands its chunks over one by one."""

    def __init__(self, open_chunks: Chunks) -> None:
        self._open = open_chunks
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-stream", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            with self._open() as chunks:
                for chunk in chunks:
                    if chunk and not self._put(chunk):
                        return  # the HTTP side went away: closing the stream frees the client
            self._put(_DONE)
        except BaseException as exc:  # handed to the event loop, which decides
            self._put(exc)

    async def next(self) -> bytes | None:
        item = await asyncio.to_thread(self._queue.get)
        if item is _DONE:
            return None
        if isinstance(item, BaseException):
            raise item
        return bytes(item)

    def close(self) -> None:
        self._stop.set()
        # Wake a getter that waits on an empty queue (the reader will put nothing more).
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_DONE)


async def stream_response(
    request: web.Request,
    open_chunks: Chunks,
    content_type: str,
    filename: str,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    reader = _Reader(open_chunks)
    response: web.StreamResponse | None = None
    try:
        first = await reader.next()  # errors here still become a normal error response
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                **(headers or {}),
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = first
        while chunk is not None:
            await response.write(chunk)
            chunk = await reader.next()
    except Exception as exc:
        if response is not None and response.prepared:
            # Too late for a status code: cut the connection before the final chunk.
            log.warning("export of %s stopped: %s", request.path, exc)
            response.force_close()
            if request.transport is not None:
                request.transport.close()
            return response
        raise
    finally:
        reader.close()
    assert response is not None  # set before the loop; the except branch returned
    await response.write_eof()
    return response


def encoded(blocks: Iterable[Iterable[Any]], encode: Callable[[Any], bytes]) -> Iterator[bytes]:
    """One chunk of bytes per block of rows (runs in the reader thread)."""
    for block in blocks:
        yield encode(block)
