"""A stand-in served from a thread of the current process (the tests and ``python -m`` entry points do so)."""

from __future__ import annotations

import socketserver
import threading
from typing import Self


class ThreadedServer:
    """A server that answers from a daemon thread of this process: ``start()`` returns its URL,
    ``stop()`` shuts it down and waits for the thread; as a context manager, both.

    A subclass builds its server in :meth:`build_server`.
    """

    thread_name = "server"
    poll_interval = 0.5  # seconds between serve_forever's looks for a shutdown request
    _server: socketserver.BaseServer | None = None
    _thread: threading.Thread | None = None

    def build_server(self) -> socketserver.BaseServer:
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._server = self.build_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(self.poll_interval,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
