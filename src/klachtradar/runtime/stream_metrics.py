"""Prometheus metrics of the streaming processes: throughput, lag, dead letters, retries.

Every ``listen``/``process``/``index`` process serves its own ``/metrics`` when given a
port (``--metrics-port`` or ``[kafka] metrics_port``, on ``[kafka] metrics_host``,
loopback by default); Prometheus sums over the instances. Lag is per partition the
process owns, refreshed every few seconds. The same port answers ``/ready`` (200 once
the process's :class:`~klachtradar.runtime.readiness.Readiness` holds, 503 before, with what it
still waits for) and ``/healthz`` (200 while the process runs).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from klachtradar.runtime.readiness import Readiness

log = logging.getLogger("klachtradar.metrics")


class StreamMetrics:
    """The counters one streaming process updates.

    A separate registry per instance keeps tests independent; the process-wide one
    (with Python's process metrics) is used by :func:`serve_metrics`.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "klachtradar_messages_consumed", "Messages read", ["topic", "group"], registry=r
        )
        self.produced = Counter(
            "klachtradar_messages_produced", "Messages acknowledged", ["topic"], registry=r
        )
        self.posts = Counter("klachtradar_posts", "Posts through a step", ["step"], registry=r)
        self.commits = Counter(
            "klachtradar_offset_commits",
            "Partition offsets committed",
            ["topic", "group"],
            registry=r,
        )
        self.retries = Counter(
            "klachtradar_retries", "Failed batches retried after a backoff", ["step"], registry=r
        )
        self.batch_seconds = Histogram(
            "klachtradar_batch_seconds",
            "Time per batch, poll to commit",
            ["step"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.judge_restarts = Counter(
            "klachtradar_judge_restarts",
            "Judge worker pools rebuilt after a worker died",
            registry=r,
        )
        self.arrival_to_alert = Histogram(
            "klachtradar_arrival_to_alert_seconds",
            "From a post's arrival (received_at, else the raw message's timestamp) to its "
            "alert being produced",
            ["kind"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=r,
        )
        self.lag = Gauge(
            "klachtradar_consumer_lag",
            "Messages behind the end of a partition",
            ["topic", "group", "partition"],
            registry=r,
        )

    def on_produced(self, topic: str, count: int) -> None:
        """Hook for acknowledged output (the DLQ topic's count is the dead-letter rate)."""
        self.produced.labels(topic).inc(count)

    def on_commit(self, topic: str, group: str, partitions: int) -> None:
        """Hook for :class:`~klachtradar.runtime.kafka_transport.KafkaTransport` commits."""
        self.commits.labels(topic, group).inc(partitions)

    def observe_arrival_to_alert(self, kind: str, seconds: float) -> None:
        """Hook for ``process``: one alert produced, ``seconds`` after its post arrived."""
        self.arrival_to_alert.labels(kind).observe(seconds)

    def set_lag(self, topic: str, group: str, lag: dict[int, int]) -> None:
        """Replace the lag of the partitions this process owns."""
        self.lag.clear()
        for partition, behind in lag.items():
            self.lag.labels(topic, group, str(partition)).set(behind)


def serve_metrics(
    metrics: StreamMetrics,
    port: int,
    *,
    host: str = "127.0.0.1",
    readiness: Readiness | None = None,
) -> ThreadingHTTPServer | None:
    """Serve ``/metrics``, ``/ready`` and ``/healthz`` on ``host:port`` in a daemon
    thread (port 0: don't); a busy port is logged, not fatal. Returns the server."""
    if port == 0:
        return None
    if metrics.registry is not REGISTRY:
        REGISTRY.register(_Forward(metrics.registry))
    handler = type("Handler", (_MetricsHandler,), {"readiness": readiness})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        log.warning("metrics port unavailable", extra={"fields": {"port": port, "error": str(exc)}})
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("serving /metrics", extra={"fields": {"host": host, "port": port}})
    return server


class _MetricsHandler(BaseHTTPRequestHandler):
    """``/metrics`` (Prometheus text), ``/ready`` and ``/healthz``; nothing else."""

    readiness: Readiness | None = None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/ready":
            status = self.readiness.status() if self.readiness else {"ready": True}
            body = json.dumps(status, ensure_ascii=False).encode()
            self._send(200 if status["ready"] else 503, body, "application/json")
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds are not worth a log line."""


class _Forward:
    """Exposes another registry's metrics through the default one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self):  # type: ignore[no-untyped-def]
        return self._registry.collect()
