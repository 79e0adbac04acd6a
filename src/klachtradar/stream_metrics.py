"""Prometheus metrics of the streaming processes: throughput, lag, dead letters, retries.

Every ``listen``/``process``/``index`` process serves its own ``/metrics`` when given a
port (``--metrics-port`` or ``[kafka] metrics_port``); Prometheus sums over the
instances. Lag is per partition the process owns, refreshed every few seconds.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

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
        """Hook for :class:`~klachtradar.kafka_transport.KafkaTransport` commits."""
        self.commits.labels(topic, group).inc(partitions)

    def set_lag(self, topic: str, group: str, lag: dict[int, int]) -> None:
        """Replace the lag of the partitions this process owns."""
        self.lag.clear()
        for partition, behind in lag.items():
            self.lag.labels(topic, group, str(partition)).set(behind)


def serve_metrics(metrics: StreamMetrics, port: int) -> bool:
    """Serve ``/metrics`` on ``port`` (0: don't); a busy port is logged, not fatal."""
    if port == 0:
        return False
    if metrics.registry is not REGISTRY:
        REGISTRY.register(_Forward(metrics.registry))
    try:
        _start_http_server(port, addr="0.0.0.0")
    except OSError as exc:
        log.warning("metrics port unavailable", extra={"fields": {"port": port, "error": str(exc)}})
        return False
    log.info("serving /metrics", extra={"fields": {"port": port}})
    return True


class _Forward:
    """Exposes another registry's metrics through the default one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self):  # type: ignore[no-untyped-def]
        return self._registry.collect()
