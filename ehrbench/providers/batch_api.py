"""The parts that the batch clients of both protocols share: requests, results, status and size limits.

A batch API takes many requests at once, processes them within a completion window (24 hours
at OpenAI and Anthropic) and bills them at a discount. Each request carries a ``custom_id``,
because results come back in any order. The clients of :mod:`ehrbench.providers.openai_batch`
and :mod:`ehrbench.providers.anthropic_batch` each send one API call per method. Retries
belong to the caller, which each client receives as a :data:`Caller`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from ehrbench.providers.openai_compatible import ProviderError

T = TypeVar("T")

ResultStatus = Literal["succeeded", "errored", "expired", "canceled"]

#: The outcomes of one request of a batch, named as in the Anthropic Message Batches API.
RESULT_STATUSES: tuple[str, ...] = ("succeeded", "errored", "expired", "canceled")

#: Custom ids that both APIs accept: Anthropic requires 1 to 64 letters, digits, ``_`` or ``-``.
CUSTOM_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: ``call(send, label, repeatable)`` sends one API call by calling ``send()`` and returns its
#: result. ``label`` names the call in log lines and errors. ``repeatable`` is False for a call
#: that may start paid work when repeated after a lost response (creating a batch).
Caller = Callable[[Callable[[], T], str, bool], T]


def call_once(send: Callable[[], T], label: str, repeatable: bool) -> T:
    """Call ``send`` once, without retries, and return its result (the default :data:`Caller`)."""
    return send()


class BatchAPIError(ProviderError):
    """A batch could not be built, or the batch API returned something that is not a batch."""


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch: its id within the batch and the keyword arguments of the live call.

    ``arguments`` is what the provider's ``request_arguments(prompt)`` returns, which the SDK
    sends as the JSON body of a live request.
    """

    custom_id: str
    arguments: dict


@dataclass(frozen=True)
class BatchStatus:
    """The processing state of one batch as the API reports it.

    ``status`` is the API's own word, such as OpenAI's ``in_progress`` or Anthropic's ``ended``.
    ``ended`` is True once no request of the batch will change any more. ``counts`` are the
    API's request counts by status, and ``detail`` describes a batch that failed as a whole.
    """

    batch_id: str
    status: str
    ended: bool
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""

    def describe(self) -> str:
        """Return the status and the counts in one line, such as ``in_progress (completed 3, total 5)``."""
        counts = ", ".join(f"{name} {count}" for name, count in self.counts.items())
        text = f"{self.status} ({counts})" if counts else self.status
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class BatchResult:
    """The result of one request of a batch.

    ``status`` is one of :data:`RESULT_STATUSES`. ``body`` is the response body of a
    succeeded request (a chat completion or a message, as a live call returns it) and None
    otherwise. ``error`` describes why a request did not succeed.
    """

    custom_id: str
    status: ResultStatus
    body: dict | None = None
    error: str = ""


def check_requests(requests: Sequence[BatchRequest]) -> None:
    """Raise :class:`BatchAPIError` unless every custom id is valid and unique and there is a request."""
    if not requests:
        raise BatchAPIError("a batch needs at least one request, got none")
    seen: set[str] = set()
    for request in requests:
        if not CUSTOM_ID_PATTERN.match(request.custom_id):
            raise BatchAPIError(
                f"custom_id {request.custom_id!r} is invalid; use 1 to 64 letters, digits, '_' or '-'"
            )
        if request.custom_id in seen:
            raise BatchAPIError(f"custom_id {request.custom_id!r} occurs twice; each request needs its own id")
        seen.add(request.custom_id)


def split_requests(
    requests: Sequence[BatchRequest], max_count: int, max_bytes: int, size_of: Callable[[BatchRequest], int]
) -> list[list[BatchRequest]]:
    """Split ``requests``, in order, into batches of at most ``max_count`` requests and ``max_bytes`` bytes.

    ``size_of`` returns the bytes that one request adds to a batch. A request larger than
    ``max_bytes`` on its own raises :class:`BatchAPIError`.
    """
    batches: list[list[BatchRequest]] = []
    current: list[BatchRequest] = []
    current_bytes = 0
    for request in requests:
        size = size_of(request)
        if size > max_bytes:
            raise BatchAPIError(
                f"request {request.custom_id!r} takes {size} bytes, more than the {max_bytes} bytes that one "
                "batch may hold; lower rows_per_request in its model entry"
            )
        if current and (len(current) >= max_count or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(request)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def read_jsonl(text: str) -> tuple[list[dict], int]:
    """Parse the JSON object on each non-empty line of ``text``.

    Returns the objects and the number of lines that are not a JSON object, which the caller
    reports, because a result it cannot read cannot be matched to its request.
    """
    documents = []
    unreadable = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(document, dict):
            documents.append(document)
        else:
            unreadable += 1
    return documents, unreadable


class BatchClient:
    """The base of both batch clients: the SDK client, the call wrapper and the limits of one batch.

    ``client`` is the SDK client of the model's provider, so batches go to the same base URL
    with the same key. ``call`` sends each API call (:data:`Caller`). ``max_requests`` and
    ``max_bytes`` cap one batch; they default to the API's limits, which a subclass sets in
    :attr:`MAX_REQUESTS` and :attr:`MAX_BYTES` together with :meth:`request_size`.
    """

    MAX_REQUESTS: int = 1
    MAX_BYTES: int = 1

    def __init__(self, client, call: Caller = call_once, max_requests: int | None = None, max_bytes: int | None = None) -> None:
        max_requests = self.MAX_REQUESTS if max_requests is None else max_requests
        max_bytes = self.MAX_BYTES if max_bytes is None else max_bytes
        if max_requests < 1 or max_bytes < 1:
            raise ValueError(f"max_requests and max_bytes must be at least 1, got {max_requests} and {max_bytes}")
        self.client = client
        self.call = call
        self.max_requests = max_requests
        self.max_bytes = max_bytes

    def request_size(self, request: BatchRequest) -> int:
        """Return the bytes that ``request`` takes in a batch."""
        raise NotImplementedError

    def split(self, requests: list[BatchRequest]) -> list[list[BatchRequest]]:
        """Split ``requests`` into batches within the request and size limits."""
        check_requests(requests)
        return split_requests(requests, self.max_requests, self.max_bytes, self.request_size)
