"""The retry policy of recording: which failed requests are sent again, and after how long.

A request is retried after HTTP 408, 429 or 5xx, a connection error or a timeout. The wait
before retry ``n`` (1 for the first retry) is drawn uniformly from
``[0, min(MAX_WAIT_SECONDS, base * 2 ** (n - 1))]`` ("full jitter"), unless the failed response
names a wait in ``retry-after-ms`` or ``Retry-After``: that wait is used instead, capped at
:data:`MAX_WAIT_SECONDS`. The SDK's own retries are turned off while recording, so this policy
is the only one applied, and each retry is logged with its reason, attempt and wait.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import TypeVar

import anthropic
import openai
from vcr.errors import CannotOverwriteExistingCassetteException

from ehrbench.providers import InvalidResponseBody, ProviderError

logger = logging.getLogger(__name__)

#: Maximum wait before one retry, in seconds, whatever the backoff or the server requests.
MAX_WAIT_SECONDS = 60.0

#: HTTP statuses that are retried besides 5xx: request timeout and rate limit.
RETRYABLE_STATUSES = frozenset({408, 429})

_CONNECTION_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError)
_TIMEOUT_ERRORS = (openai.APITimeoutError, anthropic.APITimeoutError)
_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)

#: Characters of the last error's message quoted by :class:`AttemptsExhausted`.
_QUOTED_CHARACTERS = 300

T = TypeVar("T")


class AttemptsExhausted(RuntimeError):
    """Every attempt of a request failed with a retryable error; ``__cause__`` is the last one."""

    def __init__(self, attempts: int, reason: str, last_error: BaseException) -> None:
        quoted = f"{type(last_error).__name__}: {last_error}"[:_QUOTED_CHARACTERS]
        counted = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(f"gave up after {counted}; the last failed with {reason} ({quoted})")
        self.attempts = attempts
        self.reason = reason


@dataclass(frozen=True)
class RetryableFailure:
    """The reason a failed request may be sent again, and the wait its response requests (seconds or None)."""

    reason: str
    retry_after: float | None


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Return the wait in seconds that response ``headers`` request, or None when they request none.

    ``retry-after-ms`` (milliseconds, sent by OpenAI) is read first, then ``Retry-After`` as
    seconds or as an HTTP date, which is compared with ``now`` (Unix time in seconds). A date in
    the past gives 0. Header names are matched case-insensitively, and invalid or negative
    values are ignored.
    """
    folded = {name.lower(): value for name, value in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        seconds = _non_negative_number(folded.get(name))
        if seconds is not None:
            return seconds * scale

    value = folded.get("retry-after")
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # HTTP dates are in GMT, so a date whose zone is "-0000" is read as UTC, not local time.
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - now)


def _non_negative_number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def backoff_delay(
    attempt: int,
    base_seconds: float,
    rng: random.Random,
    retry_after: float | None = None,
    max_wait: float = MAX_WAIT_SECONDS,
) -> float:
    """Return the wait in seconds before retry ``attempt`` (1 for the first retry).

    ``retry_after`` (seconds, from the failed response) is used when given; otherwise the wait
    is drawn from ``rng`` in ``[0, base_seconds * 2 ** (attempt - 1)]``. Both are capped at
    ``max_wait``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    if retry_after is not None:
        return min(max(retry_after, 0.0), max_wait)
    # The exponent is bounded so that 2 ** exponent stays a finite float for any attempt.
    ceiling = min(max_wait, base_seconds * 2.0 ** min(attempt - 1, 64))
    return rng.uniform(0.0, ceiling)


def classify_failure(error: BaseException, now: float) -> RetryableFailure | None:
    """Return why ``error`` may be retried, or None when sending the request again cannot help.

    ``error`` is an openai or anthropic SDK error, or a :class:`ProviderError` raised from one
    (as the Anthropic provider raises them). A connection error that vcrpy raised because a
    replayed request is not in the cassette is not retried. ``now`` is Unix time in seconds,
    for a ``Retry-After`` date.
    """
    if isinstance(error, InvalidResponseBody):
        return RetryableFailure("invalid JSON body", None)
    error = sdk_error(error)
    if isinstance(error, _STATUS_ERRORS):
        status = error.status_code
        if status in RETRYABLE_STATUSES or status >= 500:
            return RetryableFailure(f"HTTP {status}", parse_retry_after(error.response.headers, now))
        return None
    if isinstance(error, _CONNECTION_ERRORS) and not raised_by_vcrpy(error):
        return RetryableFailure(_connection_reason(error), None)
    return None


def sdk_error(error: BaseException) -> BaseException:
    """Return the SDK error that a :class:`ProviderError` was raised from, else ``error`` itself."""
    if isinstance(error, ProviderError) and isinstance(error.__cause__, (openai.APIError, anthropic.APIError)):
        return error.__cause__
    return error


def _connection_reason(error: BaseException) -> str:
    if isinstance(error, _TIMEOUT_ERRORS):
        return "timeout"
    cause = error.__cause__
    return f"connection error ({type(cause).__name__}: {cause})" if cause is not None else "connection error"


def raised_by_vcrpy(error: BaseException) -> bool:
    """Return True when vcrpy refused the request because its cassette does not contain it."""
    cause = error
    while cause is not None:
        if isinstance(cause, CannotOverwriteExistingCassetteException):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def call_with_retries(
    send: Callable[[], T],
    label: str,
    max_retries: int,
    base_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.time,
) -> T:
    """Call ``send`` until it returns, retrying retryable failures up to ``max_retries`` times.

    ``label`` names the request in the log line of each retry. A failure that is not retryable is
    raised at once, unchanged. When every one of the ``max_retries + 1`` attempts fails with a
    retryable error, :class:`AttemptsExhausted` is raised from the last error. ``sleep``,
    ``rng`` and ``clock`` (Unix time) can be replaced in tests.
    """
    rng = rng if rng is not None else random.Random()
    attempts = max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except Exception as error:
            failure = classify_failure(error, clock())
            if failure is None:
                raise
            if attempt == attempts:
                raise AttemptsExhausted(attempts, failure.reason, sdk_error(error)) from error
            wait = backoff_delay(attempt, base_seconds, rng, failure.retry_after)
            logger.warning(
                "%s: %s on attempt %d of %d; retrying in %.2f s", label, failure.reason, attempt, attempts, wait
            )
        sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises on the last attempt")
