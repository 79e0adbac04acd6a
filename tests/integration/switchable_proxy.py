"""A local TCP proxy that can be switched "down" and "up" while a test runs.

Up, it pipes every connection to the upstream byte for byte (so it fronts any TCP
protocol: the Elasticsearch HTTP API here). Down, it cuts every open connection and
resets each new one at once (``SO_LINGER`` 0), so clients see the server as
unreachable — what an outage or a network partition looks like from the client.

>>> with SwitchableProxy("127.0.0.1", 9200) as proxy:  # doctest: +SKIP
...     proxy.down(); ...; proxy.up()
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` abortively (the peer gets a connection reset).

    ``shutdown(SHUT_RD)`` first wakes a thread blocked reading it (a bare ``close``
    from another thread would not), without sending the peer a polite FIN.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


class SwitchableProxy:
    """``with SwitchableProxy(host, port) as proxy:`` — ``proxy.url``, ``down()``, ``up()``.

    ``refused`` counts connections reset while down: proof that a client tried.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.refused = 0
        self._is_up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def down(self) -> None:
        """From now on: cut every open connection, reset every new one."""
        with self._lock:
            self._is_up = False
            cut, self._open = self._open, set()
        for sock in cut:
            _reset(sock)

    def up(self) -> None:
        """Pass connections through again."""
        with self._lock:
            self._is_up = True

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed: we are done
                return
            with self._lock:
                is_up = self._is_up
                if not is_up:
                    self.refused += 1
            if not is_up:
                _reset(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if not self._is_up:  # switched down while we connected
                self.refused += 1
                _reset(client)
                _reset(upstream)
                return
            self._open |= {client, upstream}
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        """Copy ``source`` to ``target`` until either side ends; then close both."""
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, target}
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> SwitchableProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        self.down()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self._thread.join(timeout=5)
