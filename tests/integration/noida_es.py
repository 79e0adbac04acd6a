"""A real Elasticsearch-API server for tests and benchmarks: noida-db, started and stopped by us.

``noida-db`` (the ``dev`` extra) serves an Elasticsearch 8.15-compatible HTTP API.
``noida-db up`` detaches; only ``noida-db down --data-dir D`` stops it, so
:class:`NoidaElasticsearch` always calls ``down`` on exit, also when start-up failed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def noida_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "noida-db"
    return str(beside_python) if beside_python.exists() else shutil.which("noida-db")


class NoidaElasticsearch:
    """``with NoidaElasticsearch(data_dir) as url:`` — an ES-API server on a free local port."""

    def __init__(self, data_dir: Path, *, startup_timeout_s: float = 30.0) -> None:
        binary = noida_binary()
        if binary is None:
            raise FileNotFoundError("noida-db is not installed: pip install -e '.[dev]'")
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout_s = startup_timeout_s

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        done = self._run("up", "--only", "elasticsearch", "--elasticsearch-port", str(self.port))
        if done.returncode != 0:
            raise RuntimeError(f"noida-db up failed: {done.stdout}{done.stderr}")
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    if json.loads(response.read())["version"]["number"].startswith("8."):
                        return self.url
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        raise RuntimeError(
            f"noida-db did not answer on {self.url} within {self.startup_timeout_s}s"
        )

    def stop(self) -> None:
        self._run("down")

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
