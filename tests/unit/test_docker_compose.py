"""docker-compose.yml: the operator's stack, checked without a Docker engine.

The structure is read with PyYAML (merge keys included, as compose reads them); every
healthcheck command is run here under ``sh -c`` against a port where nothing listens,
a server that answers 503 and one that answers 200, since a check that passes with
nothing listening (an unquoted ``&`` backgrounding curl) protects nothing.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from klachtradar import settings_env
from klachtradar.settings import NOT_SETTINGS_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = sorted(name for name, s in SERVICES.items() if s.get("image") == "klachtradar:latest")
LONG_RUNNING = [name for name in OURS if name not in ("setup", "listen")]
CHECKED = sorted(
    name
    for name, s in SERVICES.items()
    if "healthcheck" in s and not s["healthcheck"].get("disable")
)


def interpolated(value: str) -> str:
    """Compose's ``${VAR:-default}`` with no VAR set: the default."""
    return re.sub(r"\$\{[A-Za-z0-9_]+:-([^}]*)\}", r"\1", value)


def environment(service: str) -> dict[str, str]:
    return {k: interpolated(str(v)) for k, v in SERVICES[service]["environment"].items()}


def shell_command(service: str, port: int) -> str:
    """The healthcheck as ``sh -c`` runs it, aimed at ``port`` on this machine."""
    test = SERVICES[service]["healthcheck"]["test"]
    command = shlex.join(test[1:]) if test[0] == "CMD" else test[1]
    command = re.sub(r"^python ", shlex.quote(sys.executable) + " ", command)
    return re.sub(r"(localhost|127\.0\.0\.1):\d+", f"127.0.0.1:{port}", command)


def run_check(service: str, port: int) -> int:
    command = shell_command(service, port)
    if shutil.which(shlex.split(command)[0]) is None:
        pytest.skip(f"{service}: {shlex.split(command)[0]} only exists in its image")
    return subprocess.run(["sh", "-c", command], timeout=30, check=False).returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def answering(status: int) -> Iterator[int]:
    """An HTTP server on a free port answering every GET with ``status``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_every_klachtradar_role_that_runs_has_a_healthcheck() -> None:
    assert {"listen", "process", "index", "notify", "web"} <= set(CHECKED)
    assert SERVICES["setup"]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("service", CHECKED)
def test_a_healthcheck_fails_with_nothing_listening(service: str) -> None:
    assert run_check(service, free_port()) != 0


@pytest.mark.parametrize("service", CHECKED)
def test_a_healthcheck_fails_on_503_and_passes_on_200(service: str) -> None:
    with answering(503) as port:
        assert run_check(service, port) != 0
    with answering(200) as port:
        assert run_check(service, port) == 0


def test_the_stream_checks_ask_ready_on_the_metrics_port_bound_for_the_container() -> None:
    for service in ("listen", "process", "index", "notify"):
        env = environment(service)
        assert env["KLACHTRADAR_KAFKA__METRICS_HOST"] == "0.0.0.0"
        url = f"127.0.0.1:{env['KLACHTRADAR_KAFKA__METRICS_PORT']}/ready"
        assert url in shell_command(service, int(env["KLACHTRADAR_KAFKA__METRICS_PORT"]))
    assert "/healthz" in shell_command("web", 8080)


def test_the_roles_wait_for_setup_and_setup_waits_for_elasticsearch() -> None:
    for service in ("listen", *LONG_RUNNING):
        depends = SERVICES[service]["depends_on"]
        assert depends["setup"] == {"condition": "service_completed_successfully"}, service
        assert depends["elasticsearch"] == {"condition": "service_healthy"}, service
    assert SERVICES["setup"]["depends_on"] == {"elasticsearch": {"condition": "service_healthy"}}
    assert SERVICES["setup"]["restart"] == "no"


def test_a_jsonl_replay_runs_once_and_servers_restart() -> None:
    listen = SERVICES["listen"]
    assert "jsonl" in listen["command"]
    assert listen["restart"] in ("no", "on-failure")
    for service in LONG_RUNNING:
        assert SERVICES[service]["restart"] == "unless-stopped", service


def test_process_and_web_share_a_writable_model_registry() -> None:
    def models_volume(service: str) -> str:
        (mount,) = [v for v in SERVICES[service]["volumes"] if v.endswith(":/app/models")]
        return str(mount.split(":")[0])

    assert models_volume("process") == models_volume("web")
    assert models_volume("process") in COMPOSE["volumes"]  # named, not baked into the image
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"chown -R klachtradar[^\n]*/app/models", dockerfile)


def test_no_two_roles_write_one_sqlite_file_for_different_things() -> None:
    assert SERVICES["index"]["command"][-2:] == ["--sink", "elasticsearch"]
    web_store = environment("web")["KLACHTRADAR_STORE__PATH"]
    assert web_store != environment("process")["KLACHTRADAR_STORE__PATH"]


def test_published_ports_listen_on_loopback_by_default() -> None:
    for name, service in SERVICES.items():
        for published in service.get("ports", []):
            assert interpolated(published).startswith("127.0.0.1:"), (name, published)


def test_the_web_ui_can_require_a_token_from_the_environment() -> None:
    raw = SERVICES["web"]["environment"]
    assert raw["KLACHTRADAR_TRIAGE__AUTH"] == "${KR_WEB_AUTH:-none}"
    assert raw["KLACHTRADAR_TRIAGE__TOKEN"] == "${KR_WEB_TOKEN:-}"


def test_every_klachtradar_variable_in_the_file_is_a_setting() -> None:
    for service in OURS:
        for name, value in environment(service).items():
            if name.startswith(settings_env.PREFIX) and name not in NOT_SETTINGS_ENV:
                assert settings_env.resolve(Settings, name, value) is not None, (service, name)


def test_notify_reads_the_web_claims_and_keeps_its_own_outbox() -> None:
    notify = environment("notify")
    assert SERVICES["notify"]["command"] == ["notify"]
    assert notify["KLACHTRADAR_STORE__PATH"] == environment("web")["KLACHTRADAR_STORE__PATH"]
    outbox = notify["KLACHTRADAR_ALERTS__OUTBOX_PATH"]
    assert outbox.startswith("/app/var/")  # on the volume: a restart keeps the outbox
    stores = {environment(name).get("KLACHTRADAR_STORE__PATH") for name in OURS}
    assert outbox not in stores


_DURATION = {"type": "string", "pattern": r"^(\d+(us|ms|s|m|h))+$"}
COMPOSE_SCHEMA: dict[str, Any] = {
    "$comment": (
        "The subset of the Compose Specification this file uses, written from the spec "
        "(https://compose-spec.io), since neither docker compose nor the spec's own schema "
        "is on this machine. Unknown keys are errors, so a typo (dependson, helthcheck) "
        "fails here instead of being ignored at deploy time."
    ),
    "type": "object",
    "required": ["services"],
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"$ref": "#/$defs/service"},
        },
        "volumes": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {"driver": {"type": "string"}},
                        "additionalProperties": False,
                    },
                ]
            },
        },
    },
    "additionalProperties": False,
    "$defs": {
        "service": {
            "type": "object",
            "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
            "properties": {
                "image": {"type": "string"},
                "build": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                "command": {
                    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
                "entrypoint": {
                    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
                "environment": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                },
                "volumes": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"^[^:]+:/[^:]*(:(ro|rw))?$"},
                },
                "ports": {"type": "array", "items": {"type": "string"}},
                "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
                "depends_on": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["condition"],
                        "properties": {
                            "condition": {
                                "enum": [
                                    "service_started",
                                    "service_healthy",
                                    "service_completed_successfully",
                                ]
                            },
                            "restart": {"type": "boolean"},
                            "required": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    },
                },
                "healthcheck": {
                    "type": "object",
                    "properties": {
                        "test": {
                            "type": "array",
                            "minItems": 2,
                            "items": {"type": "string"},
                            "prefixItems": [{"enum": ["CMD", "CMD-SHELL"]}],
                        },
                        "interval": _DURATION,
                        "timeout": _DURATION,
                        "start_period": _DURATION,
                        "start_interval": _DURATION,
                        "retries": {"type": "integer", "minimum": 1},
                        "disable": {"type": "boolean"},
                    },
                    "additionalProperties": False,
                },
                "profiles": {"type": "array", "items": {"type": "string"}},
                "working_dir": {"type": "string"},
                "user": {"type": "string"},
                "ulimits": {"type": "object"},
                "mem_limit": {"type": ["string", "integer"]},
                "deploy": {
                    "type": "object",
                    "properties": {"replicas": {"type": "integer", "minimum": 0}},
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        }
    },
}


def test_the_file_matches_the_compose_structure_and_its_references_resolve() -> None:
    """A schema check in CI without an engine: keys and values as the spec allows them,
    every ``depends_on`` names a service, every named volume is declared."""
    import jsonschema

    jsonschema.Draft202012Validator(COMPOSE_SCHEMA).validate(COMPOSE)
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        assert set(service.get("depends_on", {})) <= set(SERVICES) - {name}, name
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source!r} is not declared"


def test_the_compose_schema_catches_what_compose_would_reject() -> None:
    """The check above can fail: a typo'd key, an unknown condition, a bad duration."""
    import copy

    import jsonschema

    validator = jsonschema.Draft202012Validator(COMPOSE_SCHEMA)
    broken = []
    for mutate in (
        lambda c: c["services"]["process"].__setitem__("dependson", {}),
        lambda c: c["services"]["index"]["depends_on"].__setitem__(
            "setup", {"condition": "service_done"}
        ),
        lambda c: c["services"]["web"]["healthcheck"].__setitem__("interval", "10 seconds"),
        lambda c: c["services"]["listen"].__setitem__("restart", "sometimes"),
    ):
        candidate = copy.deepcopy(COMPOSE)
        mutate(candidate)
        broken.append(not validator.is_valid(candidate))
    assert broken == [True, True, True, True]
