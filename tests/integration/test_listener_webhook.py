"""Webhook intake: a real HTTP server on a free port, run by the real listen loop."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from klachtradar.contract import DeadLetter, RawPost
from klachtradar.errors import SinkError, SourceError
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.transport import Topics
from listener.loop import ListenLoop
from listener.source import Record
from listener.webhook import WebhookOptions, WebhookSource
from tests.integration.kafka_support import (
    Processes,
    kafka_settings,
    process_env,
    tansu,
    topic_doc_ids,
    unique_prefix,
    wait_for,
)

pytestmark = pytest.mark.integration

__all__ = ["tansu"]

KEY = "s3cret-ingest-key"
AUTH = {"X-API-Key": KEY}


def post_json(post_id: str, text: str = "KPN ligt er weer uit") -> dict[str, object]:
    return {
        "source": "crm",
        "post_id": post_id,
        "text": text,
        "created_at": "2026-11-23T09:00:00Z",
        "author": {"id": "klant-1", "handle": "klant1"},
    }


class Publisher:
    """Collects published records (thread-safe); ``before`` runs first, e.g. to block or fail."""

    def __init__(self, before: Callable[[], object] | None = None) -> None:
        self.records: list[Record] = []
        self.before = before
        self._lock = threading.Lock()

    def __call__(self, records: Sequence[Record]) -> None:
        if self.before is not None:
            self.before()
        with self._lock:
            self.records.extend(records)

    def post_ids(self) -> list[str]:
        with self._lock:
            return [r.post_id for r in self.records if isinstance(r, RawPost)]


@contextmanager
def running(publish: Publisher, **options: Any) -> Iterator[WebhookSource]:
    """An intake on a free port, drained by a listen loop in a thread; stopped at the end."""
    source = WebhookSource(WebhookOptions(port=0, api_key=KEY, idle_tick_s=0.02, **options))
    stop = threading.Event()
    loop = ListenLoop(source, publish, None, flush_interval_s=3600)
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield source
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def published() -> Publisher:
    return Publisher()


@pytest.fixture
def intake(published: Publisher) -> Iterator[WebhookSource]:
    with running(published) as source:
        yield source


def raw_exchange(url: str, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send raw request bytes; read the answer until the server closes (5 s at most)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, payload = data.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, payload


def head(*fields: str) -> str:
    return "POST /ingest HTTP/1.1\r\nHost: test\r\n" + "".join(f + "\r\n" for f in fields) + "\r\n"


def test_a_json_object_an_array_and_jsonl_are_all_accepted(
    intake: WebhookSource, published: Publisher
) -> None:
    one = httpx.post(intake.url, json=post_json("1"), headers=AUTH)
    many = httpx.post(intake.url, json=[post_json("2"), post_json("3")], headers=AUTH)
    lines = "\n".join(json.dumps(post_json(str(i))) for i in (4, 5)) + "\n"
    jsonl = httpx.post(
        intake.url,
        content=lines,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-ndjson"},
    )
    assert [r.status_code for r in (one, many, jsonl)] == [202, 202, 202]
    assert jsonl.json() == {"accepted": 2, "dead_letters": 0, "errors": []}
    assert published.post_ids() == ["1", "2", "3", "4", "5"]  # published before the answer


def test_the_answer_waits_until_the_records_are_published() -> None:
    answers: list[int] = []
    seen_at_publish: list[int] = []
    publish = Publisher(before=lambda: seen_at_publish.append(len(answers)))
    with running(publish) as source:
        answers.append(httpx.post(source.url, json=post_json("1"), headers=AUTH).status_code)
    assert seen_at_publish == [0] and answers == [202]


def test_invalid_items_become_dead_letters_and_the_answer_says_why(
    intake: WebhookSource, published: Publisher
) -> None:
    bad = post_json("7")
    del bad["author"]
    response = httpx.post(intake.url, json=[post_json("6"), bad], headers=AUTH)
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "dead_letters": 1,
        "errors": ["item 2: author: Field required"],
    }
    dead = [r for r in published.records if isinstance(r, DeadLetter)]
    assert dead[0].stage == "validate" and json.loads(dead[0].raw)["post_id"] == "7"


def test_a_failed_publish_is_a_503_with_retry_after_and_the_intake_goes_on() -> None:
    failures = iter([SinkError("broker down", retryable=True)])

    def fail_once() -> None:
        if (error := next(failures, None)) is not None:
            raise error

    publish = Publisher(before=fail_once)
    with running(publish, retry_after_s=7) as source:
        refused = httpx.post(source.url, json=post_json("1"), headers=AUTH)
        retried = httpx.post(source.url, json=post_json("1"), headers=AUTH)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "7"
    assert "retry" in refused.json()["error"]
    assert retried.status_code == 202 and publish.post_ids() == ["1"]


def test_a_publish_slower_than_the_timeout_is_a_503() -> None:
    gate = threading.Event()
    publish = Publisher(before=lambda: gate.wait(10))
    with running(publish, publish_timeout_s=0.2) as source:
        response = httpx.post(source.url, json=post_json("1"), headers=AUTH)
        gate.set()
    assert response.status_code == 503 and "Retry-After" in response.headers


def test_a_chunked_body_is_accepted_and_published(
    intake: WebhookSource, published: Publisher
) -> None:
    lines = [(json.dumps(post_json(str(i))) + "\n").encode() for i in range(3)]
    response = httpx.post(intake.url, content=iter(lines), headers=AUTH)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 202 and response.json()["accepted"] == 3
    assert published.post_ids() == ["0", "1", "2"]


def test_a_chunked_body_over_the_limit_is_a_413(published: Publisher) -> None:
    with running(published, max_body_bytes=1000) as source:
        pieces = [b"x" * 600, b"y" * 600, b"z" * 600]
        response = httpx.post(source.url, content=iter(pieces), headers=AUTH)
    assert response.status_code == 413 and "1000 bytes" in response.json()["error"]
    assert published.records == []


def test_without_the_key_a_huge_body_is_refused_before_it_is_read(
    intake: WebhookSource, published: Publisher
) -> None:
    status, headers, body = raw_exchange(
        intake.url, head("X-API-Key: guess", f"Content-Length: {100 * 10**9}"), b"{" * 10
    )
    assert status == 401 and headers["connection"] == "close"
    assert "API key" in json.loads(body)["error"]
    assert published.records == []


def test_a_refused_sender_is_not_asked_to_continue(intake: WebhookSource) -> None:
    status, _, _ = raw_exchange(
        intake.url, head("X-API-Key: guess", "Content-Length: 5", "Expect: 100-continue")
    )
    assert status == 401  # the first status line: no "100 Continue" before it


@pytest.mark.parametrize(
    ("length", "status"),
    [(str(100 * 10**9), 413), ("-1", 400), ("abc", 400), (None, 411)],
)
def test_a_bad_content_length_is_refused_at_once(
    intake: WebhookSource, length: str | None, status: int
) -> None:
    fields = [f"X-API-Key: {KEY}"] + ([f"Content-Length: {length}"] if length else [])
    answered, headers, body = raw_exchange(intake.url, head(*fields))
    assert answered == status and headers["connection"] == "close"
    assert json.loads(body)["error"]


def test_a_body_over_the_limit_gets_a_readable_413(published: Publisher) -> None:
    with running(published, max_body_bytes=1000) as source:
        response = httpx.post(source.url, content=b"[" + b" " * 5000 + b"]", headers=AUTH)
    assert response.status_code == 413
    assert response.json() == {"error": "body larger than 1000 bytes"}
    assert response.headers["Connection"] == "close"


def test_a_body_that_does_not_arrive_in_time_is_a_408(published: Publisher) -> None:
    with running(published, read_timeout_s=0.3) as source:
        status, _, _ = raw_exchange(
            source.url, head(f"X-API-Key: {KEY}", "Content-Length: 100"), b"["
        )
    assert status == 408 and published.records == []


def test_200_concurrent_requests_each_get_202_or_503_and_every_202_is_published() -> None:
    saw_503 = threading.Event()
    publish = Publisher(before=lambda: saw_503.wait(10))  # hold the slots until one is refused

    def send(i: int) -> tuple[int, str | None]:
        response = httpx.post(source.url, json=post_json(str(i)), headers=AUTH, timeout=30)
        if response.status_code == 503:
            saw_503.set()
        return response.status_code, response.headers.get("Retry-After")

    with running(publish, max_in_flight=4) as source, ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(send, range(200)))
    statuses = [status for status, _ in answers]
    assert set(statuses) == {202, 503}
    assert all(retry for status, retry in answers if status == 503)
    accepted = sorted(str(i) for i, (status, _) in enumerate(answers) if status == 202)
    assert sorted(publish.post_ids()) == accepted


def test_a_body_starting_with_a_byte_order_mark_is_accepted(
    intake: WebhookSource, published: Publisher
) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(post_json("bom")).encode()
    response = httpx.post(
        intake.url, content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert published.post_ids() == ["bom"]


def test_an_undecodable_line_is_a_dead_letter_with_its_exact_bytes(
    intake: WebhookSource, published: Publisher
) -> None:
    bad = b'{"source": "crm", "post_id": "2", "text": "caf\xe9 \xff"}'
    body = json.dumps(post_json("1")).encode() + b"\n" + bad + b"\n"
    response = httpx.post(
        intake.url, content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"}
    )
    assert response.json()["accepted"] == 1 and response.json()["dead_letters"] == 1
    dead = [r for r in published.records if isinstance(r, DeadLetter)]
    assert dead[0].raw_base64 is not None and base64.b64decode(dead[0].raw_base64) == bad


def test_a_wrong_api_key_is_refused_and_nothing_is_published(
    intake: WebhookSource, published: Publisher
) -> None:
    response = httpx.post(intake.url, json=post_json("8"), headers={"X-API-Key": "guess"})
    assert response.status_code == 401
    assert published.records == [] and intake.queued_requests == 0


def test_without_a_configured_api_key_the_intake_does_not_start() -> None:
    with pytest.raises(SourceError, match="no API key"):
        WebhookSource(WebhookOptions(port=0, api_key=None))


def test_a_request_waiting_when_the_stop_comes_is_published_and_answered() -> None:
    source = WebhookSource(WebhookOptions(port=0, api_key=KEY, idle_tick_s=0.02))
    source.start()
    answers: list[int] = []
    client = threading.Thread(
        target=lambda: answers.append(
            httpx.post(source.url, json=post_json("9"), headers=AUTH, timeout=30).status_code
        )
    )
    client.start()
    for _ in range(500):  # until the request is queued (the loop has not started yet)
        if source.queued_requests:
            break
        threading.Event().wait(0.01)
    publish = Publisher()
    stop = threading.Event()
    stop.set()  # SIGTERM arrives while the request waits for its publish
    ListenLoop(source, publish, None).run(stop)
    client.join(timeout=10)
    assert publish.post_ids() == ["9"] and answers == [202]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_posts_answered_202_survive_a_sigkill_right_after_the_answer(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    prefix = unique_prefix("webhook")
    settings = kafka_settings(tansu, prefix)
    port = _free_port()
    env = process_env(
        settings,
        tmp_path / "store.db",
        KLACHTRADAR_INGEST_API_KEY=KEY,
        KLACHTRADAR_LISTEN__WEBHOOK__PORT=str(port),
        KLACHTRADAR_LISTEN__CHECKPOINT_PATH=str(tmp_path / "listener.db"),
    )
    processes = Processes(tmp_path, env)
    try:
        listener = processes.start("listen", "listen", "--source", "webhook", "--to", "kafka")
        wait_for(
            lambda: listener.poll() is not None or _accepts_connections(port), 60, "the webhook"
        )
        assert listener.poll() is None, (tmp_path / "listen.log").read_text()
        posts = [post_json(f"kill-{i:02d}") for i in range(50)]
        response = httpx.post(
            f"http://127.0.0.1:{port}/ingest", json=posts, headers=AUTH, timeout=60
        )
        listener.kill()  # SIGKILL: no final flush, no goodbye
        listener.wait(timeout=10)
    finally:
        processes.stop_all()
    assert response.status_code == 202 and response.json()["accepted"] == 50
    on_topic = set(topic_doc_ids(settings, Topics(prefix).raw))
    assert {f"crm:kill-{i:02d}" for i in range(50)} <= on_topic


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _push_unauthenticated(url: str, size: int, answers: list[int]) -> None:
    """Headers with a wrong key, then ``size`` bytes of body as fast as the server takes
    them; records the status the server answered with (0: none)."""
    parts = urlsplit(url)
    chunk = b"x" * (1 << 20)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head("X-API-Key: guess", f"Content-Length: {size}").encode("latin-1"))
        sock.sendall(chunk)
        answer = sock.recv(4096)
        answers.append(int(answer.split()[1]) if answer else 0)
        sent = len(chunk)
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the server closed: it is not reading the body
            pass


def test_three_unauthenticated_150_mib_bodies_are_refused_without_being_buffered(
    intake: WebhookSource,
) -> None:
    before = _rss_mb()
    answers: list[int] = []
    senders = [
        threading.Thread(target=_push_unauthenticated, args=(intake.url, 150 << 20, answers))
        for _ in range(3)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert answers == [401, 401, 401]
    assert _rss_mb() - before < 20, "the server buffered unauthenticated bodies"
