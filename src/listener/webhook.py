"""Webhook intake: ``POST /ingest`` lets other tools (a CRM, a form, another listener)
push posts in, as one JSON object, a JSON array, or JSONL (one object per line).

Each item must be a contract :class:`RawPost` (the same validation as the JSONL replay);
an invalid item becomes a dead letter with the reason and the others still go through.
The answer says what happened per request::

    202 {"accepted": 2, "dead_letters": 1, "errors": ["line 3: author: Field required"]}

**A 2xx means published.** The handler queues the request's records (posts and dead
letters alike) and waits until the listen loop's publisher has returned for the batch
holding them: for ``--to kafka`` that is produce + flush with ``acks=all`` (the broker
acknowledged every record, dead letters on the DLQ topic included); for the embedded
pipeline the store commit and the dead-letter file append; for ``--dry-run`` the
flushed stdout. The loop publishes after every chunk of this source
(:class:`~listener.source.AcknowledgedSource`), and a chunk is whatever arrived while
the previous publish ran, so concurrent senders share one flush (a group commit). A
publish that fails, or does not finish within ``publish_timeout_s``, is answered ``503``
with ``Retry-After``; the sender retries, and records that did get out after all arrive
twice, which document ids make harmless.

Why not an fsynced local journal: it needs its own recovery (replay on restart),
compaction and disk-full handling, is only as durable as the local disk, and would
duplicate what every output already offers, an acknowledged write. Waiting for that
write is simpler and correct for all outputs; the price is one publish of latency.

HTTP hardening, all decided from the headers before a byte of the body is read (a
refused request's connection is closed after a short, bounded drain, so the client
reads the answer instead of a reset):

* authentication: the API key (from the environment variable named in the settings)
  in ``X-API-Key`` or ``Authorization: Bearer``, compared in constant time, never
  logged; wrong or missing → 401;
* framing: ``Content-Length`` (missing → 411, not a number → 400, over
  ``max_body_bytes`` → 413) or ``Transfer-Encoding: chunked`` (413 as soon as the
  chunks exceed the limit); ``Expect: 100-continue`` is answered only once these pass;
* at most ``max_in_flight`` requests are read and awaited at once; more → 503 with
  ``Retry-After``; the listen backlog is 128, so bursts queue instead of being reset;
* the body must arrive within ``read_timeout_s`` (each socket read waits at most the
  time left) → else 408.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any

from klachtradar.contract import DeadLetter, parse_raw_post
from klachtradar.errors import ContractError, SourceError
from listener.source import Record, State, dead_letter

log = logging.getLogger(__name__)

MAX_CHUNK_RECORDS = 1000
"""At most this many records per chunk handed to the loop (whole requests, so may exceed)."""
LISTEN_BACKLOG = 128
MAX_CHUNK_LINE = 1024
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
MAX_TRAILER_LINES = 32
LINGER_BYTES = 64 * 1024
LINGER_SECONDS = 1.0
ANSWERS_ON_STOP_SECONDS = 5.0


@dataclass
class WebhookOptions:
    """Server settings (see ``[listen.webhook]``)."""

    host: str = "127.0.0.1"
    port: int = 8088
    api_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = 10 * 1024 * 1024
    idle_tick_s: float = 0.5
    read_timeout_s: float = 30.0
    publish_timeout_s: float = 30.0
    max_in_flight: int = 64
    retry_after_s: int = 5


class RequestRefusedError(Exception):
    """An answer other than 202, decided while reading a request."""

    def __init__(self, status: int, message: str, *, retry_after: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Framing:
    """How a request body is delimited: ``length`` bytes, or chunked."""

    chunked: bool
    length: int = 0


def request_framing(
    transfer_encoding: str | None, content_length: str | None, limit: int
) -> Framing:
    """The body's framing from the headers alone, or the :class:`RequestRefusedError` to answer.

    Both headers at once is refused (400): senders and proxies that disagree about
    which one wins are how requests get smuggled.
    """
    if transfer_encoding is not None:
        if content_length is not None:
            raise RequestRefusedError(400, "send Content-Length or Transfer-Encoding, not both")
        if transfer_encoding.strip().lower() != "chunked":
            raise RequestRefusedError(
                501, f"Transfer-Encoding {transfer_encoding[:40]!r} not supported"
            )
        return Framing(chunked=True)
    if content_length is None:
        raise RequestRefusedError(411, "Content-Length required (or Transfer-Encoding: chunked)")
    value = content_length.strip()
    if not (value.isascii() and value.isdigit()):
        raise RequestRefusedError(
            400, f"Content-Length must be a whole number of bytes, not {value[:40]!r}"
        )
    if len(value) > len(str(limit)) or int(value) > limit:
        raise RequestRefusedError(413, f"body larger than {limit} bytes")
    return Framing(chunked=False, length=int(value))


class BodyReader:
    """Reads a request body against one deadline.

    Each socket read waits at most the time left, so a sender trickling bytes cannot
    hold a request (and its in-flight slot) longer than the read timeout. Reads never
    go past a Content-Length body; chunk-size lines may read ahead, which
    :attr:`read_ahead` reports so the connection is not reused.
    """

    def __init__(self, rfile: BufferedIOBase, connection: socket.socket, timeout_s: float) -> None:
        self._rfile = rfile
        self._connection = connection
        self._deadline = time.monotonic() + timeout_s
        self._buffer = bytearray()

    @property
    def read_ahead(self) -> bool:
        return bool(self._buffer)

    def read_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._fill(min(n - len(self._buffer), 64 * 1024))
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def read_line(self) -> bytes:
        """One CRLF-terminated line (without the CRLF), at most :data:`MAX_CHUNK_LINE`."""
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_CHUNK_LINE:
                raise RequestRefusedError(400, "chunk line too long")
            self._fill(64 * 1024)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _fill(self, at_most: int) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RequestRefusedError(408, "request body not received in time")
        self._connection.settimeout(left)
        try:
            data = self._rfile.read1(at_most)
        except TimeoutError as exc:
            raise RequestRefusedError(408, "request body not received in time") from exc
        if not data:
            raise RequestRefusedError(400, "connection closed before the end of the body")
        self._buffer += data


def read_chunked(reader: BodyReader, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body; 413 as soon as it exceeds ``limit``."""
    body = bytearray()
    while True:
        size_field = reader.read_line().split(b";", 1)[0].strip()
        if not CHUNK_SIZE.fullmatch(size_field):
            raise RequestRefusedError(400, "malformed chunk size")
        size = int(size_field, 16)
        if size == 0:
            break
        if len(body) + size > limit:
            raise RequestRefusedError(413, f"body larger than {limit} bytes")
        body += reader.read_exact(size)
        if reader.read_exact(2) != b"\r\n":
            raise RequestRefusedError(400, "chunk data not followed by CRLF")
    for _ in range(MAX_TRAILER_LINES):
        if not reader.read_line():
            return bytes(body)
    raise RequestRefusedError(400, "too many trailer fields")


UTF8_BOM = b"\xef\xbb\xbf"


def parse_body(body: bytes, content_type: str, origin: str) -> list[Record]:
    """Items of a request body as posts or dead letters (never raises for bad items).

    A leading UTF-8 byte-order mark (Windows tools add one) is dropped. A body that is
    not valid UTF-8 cannot be one JSON document, so it is read line by line, and each
    undecodable line becomes a dead letter that keeps its exact bytes.
    """
    body = body.removeprefix(UTF8_BOM)
    try:
        stripped = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return _lines(body, origin)
    if not stripped:
        return []
    if "ndjson" not in content_type and "jsonl" not in content_type:
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None  # maybe JSONL sent as application/json: try line by line
        if isinstance(document, list):
            return [
                _item(json.dumps(item), origin, f"item {i}") for i, item in enumerate(document, 1)
            ]
        if isinstance(document, dict):
            return [_item(stripped, origin, "item 1")]
    return _lines(body, origin)


def _lines(body: bytes, origin: str) -> list[Record]:
    """JSONL: one item per non-blank line, split on bytes (``\\n``, ``\\r\\n``) so a
    U+2028 inside a JSON string, or a bad byte on one line, does not affect the others."""
    records: list[Record] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        position = f"line {number}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = f"not UTF-8 at byte {exc.start}"
            records.append(dead_letter(origin, position, "decode", error, line))
            continue
        records.append(_item(text, origin, position))
    return records


def _item(raw: str, origin: str, position: str) -> Record:
    try:
        return parse_raw_post(raw)
    except ContractError as exc:
        return dead_letter(origin, position, "validate", str(exc), raw)


class _Ticket:
    """One request's records on their way to the publisher; its handler waits on it."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self._lock = threading.Lock()
        self._claimed = False
        self._abandoned = False
        self._done = threading.Event()
        self._error: str | None = None

    def claim(self) -> bool:
        """Hand the records to the loop, unless the handler already gave up on them."""
        with self._lock:
            self._claimed = not self._abandoned
            return self._claimed

    def resolve(self, error: str | None) -> None:
        """Published (``error`` None) or not, with the reason the sender is given."""
        self._error = error
        self._done.set()

    def wait(self, timeout_s: float) -> str | None:
        """None once published; otherwise why not. On a timeout the records are
        withdrawn if the loop has not taken them yet, so a refused request's records
        are not kept queued (taken ones may still be published: a harmless duplicate)."""
        if self._done.wait(timeout_s):
            return self._error
        with self._lock:
            self._abandoned = not self._claimed
        return f"not published within {timeout_s:g} s; retry later"


class WebhookSource:
    """An HTTP server whose requests wait until the listen loop has published them."""

    name = "webhook"

    def __init__(self, options: WebhookOptions) -> None:
        if not options.api_key:
            raise SourceError(
                "webhook: no API key; set the environment variable named in "
                "[listen.webhook] api_key_env"
            )
        self.options = options
        self._queue: queue.Queue[_Ticket] = queue.Queue()
        self._unacked: list[_Ticket] = []  # yielded to the loop, not yet published
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._in_flight = 0
        self._closed = False
        self._server = _IngestServer((options.host, options.port), _IngestHandler, self)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.requests = 0

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/ingest"

    @property
    def queued_requests(self) -> int:
        """Requests whose records wait for the loop to take them."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start serving (idempotent); :meth:`chunks` calls it."""
        if not self._thread.is_alive():
            self._thread.start()
            log.info("webhook intake listening on %s", self.url)

    def authorised(self, headers: Any) -> bool:
        expected = (self.options.api_key or "").encode()
        given = headers.get("X-API-Key") or ""
        auth = headers.get("Authorization") or ""
        if not given and auth.startswith("Bearer "):
            given = auth[7:]
        return hmac.compare_digest(given.encode(), expected)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of ``max_in_flight`` places for a request being read and awaited."""
        with self._lock:
            self.requests += 1
            if self._in_flight >= self.options.max_in_flight:
                raise RequestRefusedError(
                    503, "too many requests in flight; retry later", retry_after=True
                )
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._answered.notify_all()

    def submit(self, records: list[Record]) -> _Ticket:
        """Queue a request's records for the loop; the caller waits on the ticket."""
        ticket = _Ticket(records)
        with self._lock:
            if self._closed:
                raise RequestRefusedError(
                    503, "the intake is shutting down; retry later", retry_after=True
                )
            self._queue.put(ticket)
        return ticket

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        """Serve until ``stop``; then stop accepting and yield what is still queued."""
        self.start()
        try:
            while not stop.is_set():
                yield self._drain(self.options.idle_tick_s)
            self._close()
            while remaining := self._drain(0):
                yield remaining
        finally:
            self._close()
            self._refuse_queued()

    def published(self) -> None:
        """Answer the waiting requests; on the way out, give them time to be sent."""
        done, self._unacked = self._unacked, []
        for ticket in done:
            ticket.resolve(None)
        if self._closed:
            with self._answered:
                self._answered.wait_for(lambda: self._in_flight == 0, ANSWERS_ON_STOP_SECONDS)

    def publish_failed(self, error: BaseException) -> None:
        failed, self._unacked = self._unacked, []
        for ticket in failed:
            ticket.resolve("publishing failed; retry later")

    def checkpoint(self) -> State | None:
        return None

    def _serve(self) -> None:
        """Serve until :meth:`_close`; a short poll so that stopping is quick too."""
        self._server.serve_forever(poll_interval=min(0.1, self.options.idle_tick_s))

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()

    def _refuse_queued(self) -> None:
        """Requests the loop will never take (it stopped early) are told to retry."""
        while True:
            try:
                ticket = self._queue.get_nowait()
            except queue.Empty:
                return
            ticket.resolve("the listener stopped; retry later")

    def _drain(self, timeout: float) -> list[Record]:
        """The records of the requests waiting now (after up to ``timeout`` for a first)."""
        records: list[Record] = []
        try:
            ticket = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
            while True:
                if ticket.claim():
                    self._unacked.append(ticket)
                    records.extend(ticket.records)
                if len(records) >= MAX_CHUNK_RECORDS:
                    break
                ticket = self._queue.get_nowait()
        except queue.Empty:
            pass
        return records


class _IngestServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], source: WebhookSource
    ) -> None:
        super().__init__(address, handler)
        self.source = source

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is not worth a traceback on stderr."""
        log.debug("webhook connection from %s failed", client_address, exc_info=True)


class _IngestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _IngestServer
    body_unread = False

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.source.options.read_timeout_s)

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def handle_expect_100(self) -> bool:
        """Defer ``100 Continue`` until the headers pass (:meth:`_send_continue`), so a
        refused sender never sends its body."""
        return True

    def do_POST(self) -> None:
        source = self.server.source
        self.body_unread = True
        try:
            framing = self._check_headers(source)
            with source.slot():
                self._ingest(source, framing)
        except RequestRefusedError as refusal:
            self._refuse(refusal)

    def finish(self) -> None:
        super().finish()
        if self.body_unread and self.close_connection:
            _linger(self.connection)

    def _check_headers(self, source: WebhookSource) -> Framing:
        if self.path.split("?")[0] != "/ingest":
            raise RequestRefusedError(404, "not found; POST to /ingest")
        if not source.authorised(self.headers):
            raise RequestRefusedError(401, "missing or wrong API key (X-API-Key header)")
        return request_framing(
            self.headers.get("Transfer-Encoding"),
            self.headers.get("Content-Length"),
            source.options.max_body_bytes,
        )

    def _ingest(self, source: WebhookSource, framing: Framing) -> None:
        body = self._read_body(framing, source.options)
        origin = f"webhook {self.client_address[0]}"
        records = parse_body(body, self.headers.get("Content-Type") or "", origin)
        if records:
            error = source.submit(records).wait(source.options.publish_timeout_s)
            if error is not None:
                raise RequestRefusedError(503, error, retry_after=True)
        dead = [r for r in records if isinstance(r, DeadLetter)]
        self._answer(
            202,
            {
                "accepted": len(records) - len(dead),
                "dead_letters": len(dead),
                "errors": [f"{d.position}: {d.error}" for d in dead][:20],
            },
        )

    def _read_body(self, framing: Framing, options: WebhookOptions) -> bytes:
        self._send_continue()
        reader = BodyReader(self.rfile, self.connection, options.read_timeout_s)
        if framing.chunked:
            body = read_chunked(reader, options.max_body_bytes)
        else:
            body = reader.read_exact(framing.length)
        self.body_unread = False
        self.close_connection = self.close_connection or reader.read_ahead
        self.connection.settimeout(options.read_timeout_s)
        return body

    def _send_continue(self) -> None:
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.request_version != "HTTP/1.0":
            self.send_response_only(100)
            self.end_headers()

    def _refuse(self, refusal: RequestRefusedError) -> None:
        retry_after = self.server.source.options.retry_after_s if refusal.retry_after else None
        close = self.body_unread or refusal.status == 413
        self._answer(
            refusal.status, {"error": refusal.message}, close=close, retry_after=retry_after
        )

    def _answer(
        self,
        status: int,
        body: dict[str, Any],
        *,
        close: bool = False,
        retry_after: int | None = None,
    ) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _linger(connection: socket.socket) -> None:
    """Half-close, then read and discard (a bounded amount, briefly) what the client is
    still sending before the socket is closed: closing with unread input makes the
    kernel send a reset, which can destroy the answer before the client reads it."""
    deadline = time.monotonic() + LINGER_SECONDS
    drained = 0
    try:
        connection.shutdown(socket.SHUT_WR)
        while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            data = connection.recv(16 * 1024)
            if not data:
                return
            drained += len(data)
    except OSError:
        return
