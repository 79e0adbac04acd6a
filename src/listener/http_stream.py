"""Long-lived HTTP streams (X's chunked JSON lines, Mastodon's Server-Sent Events).

Reading happens in a background thread that feeds a queue, so the source's own loop
wakes up every idle tick: it can flush on time and stop at once on Ctrl-C instead of
waiting for the next keep-alive (X: 20 s, Mastodon: 15 s). A read timeout a bit
longer than the keep-alive interval detects a stalled connection, as X advises.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import httpx

from klachtradar.errors import SourceError
from listener.backoff import Failure, seconds_until_reset


@dataclass
class RetryableConnectError(Exception):
    """A connection attempt that may succeed later (network error, 5xx, 429)."""

    failure: Failure
    detail: str
    reset_in_s: float | None = None

    def __str__(self) -> str:
        return self.detail


def open_stream(
    client: httpx.Client,
    url: str,
    *,
    source: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    reset_header: str,
    now: float,
) -> httpx.Response:
    """Open a streaming GET; 200 returns the open response, anything else raises.

    401/403 raise :class:`SourceError` (one clear message, no retry: a wrong token does
    not fix itself); 429 and 5xx and network errors raise :class:`RetryableConnectError`.
    """
    request = client.build_request("GET", url, params=params, headers=headers)
    try:
        response = client.send(request, stream=True)
    except httpx.TransportError as exc:
        raise RetryableConnectError(Failure.NETWORK, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code == 200:
        return response
    body = response.read().decode("utf-8", errors="replace")[:300]
    response.close()
    status = response.status_code
    if status in (401, 403):
        raise SourceError(
            f"{source}: the server refused the credentials ({status} {response.reason_phrase}); "
            "check the token in the environment"
        )
    if status == 429:
        reset = seconds_until_reset(response.headers.get(reset_header), now)
        raise RetryableConnectError(Failure.RATE_LIMIT, f"429 rate limited: {body}", reset)
    raise RetryableConnectError(Failure.HTTP, f"{status} {response.reason_phrase}: {body}")


class StreamEndedError(Exception):
    """The server closed the stream (cleanly or not); reconnect."""


class StreamLines:
    """Lines of an open streaming response, read by a daemon thread.

    :meth:`next` returns a line, or None when ``timeout`` passed without one; it raises
    :class:`StreamEndedError` when the connection is gone.
    """

    _END = object()

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._queue: queue.Queue[object] = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for line in self._response.iter_lines():
                self._queue.put(line)
            self._queue.put(StreamEndedError("the server closed the stream"))
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            self._queue.put(StreamEndedError(f"{type(exc).__name__}: {exc}"))

    def next(self, timeout: float) -> str | None:
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, StreamEndedError):
            raise item
        assert isinstance(item, str)
        return item

    def close(self) -> None:
        self._response.close()
