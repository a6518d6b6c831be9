"""A minimal OpenAI-compatible chat completions server on 127.0.0.1 for the recording tests.

The server responds to ``POST /v1/chat/completions`` with a chat completion of the shape that the
OpenAI API returns (``id``, ``object``, ``created``, ``model``, ``choices``, ``usage``). The
message content echoes the request's ``seed``, so a test can check that each replayed completion
belongs to its own request. Status codes queued in ``failures`` are sent first, one per request,
and every later request gets a 200 response. A 200 in the queue answers normally, so a failure
can be aimed at a later request.

Options for the robustness tests: ``failure_headers`` replaces the headers sent with a queued
failure. The requests numbered in ``stall`` (from 1, in arrival order) get no response until
:meth:`OpenAIStub.release` is called, which makes a client time out or lets a test kill the
client at a known point. :meth:`OpenAIStub.wait_for_requests` and
:meth:`OpenAIStub.wait_for_answers` block until that many requests arrived or were answered.
``response_headers`` replaces the extra headers sent with each 200 answer, which are
:data:`SECRET_RESPONSE_HEADERS` unless it is given. ``answers`` maps request numbers (from 1)
to one of the answer kinds below, for the provider tests: :data:`TRUNCATED` sends the first
half of the JSON body, :data:`REFUSAL` a structured-outputs refusal (``content`` null,
``message.refusal`` set), and :data:`SCHEMA_ROWS` the rows that the request's
``response_format`` JSON schema asks for, each cell the first value its schema allows.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from loopback_server import LoopbackServer

logger = logging.getLogger(__name__)

COMPLETIONS_PATH = "/v1/chat/completions"

#: Response headers that must never reach a cassette (a cookie and an organisation id).
SECRET_RESPONSE_HEADERS = {
    "Set-Cookie": "stub-session=cookie-value-that-must-not-be-stored",
    "OpenAI-Organization": "org-stub-value-that-must-not-be-stored",
}


TRUNCATED = "truncated body"
REFUSAL = "refusal"
SCHEMA_ROWS = "rows that follow the request's JSON schema"

#: Text of the stub's refusals.
REFUSAL_TEXT = "I'm sorry, I cannot help with generating these records."


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the stub server received it."""

    path: str
    headers: dict[str, str]
    body: bytes


def completion_text(seed: object) -> str:
    """Return the message content the stub sends for a request carrying ``seed``."""
    return json.dumps({"rows": [], "request_seed": seed})


def first_allowed(cell: dict) -> object:
    """Return the first value a cell schema allows (its first enum value, or a value of its first type)."""
    if "anyOf" in cell:
        return first_allowed(cell["anyOf"][0])
    if "enum" in cell:
        return cell["enum"][0]
    return {"number": 0.5, "integer": 1, "string": "text", "null": None, "boolean": True}[cell["type"]]


def schema_rows_text(request_body: dict) -> str:
    """Return the answer that follows the ``json_schema`` response format of ``request_body``."""
    schema = request_body["response_format"]["json_schema"]["schema"]
    rows = schema["properties"]["rows"]
    record = {name: first_allowed(cell) for name, cell in rows["items"]["properties"].items()}
    return json.dumps({"rows": [record] * rows["minItems"]})


def completion_body(request_body: dict, kind: str | None = None) -> dict:
    """Return a chat completion of the OpenAI response shape for ``request_body``, of answer ``kind``."""
    message = {"role": "assistant", "content": completion_text(request_body.get("seed")), "refusal": None}
    if kind == REFUSAL:
        message = {"role": "assistant", "content": None, "refusal": REFUSAL_TEXT}
    elif kind == SCHEMA_ROWS:
        message["content"] = schema_rows_text(request_body)
    return {
        "id": f"chatcmpl-stub-{request_body.get('seed')}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request_body.get("model", ""),
        "system_fingerprint": "fp_stub",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 321, "completion_tokens": 17, "total_tokens": 338},
    }


class OpenAIStub(LoopbackServer):
    """Serve chat completions on 127.0.0.1 at a free port, in a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``received`` lists every
    request in arrival order, including the ones that got a failure status.
    """

    name = "openai-stub"

    #: Headers of a queued failure unless ``failure_headers`` is given. ``retry-after-ms`` makes
    #: a client that honours it retry after 1 ms instead of its backoff of seconds.
    DEFAULT_FAILURE_HEADERS = {"retry-after-ms": "1"}

    def __init__(
        self,
        failures: tuple[int, ...] = (),
        failure_headers: dict[str, str] | None = None,
        stall: Collection[int] = (),
        response_headers: dict[str, str] | None = None,
        answers: dict[int, str] | None = None,
    ) -> None:
        self.failures = list(failures)
        self.answers = dict(answers or {})
        self.failure_headers = dict(self.DEFAULT_FAILURE_HEADERS if failure_headers is None else failure_headers)
        self.response_headers = dict(SECRET_RESPONSE_HEADERS if response_headers is None else response_headers)
        self.stall = frozenset(stall)
        self.received: list[ReceivedRequest] = []
        #: The ``seed`` of each request answered with 200, in the order the answers were sent.
        self.answered_seeds: list[object] = []
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        super().__init__()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_class(self)

    @property
    def base_url(self) -> str:
        """Return the ``/v1`` base URL that an OpenAI client is configured with."""
        return self.address + "/v1"

    def before_stop(self) -> None:
        self.release()

    def next_status(self) -> int:
        """Return the status of the next response: the first queued failure, else 200."""
        with self._lock:
            return self.failures.pop(0) if self.failures else 200

    def remember(self, request: ReceivedRequest) -> int:
        """Store ``request`` and return its number, from 1 in arrival order."""
        with self._changed:
            self.received.append(request)
            self._changed.notify_all()
            return len(self.received)

    def answered(self, seed: object) -> None:
        with self._changed:
            self.answered_seeds.append(seed)
            self._changed.notify_all()

    def release(self) -> None:
        """Let the stalled requests, and every later one, be answered."""
        self._released.set()

    def wait_stalled(self) -> None:
        self._released.wait()

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests arrived; return False if ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.received) >= count, timeout)

    def wait_for_answers(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests were answered with 200; return False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.answered_seeds) >= count, timeout)


def _handler_class(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # No version numbers in the Server header: the tests search cassettes for decimals.
        server_version = "openai-stub"
        sys_version = ""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            number = stub.remember(ReceivedRequest(self.path, dict(self.headers.items()), body))

            if self.path != COMPLETIONS_PATH:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            if number in stub.stall:
                stub.wait_stalled()
            status = stub.next_status()
            try:
                if status != 200:
                    error = {"error": {"message": "stub failure", "type": "server_error"}}
                    self._send(status, error, stub.failure_headers)
                    return
                document = json.loads(body)
                kind = stub.answers.get(number)
                payload = json.dumps(completion_body(document, kind)).encode("utf-8")
                if kind == TRUNCATED:
                    payload = payload[: len(payload) // 2]
                self._send_bytes(200, payload, stub.response_headers)
            except (BrokenPipeError, ConnectionResetError):
                # A stalled client may have timed out or been killed before the answer.
                logger.debug("openai stub: client of request %d left before the answer", number)
                return
            stub.answered(document.get("seed"))

        def _send(self, status: int, document: dict, headers: dict[str, str] | None = None) -> None:
            self._send_bytes(status, json.dumps(document).encode("utf-8"), headers)

        def _send_bytes(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
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
