"""Batch API servers on 127.0.0.1 for the batch recording tests: one per protocol.

:class:`OpenAIBatchStub` speaks the OpenAI Files and Batch APIs (``POST /v1/files`` with a
multipart upload, ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/files/{id}/content``,
``DELETE /v1/files/{id}``). :class:`AnthropicBatchStub` speaks the Message Batches API
(``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``, its ``/results`` JSONL and
``DELETE``). Both also respond to live requests (``POST /v1/chat/completions`` and
``POST /v1/messages``), so a test can record the same case live and by batch at one base URL
and compare the cassettes.

Each request of a batch gets the response body that the live stubs of tests/openai_stub.py and
tests/anthropic_stub.py send for the same body. A batch reports ``in_progress`` for its first
``polls_until_ended`` status requests and then ends. ``faults`` maps the number of a batched
request (from 1, counted over every batch in creation order) to a :data:`FAULTS` name.
``status_failures`` queues (status, headers) responses for the next batch status requests, and
``create_failures`` for the next batch creations. ``creates`` counts the batches created,
``batch_sizes`` lists their request counts and ``deleted`` the ids of deleted files or batches.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler

from loopback_server import LoopbackServer

from anthropic_stub import message_body
from openai_stub import completion_body

logger = logging.getLogger(__name__)

#: What a fault does to one batched request instead of a normal result.
FAULTS = {
    "errored": "the request failed (OpenAI: HTTP 500 in the error file; Anthropic: an errored result)",
    "expired": "the request expired before it ran",
    "canceled": "the request was canceled before it ran",
    "missing": "the request has no result line at all",
    "not_completion": "the request succeeded with a body that is not a chat completion or a message",
}

#: Seconds that a queued 429 response asks the client to wait, in its ``Retry-After`` header.
RETRY_AFTER_SECONDS = 7

CREATED_AT = 1_700_000_000


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as a stub server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubBatch:
    """One batch held by a stub: its requests as (custom_id, body) and its polls so far."""

    batch_id: str
    requests: list[tuple[str, dict]]
    first_number: int
    polls: int = 0
    input_file_id: str = ""


class _BatchStub(LoopbackServer):
    """The server thread, request log, counters and fault plan that both stubs share."""

    name = "batch-stub"

    def __init__(
        self,
        polls_until_ended: int = 1,
        faults: dict[int, str] | None = None,
        status_failures: tuple[tuple[int, dict[str, str]], ...] = (),
        create_failures: tuple[tuple[int, dict[str, str]], ...] = (),
        final_status: str = "",
    ) -> None:
        unknown = sorted(set((faults or {}).values()) - set(FAULTS))
        if unknown:
            raise ValueError(f"faults {unknown} are unknown; use names from {sorted(FAULTS)}")
        self.polls_until_ended = polls_until_ended
        self.faults = dict(faults or {})
        self.status_failures = list(status_failures)
        self.create_failures = list(create_failures)
        self.final_status = final_status
        self.received: list[ReceivedRequest] = []
        self.batches: dict[str, StubBatch] = {}
        self.creates = 0
        self.batch_sizes: list[int] = []
        self.deleted: list[str] = []
        self.batched_requests = 0
        self.lock = threading.Lock()
        super().__init__()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_class(self)

    def add_batch(self, batch_id: str, requests: list[tuple[str, dict]], input_file_id: str = "") -> StubBatch:
        """Store a new batch and number its requests after those of the earlier batches."""
        with self.lock:
            batch = StubBatch(batch_id, requests, self.batched_requests + 1, input_file_id=input_file_id)
            self.batched_requests += len(requests)
            self.batches[batch_id] = batch
            self.creates += 1
            self.batch_sizes.append(len(requests))
            return batch

    def fault_of(self, batch: StubBatch, position: int) -> str:
        return self.faults.get(batch.first_number + position, "")

    def next_status_failure(self) -> tuple[int, dict[str, str]] | None:
        with self.lock:
            return self.status_failures.pop(0) if self.status_failures else None

    def next_create_failure(self) -> tuple[int, dict[str, str]] | None:
        with self.lock:
            return self.create_failures.pop(0) if self.create_failures else None

    def poll(self, batch: StubBatch) -> bool:
        """Count one status request of ``batch`` and return True once it has ended."""
        with self.lock:
            batch.polls += 1
            return batch.polls > self.polls_until_ended

    def route(self, handler: _Handler, method: str) -> None:
        raise NotImplementedError


class OpenAIBatchStub(_BatchStub):
    """The OpenAI Files and Batch APIs, and live chat completions, on 127.0.0.1.

    ``final_status`` is the status of an ended batch (default ``completed``; ``expired``,
    ``cancelled`` and ``failed`` are the others).
    """

    name = "openai-batch-stub"

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.files: dict[str, bytes] = {}
        #: The bytes of every uploaded file, in upload order.
        self.uploads: list[bytes] = []

    @property
    def base_url(self) -> str:
        """Return the ``/v1`` base URL that an OpenAI client is configured with."""
        return self.address + "/v1"

    def uploaded_lines(self) -> list[dict]:
        """Return the lines of every uploaded input file, parsed, in upload order."""
        return [json.loads(line) for data in self.uploads for line in data.splitlines()]

    def route(self, handler: _Handler, method: str) -> None:
        path = handler.path
        if method == "POST" and path == "/v1/chat/completions":
            handler.send_json(200, completion_body(json.loads(handler.body)))
        elif method == "POST" and path == "/v1/files":
            handler.send_json(200, self._upload(handler))
        elif method == "POST" and path == "/v1/batches":
            self._create(handler)
        elif method == "GET" and (match := re.fullmatch(r"/v1/batches/([\w-]+)", path)):
            self._retrieve(handler, match.group(1))
        elif method == "GET" and (match := re.fullmatch(r"/v1/files/([\w-]+)/content", path)):
            file_id = match.group(1)
            if file_id not in self.files:
                handler.send_json(404, {"error": {"message": f"no file {file_id}", "type": "invalid_request_error"}})
            else:
                handler.send_bytes(200, self.files[file_id], "application/octet-stream")
        elif method == "DELETE" and (match := re.fullmatch(r"/v1/files/([\w-]+)", path)):
            self.deleted.append(match.group(1))
            handler.send_json(200, {"id": match.group(1), "object": "file", "deleted": True})
        else:
            handler.send_json(404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}})

    def _upload(self, handler: _Handler) -> dict:
        form = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + handler.headers["Content-Type"].encode("latin-1") + b"\r\n\r\n" + handler.body
        )
        fields = {part.get_param("name", header="content-disposition"): part for part in form.iter_parts()}
        data = fields["file"].get_payload(decode=True)
        purpose = fields["purpose"].get_payload(decode=True).decode("utf-8")
        self.uploads.append(data)
        file_id = self._store(data)
        return {
            "id": file_id, "object": "file", "bytes": len(data), "created_at": CREATED_AT,
            "filename": fields["file"].get_filename(), "purpose": purpose, "status": "processed",
        }  # fmt: skip

    def _store(self, data: bytes) -> str:
        with self.lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
            return file_id

    def _create(self, handler: _Handler) -> None:
        failure = self.next_create_failure()
        if failure is not None:
            handler.send_json(failure[0], {"error": {"message": "stub failure", "type": "server_error"}}, failure[1])
            return
        document = json.loads(handler.body)
        data = self.files.get(document.get("input_file_id", ""))
        valid = document.get("endpoint") == "/v1/chat/completions" and document.get("completion_window") == "24h"
        if data is None or not valid:
            handler.send_json(400, {"error": {"message": f"invalid batch {document}", "type": "invalid_request_error"}})
            return
        lines = [json.loads(line) for line in data.splitlines()]
        if any(line.get("method") != "POST" or line.get("url") != "/v1/chat/completions" for line in lines):
            handler.send_json(400, {"error": {"message": "invalid input line", "type": "invalid_request_error"}})
            return
        requests = [(line["custom_id"], line["body"]) for line in lines]
        batch = self.add_batch(f"batch_{self.creates + 1}", requests, document["input_file_id"])
        handler.send_json(200, self._batch_object(batch, "validating"))

    def _retrieve(self, handler: _Handler, batch_id: str) -> None:
        failure = self.next_status_failure()
        if failure is not None:
            status, headers = failure
            handler.send_json(status, {"error": {"message": "stub rate limit", "type": "rate_limit"}}, headers)
            return
        batch = self.batches.get(batch_id)
        if batch is None:
            handler.send_json(404, {"error": {"message": f"no batch {batch_id}", "type": "invalid_request_error"}})
            return
        ended = self.poll(batch)
        status = (self.final_status or "completed") if ended else "in_progress"
        handler.send_json(200, self._batch_object(batch, status))

    def _batch_object(self, batch: StubBatch, status: str) -> dict:
        document = {
            "id": batch.batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
            "created_at": CREATED_AT, "input_file_id": batch.input_file_id, "status": status,
            "request_counts": {"total": len(batch.requests), "completed": 0, "failed": 0},
        }  # fmt: skip
        if status == "failed":
            errors = [{"code": "invalid_input", "message": "stub validation failure"}]
            document["errors"] = {"object": "list", "data": errors}
        elif status not in ("validating", "in_progress"):
            output, errors = self._result_files(batch)
            document["output_file_id"] = self._store_once(f"{batch.batch_id}-output", output)
            document["error_file_id"] = self._store_once(f"{batch.batch_id}-errors", errors)
            document["request_counts"] = {"total": len(batch.requests), "completed": len(output), "failed": len(errors)}
        return document

    def _store_once(self, key: str, lines: list[dict]) -> str | None:
        if not lines:
            return None
        with self.lock:
            self.files.setdefault(key, b"".join(json.dumps(line).encode("utf-8") + b"\n" for line in lines))
        return key

    def _result_files(self, batch: StubBatch) -> tuple[list[dict], list[dict]]:
        output, errors = [], []
        for position, (custom_id, body) in enumerate(batch.requests):
            fault = self.fault_of(batch, position)
            line = {"id": f"batch_req_{position}", "custom_id": custom_id, "response": None, "error": None}
            if fault == "missing":
                continue
            if fault in ("expired", "canceled"):
                code = "batch_expired" if fault == "expired" else "batch_cancelled"
                errors.append(line | {"error": {"code": code, "message": f"stub: the request was {fault}"}})
            elif fault == "errored":
                body = {"error": {"message": "stub failure"}}
                response = {"status_code": 500, "request_id": "req_stub", "body": body}
                errors.append(line | {"response": response})
            else:
                answer = completion_body(body)
                if fault == "not_completion":
                    answer = {"object": "chat.completion", "choices": []}
                output.append(line | {"response": {"status_code": 200, "request_id": "req_stub", "body": answer}})
        return output, errors


class AnthropicBatchStub(_BatchStub):
    """The Message Batches API, and live messages, on 127.0.0.1.

    Requests without an ``anthropic-version`` header or without a key get HTTP 400 or 401, as
    the live stub of tests/anthropic_stub.py does. ``results_address`` replaces the scheme, host
    and port of each ``results_url`` (default: the stub's own).
    """

    name = "anthropic-batch-stub"

    def __init__(self, results_address: str = "", **settings) -> None:
        super().__init__(**settings)
        self.results_address = results_address

    @property
    def base_url(self) -> str:
        """Return the base URL that an ``anthropic.Anthropic`` client is configured with (no ``/v1``)."""
        return self.address

    def route(self, handler: _Handler, method: str) -> None:
        path = handler.path
        if not handler.headers.get("anthropic-version"):
            handler.send_json(400, _error("invalid_request_error", "anthropic-version: header is required"))
        elif not (handler.headers.get("x-api-key") or handler.headers.get("Authorization")):
            handler.send_json(401, _error("authentication_error", "x-api-key header is required"))
        elif method == "POST" and path == "/v1/messages":
            handler.send_json(200, message_body(json.loads(handler.body)))
        elif method == "POST" and path == "/v1/messages/batches" and (failure := self.next_create_failure()):
            handler.send_json(failure[0], _error("api_error", "stub failure"), failure[1])
        elif method == "POST" and path == "/v1/messages/batches":
            requests = json.loads(handler.body)["requests"]
            pairs = [(item["custom_id"], item["params"]) for item in requests]
            batch = self.add_batch(f"msgbatch_{self.creates + 1}", pairs)
            handler.send_json(200, self._batch_object(batch, ended=False))
        elif method == "GET" and (match := re.fullmatch(r"/v1/messages/batches/([\w-]+)", path)):
            self._retrieve(handler, match.group(1))
        elif method == "GET" and (match := re.fullmatch(r"/v1/messages/batches/([\w-]+)/results", path)):
            batch = self.batches[match.group(1)]
            lines = b"".join(json.dumps(line).encode("utf-8") + b"\n" for line in self._results(batch))
            handler.send_bytes(200, lines, "application/binary")
        elif method == "DELETE" and (match := re.fullmatch(r"/v1/messages/batches/([\w-]+)", path)):
            self.deleted.append(match.group(1))
            handler.send_json(200, {"id": match.group(1), "type": "message_batch_deleted"})
        else:
            handler.send_json(404, _error("not_found_error", f"no route {method} {path}"))

    def _retrieve(self, handler: _Handler, batch_id: str) -> None:
        failure = self.next_status_failure()
        if failure is not None:
            status, headers = failure
            handler.send_json(status, _error("rate_limit_error", "stub rate limit"), headers)
            return
        batch = self.batches.get(batch_id)
        if batch is None:
            handler.send_json(404, _error("not_found_error", f"no message batch {batch_id}"))
            return
        handler.send_json(200, self._batch_object(batch, ended=self.poll(batch)))

    def _batch_object(self, batch: StubBatch, ended: bool) -> dict:
        kinds = [self._kind(batch, position) for position in range(len(batch.requests))]
        counts = {"processing": 0 if ended else len(kinds), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for kind in kinds:
                counts[kind] += 1
        return {
            "id": batch.batch_id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
            "ended_at": "2026-01-01T01:00:00Z" if ended else None, "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{self.results_address or self.address}/v1/messages/batches/{batch.batch_id}/results"
            if ended else None,
        }  # fmt: skip

    def _kind(self, batch: StubBatch, position: int) -> str:
        fault = self.fault_of(batch, position)
        return fault if fault in ("errored", "expired", "canceled") else "succeeded"

    def _results(self, batch: StubBatch) -> list[dict]:
        lines = []
        for position, (custom_id, params) in enumerate(batch.requests):
            fault = self.fault_of(batch, position)
            if fault == "missing":
                continue
            if fault == "errored":
                result = {"type": "errored", "error": _error("overloaded_error", "stub failure")}
            elif fault in ("expired", "canceled"):
                result = {"type": fault}
            elif fault == "not_completion":
                result = {"type": "succeeded", "message": {"type": "unexpected", "content": "not a message"}}
            else:
                result = {"type": "succeeded", "message": message_body(params)}
            lines.append({"custom_id": custom_id, "result": result})
        return lines


def _error(error_type: str, message: str) -> dict:
    return {"type": "error", "error": {"type": error_type, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    """Read one request, log it in the stub and let the stub route it."""

    stub: _BatchStub
    server_version = "batch-stub"
    sys_version = ""
    body = b""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.body = self.rfile.read(length)
        with self.stub.lock:
            self.stub.received.append(ReceivedRequest(method, self.path, dict(self.headers.items()), self.body))
        self.stub.route(self, method)

    def send_json(self, status: int, document: dict, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(document).encode("utf-8"), "application/json", headers)

    def send_bytes(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("%s: client closed the connection before the response", self.stub.name)

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s: " + format, self.stub.name, *args)


def _handler_class(stub: _BatchStub) -> type[_Handler]:
    return type("Handler", (_Handler,), {"stub": stub})
