"""Webhook intake: ``POST /ingest`` lets other tools (a CRM, a form, another listener)
push posts in, as one JSON object, a JSON array, or JSONL (one object per line).

Each item must be a contract :class:`RawPost` (the same validation as the JSONL replay);
an invalid item becomes a dead letter with the reason and the others still go through.
The answer says what happened per request::

    202 {"accepted": 2, "dead_letters": 1, "errors": ["line 3: author: Field required"]}

Authentication: the API key (from the environment variable named in the settings) in
``X-API-Key`` or ``Authorization: Bearer``; compared in constant time; never logged.
Accepted records are queued and published by the listen loop within one flush
interval; on Ctrl-C/SIGTERM the queue is drained before exit.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from klachtradar.contract import parse_raw_post
from klachtradar.errors import ContractError, SourceError
from listener.source import Record, State, dead_letter

log = logging.getLogger(__name__)


@dataclass
class WebhookOptions:
    """Server settings (see ``[listen.webhook]``)."""

    host: str = "127.0.0.1"
    port: int = 8088
    api_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = 10 * 1024 * 1024
    idle_tick_s: float = 0.5


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


class WebhookSource:
    """An HTTP server feeding a queue the listen loop drains."""

    name = "webhook"

    def __init__(self, options: WebhookOptions) -> None:
        if not options.api_key:
            raise SourceError(
                "webhook: no API key; set the environment variable named in "
                "[listen.webhook] api_key_env"
            )
        self.options = options
        self._queue: queue.Queue[Record] = queue.Queue()
        self._server = _IngestServer((options.host, options.port), _IngestHandler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.requests = 0
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/ingest"

    def start(self) -> None:
        """Start serving (idempotent); :meth:`chunks` calls it."""
        if not self._thread.is_alive():
            self._thread.start()
            log.info("webhook intake listening on %s", self.url)

    def accept(self, records: list[Record]) -> None:
        for record in records:
            self._queue.put(record)

    def authorised(self, headers: Any) -> bool:
        expected = (self.options.api_key or "").encode()
        given = headers.get("X-API-Key") or ""
        auth = headers.get("Authorization") or ""
        if not given and auth.startswith("Bearer "):
            given = auth[7:]
        return hmac.compare_digest(given.encode(), expected)

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

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()

    def _drain(self, timeout: float) -> list[Record]:
        records: list[Record] = []
        try:
            records.append(
                self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
            )
            while len(records) < 1000:
                records.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return records

    def checkpoint(self) -> State | None:
        return None


class _IngestServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], source: WebhookSource
    ) -> None:
        super().__init__(address, handler)
        self.source = source


class _IngestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _IngestServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        source = self.server.source
        source.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.split("?")[0] != "/ingest":
            self._answer(404, {"error": "not found; POST to /ingest"})
            return
        if not source.authorised(self.headers):
            self.rfile.read(length)
            self._answer(401, {"error": "missing or wrong API key (X-API-Key header)"})
            return
        if length > source.options.max_body_bytes:
            self.close_connection = True
            self._answer(413, {"error": f"body larger than {source.options.max_body_bytes} bytes"})
            return
        body = self.rfile.read(length)
        origin = f"webhook {self.client_address[0]}"
        records = parse_body(body, self.headers.get("Content-Type") or "", origin)
        source.accept(records)
        dead = [r for r in records if not hasattr(r, "post_id")]
        self._answer(
            202,
            {
                "accepted": len(records) - len(dead),
                "dead_letters": len(dead),
                "errors": [f"{d.position}: {d.error}" for d in dead if hasattr(d, "error")][:20],
            },
        )
