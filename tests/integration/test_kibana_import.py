"""``klachtradar kibana setup`` against a local HTTP server that records what Kibana would get."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app
from klachtradar.settings import load_settings
from sink.es.kibana import FILES

pytestmark = pytest.mark.integration

KIBANA = load_settings().root / "configs" / "kibana"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeKibana:
    """Answers the saved-objects import API like Kibana, recording every request."""

    fail_ids: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)

    def answer(self, request: Recorded) -> dict[str, Any]:
        lines = [json.loads(x) for x in uploaded_file(request)[1].splitlines() if x.strip()]
        errors = [
            {"id": o["id"], "type": o["type"], "error": {"type": "conflict"}}
            for o in lines
            if o["id"] in self.fail_ids
        ]
        return {"success": not errors, "successCount": len(lines) - len(errors), "errors": errors}


def uploaded_file(request: Recorded) -> tuple[str, str]:
    """(filename, content) of the multipart ``file`` field."""
    raw = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    (part,) = list(message.iter_parts())
    assert part.get_param("name", header="content-disposition") == "file"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(part.get_filename()), payload.decode("utf-8")


@pytest.fixture
def kibana() -> Iterator[tuple[str, FakeKibana]]:
    fake = FakeKibana()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorded = Recorded(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            fake.requests.append(recorded)
            payload = json.dumps(fake.answer(recorded)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", fake
    finally:
        server.shutdown()
        server.server_close()


def test_setup_posts_each_file_to_the_import_api_in_order(
    kibana: tuple[str, FakeKibana],
) -> None:
    url, fake = kibana
    result = CliRunner().invoke(
        app,
        ["kibana", "setup", "--url", url],
        env={"KLACHTRADAR_ELASTICSEARCH__API_KEY": "s3cret-key"},
    )
    assert result.exit_code == 0, result.output
    assert [r.path for r in fake.requests] == ["/api/saved_objects/_import?overwrite=true"] * len(
        FILES
    )
    for request, name in zip(fake.requests, FILES, strict=True):
        assert request.headers["kbn-xsrf"]
        assert request.headers["authorization"] == "ApiKey s3cret-key"
        assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
        filename, content = uploaded_file(request)
        assert filename == name
        assert content == (KIBANA / name).read_text(encoding="utf-8")
    assert "s3cret" not in result.output


def test_setup_uses_basic_auth_and_the_space_path(kibana: tuple[str, FakeKibana]) -> None:
    url, fake = kibana
    result = CliRunner().invoke(
        app,
        ["kibana", "setup", "--url", url, "--space", "webcare"],
        env={
            "KLACHTRADAR_ELASTICSEARCH__USERNAME": "kibana_admin",
            "KLACHTRADAR_ELASTICSEARCH__PASSWORD": "pw",
        },
    )
    assert result.exit_code == 0, result.output
    assert fake.requests[0].path == "/s/webcare/api/saved_objects/_import?overwrite=true"
    assert fake.requests[0].headers["authorization"] == "Basic a2liYW5hX2FkbWluOnB3"


def test_setup_fails_loudly_when_kibana_rejects_an_object(
    kibana: tuple[str, FakeKibana],
) -> None:
    url, fake = kibana
    fake.fail_ids.add("klachtradar-webcare-overzicht")
    result = CliRunner().invoke(app, ["kibana", "setup", "--url", url])
    assert result.exit_code != 0
    assert "klachtradar-webcare-overzicht" in result.output
    assert len(fake.requests) == len(FILES)  # the other files are still imported
