"""The part every test stub shares: an HTTP server on 127.0.0.1 at a free port, in a background thread."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)


class LoopbackServer:
    """Serve the handler class of :meth:`handler_class` on 127.0.0.1, started and stopped by the test.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Subclasses set ``name``
    (for the thread and the log lines), give their handler class, and may extend
    :meth:`before_stop`, which runs before the server shuts down.
    """

    name = "loopback-stub"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Return the request handler class bound to this stub."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """Return ``http://127.0.0.1:<port>``; raise RuntimeError when the server is not running."""
        if self._server is None:
            raise RuntimeError("the stub server is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        # Keep-alive connections of the SDKs would otherwise hold server_close() until they time out.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
        )
        self._thread.start()
        logger.info("%s listening at %s", self.name, self.address)
        return self

    def before_stop(self) -> None:
        """Release whatever keeps a handler waiting, so that shutting down does not hang."""

    def stop(self) -> None:
        if self._server is None:
            return
        self.before_stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        logger.info("%s stopped", self.name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
