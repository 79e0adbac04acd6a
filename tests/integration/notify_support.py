"""What the notify tests share: a local HTTP server that records chat and webhook
requests (and checks their HMAC), and a real SMTP server (aiosmtpd), both on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET = "s3cret-hmac-key"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signature_ok(self, secret: str = SECRET) -> bool:
        timestamp = self.headers.get("X-Klachtradar-Timestamp", "")
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(
            self.headers.get("X-Klachtradar-Signature", ""), f"sha256={expected}"
        )


@dataclass
class Recorder:
    """Requests that were answered 2xx (``accepted``) and every request seen (``seen``);
    ``script`` holds the statuses of the next requests (then 200), ``hold`` blocks a
    request until it is set (a notifier can be killed while it waits)."""

    accepted: list[Request] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    hold_after: int | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Request]:
        return [r for r in self.accepted if r.path == path]

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` requests were accepted (a readiness signal, not a sleep)."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.accepted) >= count, timeout):
                raise AssertionError(f"{len(self.accepted)} of {count} requests after {timeout} s")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        recorder = self.server.recorder
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = Request(self.path, {k: v for k, v in self.headers.items()}, body)
        with recorder.lock:
            recorder.seen.append(request)
            status = recorder.script.pop(0) if recorder.script else 200
            hold = recorder.hold_after is not None and len(recorder.accepted) >= recorder.hold_after
        if hold:
            recorder.held.set()
            recorder.release.wait(60)
            return  # the client is gone by now: no answer, not accepted
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status < 300 else b"nope")
        if status < 300:
            with recorder.changed:
                recorder.accepted.append(request)
                recorder.changed.notify_all()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recorder: Recorder


@pytest.fixture
def chat_server() -> Iterator[Recorder]:
    """A recording HTTP server on a free port of 127.0.0.1, stopped after the test."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.recorder = Recorder(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.recorder
    server.recorder.release.set()
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    port: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        with self.changed:
            self.messages.append(message_from_bytes(envelope.original_content))
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} of {count} mails after {timeout} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, stopped after the test."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox(port=_free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    yield mailbox
    controller.stop()
