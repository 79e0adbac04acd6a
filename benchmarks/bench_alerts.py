"""Alerts through the outbox to a local webhook, against posting them directly.

Run: ``.venv/bin/python benchmarks/bench_alerts.py [--alerts N] [--batch B]``

One local HTTP server (127.0.0.1, answers 200 at once) receives signed webhook
requests three ways, in one run:

* **direct** — :class:`notify.channels.WebhookChannel` posts each message: the floor;
* **outbox, one by one** — per alert ``enqueue`` (dedup, routing, one SQLite
  transaction) then ``deliver`` (send, mark sent): the latency an alert gets;
* **outbox, batched** — ``enqueue`` a pipeline batch of B alerts, then ``deliver``:
  the throughput the ``notify`` process gets.

It prints alerts/s for each, the p50/p99 latency per alert direct and through the
outbox, the added latency (outbox − direct, at p50 and p99) and the ratios. The
outbox writes with ``synchronous = FULL`` (a "sent" mark survives power loss): that
fsync is most of what it adds, and depends on the disk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from klachtradar.contract import Alert, AlertKind, Priority  # noqa: E402
from klachtradar.settings import AlertRoute, AlertSettings  # noqa: E402
from notify.channels import WebhookChannel  # noqa: E402
from notify.dispatch import AlertDispatch  # noqa: E402
from notify.message import alert_message  # noqa: E402
from notify.outbox import Outbox  # noqa: E402


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def alerts(n: int, tag: str) -> list[Alert]:
    at = datetime.now(UTC)
    return [
        Alert(
            alert_id=f"post:{tag}{i}:P2",
            kind=AlertKind.POST,
            created_at=at,
            brand="KPN",
            priority=Priority.P2,
            risk=60,
            title=f"@klant{i}: internet ligt er weer uit, al drie dagen geen reactie",
            reasons=["12.000 volgers", "klacht (91%)", "geen reactie"],
            doc_id=f"{tag}{i}",
        )
        for i in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def dispatcher(url: str, folder: Path, name: str) -> AlertDispatch:
    route = AlertRoute(channel="webhook", url=url, secret_env="unused", rate_limit=10**9)
    channel = WebhookChannel("hook", url, b"bench-secret")
    settings = AlertSettings(routes={"hook": route})
    return AlertDispatch(settings, Outbox(folder / f"{name}.db"), {"hook": channel})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    n = args.alerts

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # Direct: the same message, signed and posted, no outbox.
        channel = WebhookChannel("hook", url, b"bench-secret")
        now = datetime.now(UTC)
        direct: list[float] = []
        started = time.perf_counter()
        for alert in alerts(n, "d"):
            t0 = time.perf_counter()
            message = alert_message(alert, None, now=now, triage_url="http://t")
            channel.send(message, delivery_id=alert.alert_id, thread=None)
            direct.append(time.perf_counter() - t0)
        direct_rate = n / (time.perf_counter() - started)

        # Through the outbox, one alert at a time: the latency an alert gets.
        one = dispatcher(url, folder, "one")
        outboxed: list[float] = []
        started = time.perf_counter()
        for alert in alerts(n, "o"):
            t0 = time.perf_counter()
            one.enqueue([alert])
            stats = one.deliver()
            outboxed.append(time.perf_counter() - t0)
            assert stats.sent == 1, stats
        one_rate = n / (time.perf_counter() - started)

        # Through the outbox, a pipeline batch at a time: the notify process's throughput.
        many = dispatcher(url, folder, "batched")
        batch = alerts(n, "b")
        sent = 0
        started = time.perf_counter()
        for first in range(0, n, args.batch):
            many.enqueue(batch[first : first + args.batch])
            sent += many.deliver().sent
        batched_rate = n / (time.perf_counter() - started)
        assert sent == n, sent
    server.shutdown()

    ms = 1000.0
    d50, d99 = percentile(direct, 0.5) * ms, percentile(direct, 0.99) * ms
    o50, o99 = percentile(outboxed, 0.5) * ms, percentile(outboxed, 0.99) * ms
    print(f"alerts: {n}, batch {args.batch}, local webhook {url}")
    row = "{:<24}{:8.0f} alerts/s   p50 {:6.2f} ms   p99 {:6.2f} ms"
    print(row.format("direct post", direct_rate, d50, d99))
    print(row.format("outbox, one by one", one_rate, o50, o99))
    print(f"{'outbox, batches of ' + str(args.batch):<24}{batched_rate:8.0f} alerts/s")
    print(f"added latency per alert p50 {o50 - d50:+.2f} ms   p99 {o99 - d99:+.2f} ms")
    print(
        f"ratios: outbox/direct latency p50 {o50 / d50:.2f}x, p99 {o99 / d99:.2f}x; "
        f"batched/direct throughput {batched_rate / direct_rate:.2f}x; "
        f"mean direct {statistics.fmean(direct) * ms:.2f} ms"
    )


if __name__ == "__main__":
    main()
