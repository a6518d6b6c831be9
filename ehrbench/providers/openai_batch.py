"""The OpenAI Batch API for chat completions, built on the official ``openai`` SDK.

A batch is a JSONL file uploaded with purpose ``batch``, one line per request::

    {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

``body`` contains the keyword arguments of ``chat.completions.create``. The file is built in
memory and never written to disk, because the prompts contain real rows. When the batch has
ended, its output file contains one line per succeeded request
(``{"custom_id": ..., "response": {"status_code": 200, "body": <chat completion>}, "error": null}``)
and its error file one line per failed or expired request (``"error": {"code": "batch_expired", ...}``).
The limits of one batch (50,000 requests, 200 MB of input file) are those that the docstring
of ``batches.create`` states in the ``openai`` SDK 3.60.
"""

from __future__ import annotations

import json
import logging

import openai

from ehrbench.providers.batch_api import (
    BatchAPIError,
    BatchClient,
    BatchRequest,
    BatchResult,
    BatchStatus,
    check_requests,
    read_jsonl,
)

logger = logging.getLogger(__name__)

#: The endpoint of every request in a batch, as the input file and ``batches.create`` name it.
ENDPOINT = "/v1/chat/completions"

#: Requests per batch that the Batch API accepts.
MAX_REQUESTS = 50_000

#: Bytes of input file per batch that the Batch API accepts ("200 MB", read as 10**6 bytes each).
MAX_FILE_BYTES = 200_000_000

#: Batch statuses after which no request changes any more.
ENDED_STATUSES = ("completed", "failed", "expired", "cancelled")

#: Error codes of requests that were not run, and the result status each one gives.
# NOTE: only ``batch_expired`` is documented in OpenAI's batch guide; the cancel codes are
# assumed. Another code gives status ``errored``, which is reported and resubmitted all the same.
_NOT_RUN_CODES = {"batch_expired": "expired", "batch_cancelled": "canceled", "batch_canceled": "canceled"}


class OpenAIBatchClient(BatchClient):
    """Submit chat completion requests to the OpenAI Batch API, poll the batches and read their results.

    Arguments as for :class:`~ehrbench.providers.batch_api.BatchClient`, with ``client`` an
    ``openai.OpenAI``.
    """

    MAX_REQUESTS = MAX_REQUESTS
    MAX_BYTES = MAX_FILE_BYTES

    @property
    def live_url(self) -> str:
        """Return the URL that the SDK posts one live chat completion request to."""
        return str(self.client.base_url).rstrip("/") + "/chat/completions"

    def request_size(self, request: BatchRequest) -> int:
        """Return the bytes of ``request``'s line in the input file."""
        return len(_line(request))

    def submit(self, requests: list[BatchRequest]) -> str:
        """Upload ``requests`` as one input file, create a batch from it and return the batch id."""
        check_requests(requests)
        data = b"".join(_line(request) for request in requests)
        uploaded = self.call(
            lambda: self.client.files.create(file=("ehrbench-batch.jsonl", data, "application/jsonl"), purpose="batch"),
            "upload of the batch input file",
            True,
        )
        batch = self.call(
            lambda: self.client.batches.create(completion_window="24h", endpoint=ENDPOINT, input_file_id=uploaded.id),
            f"creation of a batch from file {uploaded.id}",
            False,
        )
        logger.info("created batch %s with %d requests (input file %s)", batch.id, len(requests), uploaded.id)
        return batch.id

    def poll(self, batch_id: str) -> BatchStatus:
        """Return the status of batch ``batch_id``."""
        batch = self.call(lambda: self.client.batches.retrieve(batch_id), f"status of batch {batch_id}", True)
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        errors = batch.errors.data if batch.errors is not None and batch.errors.data else []
        detail = "; ".join(f"{error.code}: {error.message}" for error in errors)
        return BatchStatus(batch_id, batch.status, batch.status in ENDED_STATUSES, counts, detail)

    def results(self, batch_id: str) -> list[BatchResult]:
        """Return the result of every request in the output and error files of an ended batch.

        A request with no line in either file has no result, and the caller reports it. Lines
        that cannot be read are counted in a warning.
        """
        batch = self.call(lambda: self.client.batches.retrieve(batch_id), f"status of batch {batch_id}", True)
        if batch.status not in ENDED_STATUSES:
            raise BatchAPIError(f"batch {batch_id} has not ended (status {batch.status!r}); poll it until it has")

        results: dict[str, BatchResult] = {}
        unreadable = 0
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            text = self.call(lambda: self.client.files.content(file_id).text, f"results file {file_id}", True)
            documents, bad_lines = read_jsonl(text)
            unreadable += bad_lines
            for document in documents:
                result = _result(document)
                if result is None:
                    unreadable += 1
                elif result.custom_id in results:
                    logger.warning(
                        "batch %s: custom_id %r has more than one result; the first is kept", batch_id, result.custom_id
                    )
                else:
                    results[result.custom_id] = result
        if unreadable:
            logger.warning(
                "batch %s: %d result lines are not readable results; their requests have no result",
                batch_id, unreadable,
            )  # fmt: skip
        return list(results.values())

    def discard(self, batch_id: str) -> None:
        """Delete the input, output and error files of batch ``batch_id`` from the provider's storage."""
        batch = self.call(lambda: self.client.batches.retrieve(batch_id), f"status of batch {batch_id}", True)
        for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id:
                self.call(lambda: self.client.files.delete(file_id), f"deletion of file {file_id}", True)


def _line(request: BatchRequest) -> bytes:
    line = {"custom_id": request.custom_id, "method": "POST", "url": ENDPOINT, "body": request.arguments}
    return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


def _result(document: dict) -> BatchResult | None:
    """Return the result that one output or error file line describes, or None without a custom id."""
    custom_id = document.get("custom_id")
    if not isinstance(custom_id, str):
        return None
    error = document.get("error")
    if isinstance(error, dict) and error:
        code = error.get("code")
        status = _NOT_RUN_CODES.get(code, "errored")
        return BatchResult(custom_id, status, error=f"{code}: {error.get('message')}")

    response = document.get("response")
    if not isinstance(response, dict):
        return BatchResult(custom_id, "errored", error="the result line has neither a response nor an error")
    status_code = response.get("status_code")
    body = response.get("body")
    if status_code == 200 and isinstance(body, dict):
        return BatchResult(custom_id, "succeeded", body=body)
    message = body.get("error", body) if isinstance(body, dict) else body
    return BatchResult(custom_id, "errored", error=f"HTTP {status_code}: {str(message)[:300]}")
