"""A minimal Anthropic Messages API server on 127.0.0.1 for the provider and recording tests.

The server handles ``POST /v1/messages``. A request without an ``anthropic-version`` header gets
a 400 error, and a request without a key, or with another key than ``api_key`` when that is
set, gets a 401 error. The key may come in ``x-api-key`` or as ``Authorization: Bearer``,
because the ``anthropic`` SDK 2.x sends it as a bearer token.
A request that carries ``temperature``, ``top_p`` or ``top_k`` gets a 400 error, as API version
2026-10-21 returns for sampling parameters. Otherwise the server returns a message of the shape
that the Messages API returns (``id``, ``type``, ``role``, ``model``, ``content``,
``stop_reason``, ``usage``). A request with ``tools`` gets a ``tool_use`` block, and any other
request gets a ``text`` block. Both carry the tag of the request's user message, so a test can
check that each replayed answer belongs to its own request.

Faults queued in ``faults`` are applied first, one per request, and every later request gets a
normal answer. ``response_headers`` replaces the extra headers sent with each 200 message, which
are :data:`SECRET_RESPONSE_HEADERS` unless it is given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler

from loopback_server import LoopbackServer

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/messages"

#: Response headers that must never reach a cassette: a cookie, an organisation id and a request id.
SECRET_RESPONSE_HEADERS = {
    "Set-Cookie": "stub-session=cookie-value-that-must-not-be-stored",
    "anthropic-organization-id": "org-stub-value-that-must-not-be-stored",
    "request-id": "req_stub_value_that_must_not_be_stored",
}

#: Seconds that :attr:`Fault.RATE_LIMIT` asks the client to wait, in its ``Retry-After`` header.
RETRY_AFTER_SECONDS = 0.05

#: Seconds that :attr:`Fault.TIMEOUT` waits before it answers; a test's client times out sooner.
SLOW_ANSWER_SECONDS = 2.0

USAGE = {"input_tokens": 321, "output_tokens": 17}


class Fault(Enum):
    """A failure the stub applies to one request instead of a normal answer."""

    RATE_LIMIT = "429 rate_limit_error with a Retry-After header"
    SERVER_ERROR = "500 api_error"
    DISCONNECT = "connection closed without a response"
    TIMEOUT = "answer sent only after SLOW_ANSWER_SECONDS"
    TRUNCATED_BODY = "200 with a JSON body cut off in the middle"
    REFUSAL = "200 message with stop_reason refusal"
    MAX_TOKENS = "200 message with stop_reason max_tokens and an incomplete answer"
    NO_TOOL_CALL = "200 message with a text block although the request forced a tool"


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the stub server received it."""

    path: str
    headers: dict[str, str]
    body: bytes


def request_tag(request_body: dict) -> str:
    """Return a short hash of the user message of ``request_body``, which ties an answer to its request."""
    messages = request_body.get("messages") or [{}]
    content = json.dumps(messages[-1].get("content"), sort_keys=True)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def answer_input(request_body: dict, rows: tuple[dict, ...] = ()) -> dict:
    """Return the tool input, or the JSON document of the text answer, that the stub sends."""
    return {"rows": list(rows), "request_tag": request_tag(request_body)}


def message_body(request_body: dict, rows: tuple[dict, ...] = (), stop_reason: str = "", use_tool: bool = True) -> dict:
    """Return a Messages API message answering ``request_body`` with the records ``rows``.

    ``stop_reason`` empty gives a complete answer (``tool_use`` or ``end_turn``). ``refusal``
    gives no content and refusal details, and ``max_tokens`` gives an incomplete answer.
    ``use_tool`` False answers with a text block even when the request carries tools.
    """
    answer = answer_input(request_body, rows)
    if request_body.get("tools") and use_tool:
        tool_name = request_body["tools"][0]["name"]
        block = {"type": "tool_use", "id": "toolu_stub", "name": tool_name, "input": answer}
        complete_reason = "tool_use"
    else:
        block = {"type": "text", "text": json.dumps(answer)}
        complete_reason = "end_turn"

    content = [block]
    stop_details = None
    if stop_reason == "refusal":
        content = []
        stop_details = {"type": "refusal", "category": None, "explanation": "stub refusal explanation"}
    elif stop_reason == "max_tokens":
        content = [{**block, "input": {}}] if block["type"] == "tool_use" else [{**block, "text": block["text"][:9]}]

    return {
        "id": f"msg_stub_{request_tag(request_body)}",
        "type": "message",
        "role": "assistant",
        "model": request_body.get("model", ""),
        "content": content,
        "stop_reason": stop_reason or complete_reason,
        "stop_details": stop_details,
        "stop_sequence": None,
        "usage": USAGE,
    }


def error_body(error_type: str, message: str) -> dict:
    """Return an error of the Messages API shape ``{"type": "error", "error": {...}}``."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


class AnthropicStub(LoopbackServer):
    """Serve Messages API answers on 127.0.0.1 at a free port, in a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``received`` lists every
    request in arrival order, including the ones that got a fault or an error.
    """

    name = "anthropic-stub"

    def __init__(
        self,
        faults: tuple[Fault, ...] = (),
        rows: tuple[dict, ...] = (),
        api_key: str | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> None:
        self.faults = list(faults)
        self.rows = rows
        self.api_key = api_key
        self.response_headers = dict(SECRET_RESPONSE_HEADERS if response_headers is None else response_headers)
        self.received: list[ReceivedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        super().__init__()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_class(self)

    @property
    def base_url(self) -> str:
        """Return the base URL that an ``anthropic.Anthropic`` client is configured with (no ``/v1``)."""
        return self.address

    def before_stop(self) -> None:
        self.stopping.set()

    def next_fault(self) -> Fault | None:
        """Return the first queued fault, or None when the next request gets a normal answer."""
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def remember(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.received.append(request)


def _handler_class(stub: AnthropicStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # No version numbers in the Server header: the tests search cassettes for decimals.
        server_version = "anthropic-stub"
        sys_version = ""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            stub.remember(ReceivedRequest(self.path, dict(self.headers.items()), body))

            if self.path != MESSAGES_PATH:
                self._send(404, error_body("not_found_error", f"no route {self.path}"))
                return
            rejection = self._rejection(body)
            if rejection is not None:
                self._send(*rejection)
                return
            self._answer(json.loads(body), stub.next_fault())

        def _rejection(self, body: bytes) -> tuple[int, dict] | None:
            if not self.headers.get("anthropic-version"):
                return 400, error_body("invalid_request_error", "anthropic-version: header is required")
            bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            key = self.headers.get("x-api-key") or bearer
            if not key:
                return 401, error_body("authentication_error", "x-api-key header is required")
            if stub.api_key is not None and key != stub.api_key:
                return 401, error_body("authentication_error", "invalid x-api-key")
            try:
                document = json.loads(body)
            except ValueError:
                return 400, error_body("invalid_request_error", "request body is not valid JSON")
            for name in ("temperature", "top_p", "top_k"):
                if name in document:
                    return 400, error_body("invalid_request_error", f"{name}: Extra inputs are not permitted")
            for name in ("model", "max_tokens", "messages"):
                if name not in document:
                    return 400, error_body("invalid_request_error", f"{name}: Field required")
            return None

        def _answer(self, request_body: dict, fault: Fault | None) -> None:
            if fault is Fault.RATE_LIMIT:
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
                self._send(429, error_body("rate_limit_error", "stub rate limit"), headers)
            elif fault is Fault.SERVER_ERROR:
                self._send(500, error_body("api_error", "stub failure"), {"retry-after-ms": "1"})
            elif fault is Fault.DISCONNECT:
                self.close_connection = True
                self.connection.shutdown(2)
            elif fault is Fault.TRUNCATED_BODY:
                payload = json.dumps(message_body(request_body, stub.rows)).encode("utf-8")
                self._send_bytes(200, payload[: len(payload) // 2])
            else:
                if fault is Fault.TIMEOUT and stub.stopping.wait(SLOW_ANSWER_SECONDS):
                    return
                stop_reason = {Fault.REFUSAL: "refusal", Fault.MAX_TOKENS: "max_tokens"}.get(fault, "")
                body = message_body(request_body, stub.rows, stop_reason, use_tool=fault is not Fault.NO_TOOL_CALL)
                self._send(200, body, stub.response_headers)

        def _send(self, status: int, document: dict, headers: dict[str, str] | None = None) -> None:
            self._send_bytes(status, json.dumps(document).encode("utf-8"), headers)

        def _send_bytes(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client timed out and closed the connection before the slow answer.
                logger.debug("anthropic stub: client closed the connection before the answer")

        def log_message(self, format: str, *args) -> None:
            logger.debug("anthropic stub: " + format, *args)

    return Handler
