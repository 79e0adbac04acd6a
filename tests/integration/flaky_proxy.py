"""A local HTTP proxy that misbehaves on ``_bulk`` requests as scripted, then passes through.

Behaviours, one per ``_bulk`` request in order (afterwards every request passes):

* ``"401"`` / ``"429"`` / ``"503"`` — answer the whole request with that status,
  forward nothing;
* ``"item429"`` — answer 200 with every item rejected with 429 (a busy cluster's
  per-item back-pressure), forward nothing;
* ``"drop"`` — close the connection without an answer (a connection error).

Other requests always pass through, so setup and queries work while bulk is flaky.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

ES_HEADERS = {"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"}


def rejected_items(body: bytes) -> list[dict[str, Any]]:
    """A 429 item per action of a bulk body (every action here carries a source line)."""
    lines = [line for line in body.decode().splitlines() if line.strip()]
    items = []
    for header in lines[0::2]:
        op, meta = next(iter(json.loads(header).items()))
        error = {"type": "es_rejected_execution_exception", "reason": "queue full"}
        items.append(
            {op: {"_index": meta["_index"], "_id": meta["_id"], "status": 429, "error": error}}
        )
    return items


class FlakyProxy:
    """``with FlakyProxy(upstream, ["429", "503"]) as url:`` — the misbehaving front door."""

    def __init__(self, upstream: str, script: Iterable[str]) -> None:
        self.upstream = urlsplit(upstream)
        self.script = list(script)
        self.bulk_requests: list[str] = []  # what each _bulk request got
        self.bulk_sizes: list[int] = []  # body bytes of each _bulk request
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _next_behaviour(self, path: str, size: int) -> str:
        if "_bulk" not in path:
            return "pass"
        with self.lock:
            self.bulk_sizes.append(size)
            behaviour = self.script.pop(0) if self.script else "pass"
            self.bulk_requests.append(behaviour)
        return behaviour

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                for name, value in ES_HEADERS.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                behaviour = proxy._next_behaviour(self.path, len(body))
                if behaviour == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if behaviour in ("401", "429", "503"):
                    error = {"error": {"type": "proxy", "reason": behaviour}, "status": 0}
                    self._answer(int(behaviour), json.dumps(error).encode())
                    return
                if behaviour == "item429":
                    items = rejected_items(body)
                    answer = {"took": 1, "errors": True, "items": items}
                    self._answer(200, json.dumps(answer).encode())
                    return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

        return Handler

    def __enter__(self) -> str:
        self.thread.start()
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
