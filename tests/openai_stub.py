"""A minimal OpenAI-compatible chat completions server on 127.0.0.1 for the recording tests.

The server responds to ``POST /v1/chat/completions`` with a chat completion of the shape that the
OpenAI API returns (``id``, ``object``, ``created``, ``model``, ``choices``, ``usage``). The
message content echoes the request's ``seed``, so a test can check that each replayed completion
belongs to its own request. Status codes queued in ``failures`` are sent first, one per request,
and every later request gets a 200 response.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)

COMPLETIONS_PATH = "/v1/chat/completions"

#: Response headers that must never reach a cassette (a cookie and an organisation id).
SECRET_RESPONSE_HEADERS = {
    "Set-Cookie": "stub-session=cookie-value-that-must-not-be-stored",
    "OpenAI-Organization": "org-stub-value-that-must-not-be-stored",
}


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the stub server received it."""

    path: str
    headers: dict[str, str]
    body: bytes


def completion_text(seed: object) -> str:
    """Return the message content the stub sends for a request carrying ``seed``."""
    return json.dumps({"rows": [], "request_seed": seed})


def completion_body(request_body: dict) -> dict:
    """Return a chat completion of the OpenAI response shape for ``request_body``."""
    return {
        "id": f"chatcmpl-stub-{request_body.get('seed')}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request_body.get("model", ""),
        "system_fingerprint": "fp_stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion_text(request_body.get("seed"))},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 321, "completion_tokens": 17, "total_tokens": 338},
    }


class OpenAIStub:
    """Serve chat completions on 127.0.0.1 at a free port, in a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``received`` lists every
    request in arrival order, including the ones that got a failure status.
    """

    def __init__(self, failures: tuple[int, ...] = ()) -> None:
        self.failures = list(failures)
        self.received: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Return the ``/v1`` base URL that an OpenAI client is configured with."""
        if self._server is None:
            raise RuntimeError("the stub server is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> OpenAIStub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        # Keep-alive connections of the SDK would otherwise hold server_close() until they time out.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-stub", daemon=True
        )
        self._thread.start()
        logger.info("OpenAI stub listening at %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        logger.info("OpenAI stub stopped after %d requests", len(self.received))

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def next_status(self) -> int:
        """Return the status of the next response: the first queued failure, else 200."""
        with self._lock:
            return self.failures.pop(0) if self.failures else 200

    def remember(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.received.append(request)


def _handler_class(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # No version numbers in the Server header: the tests search cassettes for decimals.
        server_version = "openai-stub"
        sys_version = ""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            stub.remember(ReceivedRequest(self.path, dict(self.headers.items()), body))

            if self.path != COMPLETIONS_PATH:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            status = stub.next_status()
            if status != 200:
                # retry-after-ms makes the SDK retry after 1 ms instead of its backoff of seconds.
                error = {"error": {"message": "stub failure", "type": "server_error"}}
                self._send(status, error, {"retry-after-ms": "1"})
                return
            self._send(200, completion_body(json.loads(body)), SECRET_RESPONSE_HEADERS)

        def _send(self, status: int, document: dict, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(document).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args) -> None:
            logger.debug("openai stub: " + format, *args)

    return Handler
