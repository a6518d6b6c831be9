"""The Anthropic Message Batches API, built on the official ``anthropic`` SDK.

``messages.batches.create`` takes a list of ``{"custom_id": ..., "params": {...}}``, where
``params`` contains the keyword arguments of ``messages.create``. Once the batch's
``processing_status`` is ``ended``, its ``results_url`` serves one JSON line per request:
``{"custom_id": ..., "result": {"type": "succeeded", "message": {...}}}``, or a result of type
``errored`` (with an ``error``), ``canceled`` or ``expired``. One batch may hold 100,000
requests or 256 MB, whichever comes first (Anthropic's Message Batches guide, "Batch
limitations").
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlparse

import anthropic

from ehrbench.providers.batch_api import (
    RESULT_STATUSES,
    BatchAPIError,
    BatchClient,
    BatchRequest,
    BatchResult,
    BatchStatus,
    check_requests,
    read_jsonl,
)

logger = logging.getLogger(__name__)

#: Requests per batch that the Message Batches API accepts.
MAX_REQUESTS = 100_000

#: Bytes per batch that the Message Batches API accepts (256 MB), less room for the envelope.
MAX_BATCH_BYTES = 256_000_000 - 64_000


class AnthropicBatchClient(BatchClient):
    """Submit Messages API requests as Message Batches, poll the batches and read their results.

    Arguments as for :class:`~ehrbench.providers.batch_api.BatchClient`, with ``client`` an
    ``anthropic.Anthropic``.
    """

    MAX_REQUESTS = MAX_REQUESTS
    MAX_BYTES = MAX_BATCH_BYTES

    @property
    def live_url(self) -> str:
        """Return the URL that the SDK posts one live Messages API request to."""
        return str(self.client.base_url).rstrip("/") + "/v1/messages"

    def request_size(self, request: BatchRequest) -> int:
        """Return the bytes of ``request``'s entry in the JSON body of a batch."""
        return _size(request)

    def submit(self, requests: list[BatchRequest]) -> str:
        """Create one Message Batch from ``requests`` and return its id."""
        check_requests(requests)
        entries = [{"custom_id": request.custom_id, "params": request.arguments} for request in requests]
        batch = self.call(
            lambda: self.client.messages.batches.create(requests=entries), "creation of a message batch", False
        )
        logger.info("created message batch %s with %d requests", batch.id, len(requests))
        return batch.id

    def poll(self, batch_id: str) -> BatchStatus:
        """Return the status of message batch ``batch_id``."""
        batch = self._retrieve(batch_id)
        counts = batch.request_counts.model_dump()
        return BatchStatus(batch_id, batch.processing_status, batch.processing_status == "ended", counts)

    def results(self, batch_id: str) -> list[BatchResult]:
        """Return the result of every request of an ended message batch.

        The results are read only from the base URL of the client: a ``results_url`` on another
        host raises :class:`BatchAPIError`, because the SDK would send the API key there.
        Lines that cannot be read are counted in a warning.
        """
        batch = self._retrieve(batch_id)
        if batch.processing_status != "ended" or not batch.results_url:
            raise BatchAPIError(
                f"message batch {batch_id} has no results yet (processing_status {batch.processing_status!r}); "
                "poll it until it has ended"
            )
        if _origin(batch.results_url) != _origin(str(self.client.base_url)):
            raise BatchAPIError(
                f"message batch {batch_id} names results at {batch.results_url}, which is not on the configured "
                f"endpoint {self.client.base_url}; the results were not requested, so that the key is not sent there"
            )

        text = self.call(lambda: self._results_text(batch_id), f"results of message batch {batch_id}", True)
        documents, unreadable = read_jsonl(text)
        results: dict[str, BatchResult] = {}
        for document in documents:
            result = _result(document)
            if result is None:
                unreadable += 1
            elif result.custom_id in results:
                logger.warning(
                    "message batch %s: custom_id %r has more than one result; the first is kept",
                    batch_id, result.custom_id,
                )  # fmt: skip
            else:
                results[result.custom_id] = result
        if unreadable:
            logger.warning(
                "message batch %s: %d result lines are not readable results; their requests have no result",
                batch_id, unreadable,
            )  # fmt: skip
        return list(results.values())

    def discard(self, batch_id: str) -> None:
        """Delete the ended message batch ``batch_id`` and its results from the provider's storage."""
        self.call(lambda: self.client.messages.batches.delete(batch_id), f"deletion of message batch {batch_id}", True)

    def _retrieve(self, batch_id: str):
        return self.call(
            lambda: self.client.messages.batches.retrieve(batch_id), f"status of message batch {batch_id}", True
        )

    def _results_text(self, batch_id: str) -> str:
        # The raw lines are stored as the API sent them, without a round trip through the
        # SDK's result models.
        with self.client.messages.batches.with_streaming_response.results(batch_id) as response:
            return "\n".join(response.iter_lines())


def _size(request: BatchRequest) -> int:
    entry = {"custom_id": request.custom_id, "params": request.arguments}
    return len(json.dumps(entry, ensure_ascii=False).encode("utf-8")) + 1


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    return parsed.scheme, parsed.hostname or "", parsed.port


def _result(document: dict) -> BatchResult | None:
    """Return the result that one line of the results file describes, or None without a custom id."""
    custom_id = document.get("custom_id")
    result = document.get("result")
    if not isinstance(custom_id, str) or not isinstance(result, dict):
        return None
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message")
        if isinstance(message, dict):
            return BatchResult(custom_id, "succeeded", body=message)
        return BatchResult(custom_id, "errored", error="a succeeded result without a message")
    if kind == "errored":
        error = result.get("error")
        inner = error.get("error", error) if isinstance(error, dict) else error
        detail = f"{inner.get('type')}: {inner.get('message')}" if isinstance(inner, dict) else str(inner)
        return BatchResult(custom_id, "errored", error=detail[:300])
    if kind in RESULT_STATUSES:
        return BatchResult(custom_id, kind, error=f"the request was {kind} before it was processed")
    return BatchResult(custom_id, "errored", error=f"unknown result type {kind!r}")
