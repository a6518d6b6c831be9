"""Keep real values and secrets out of cassettes, and match requests on a digest of their body.

Every request passes through :class:`RequestRedactor` before vcrpy stores it or looks it up:

1. the body is parsed as JSON and written in canonical form (sorted keys, compact separators),
   so an SDK that reorders keys still matches;
2. the SHA-256 digest of that canonical, unredacted body goes into the header
   :data:`DIGEST_HEADER`, which is what requests are matched on;
3. each message's text, and the top-level ``system`` text of an Anthropic Messages API body,
   is swapped for its redacted copy; a text that was not registered raises
   :class:`RedactionError`, so nothing unknown is ever written;
4. every header except the content type and the digest is dropped, which removes API keys,
   organisation ids, cookies and client fingerprints.

Responses keep only their content type. Only successful responses are stored: OpenAI chat
completions, and Anthropic messages whose stop reason is an outcome of the model (a finished,
refused or cut-off answer). Their bodies are sealed when the cassette is saved (see
:mod:`ehrbench.recording.sealing` and ``SealingPersister``), with the key that ``seal_key``
of the redactor returns.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ehrbench.providers.anthropic import STORED_STOP_REASONS

logger = logging.getLogger(__name__)

#: Request header that carries the digest of the unredacted canonical body.
DIGEST_HEADER = "x-ehrbench-body-digest"

#: Request headers written to cassettes; every other request header is dropped.
KEPT_REQUEST_HEADERS = ("content-type", DIGEST_HEADER)

#: Response headers written to cassettes. Every other response header is dropped, so a
#: server or proxy that echoes a key or sets a cookie leaves no trace.
KEPT_RESPONSE_HEADERS = ("content-type",)


class RedactionError(RuntimeError):
    """A request carried text that was not registered for redaction; it was not recorded."""


def canonical_json(body: bytes | str | None) -> str:
    """Return ``body`` parsed as JSON and dumped with sorted keys; non-JSON bodies are returned as text."""
    if body is None:
        return ""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text


def body_digest(canonical: str) -> str:
    """Return the SHA-256 hex digest of a canonical body, prefixed with the algorithm."""
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class RequestRedactor:
    """The vcrpy ``before_record_request`` hook of one recording session.

    ``register(text, redacted)`` declares the stored form of a message text before the request
    that carries it is sent. ``last_redacted_body`` and ``last_digest`` keep the last request
    seen, to explain a replay mismatch.
    """

    replacements: dict[str, str] = field(default_factory=dict)
    last_redacted_body: str = ""
    last_digest: str = ""
    #: Returns the key that :func:`~ehrbench.recording.cassettes.build_vcr` seals stored response
    #: bodies with (see :mod:`ehrbench.recording.sealing`); every recording session sets it.
    seal_key: Callable[[], bytes] | None = None

    def register(self, text: str, redacted: str) -> None:
        self.replacements[text] = redacted

    def __call__(self, request):
        # vcrpy filters a request again before each lookup, and it filters stored requests when
        # it loads a cassette. Those carry a digest already and keep their body. A request that
        # carries a digest but also a registered real text is redacted all the same. Headers are
        # filtered on both paths, because a client can send the digest header itself.
        # NOTE: such a client request also keeps its body as sent, unchecked for unregistered text.
        if _header(request, DIGEST_HEADER) and not self._carries_real_text(request):
            request.headers = _kept_request_headers(request.headers)
            return request
        canonical = canonical_json(request.body)
        digest = body_digest(canonical)
        redacted = self.redact_body(canonical)
        self.last_redacted_body = redacted
        self.last_digest = digest

        request.body = redacted.encode("utf-8")
        kept = _kept_request_headers(request.headers)
        kept[DIGEST_HEADER] = digest
        request.headers = kept
        return request

    def _carries_real_text(self, request) -> bool:
        body = request.body.decode("utf-8", errors="replace") if isinstance(request.body, bytes) else str(request.body or "")
        return any(text in body or json.dumps(text)[1:-1] in body for text in self.replacements if text != self.replacements[text])

    def redact_body(self, canonical: str) -> str:
        """Return the canonical body with every message and system text replaced by its registered copy."""
        try:
            document = json.loads(canonical)
        except ValueError:
            raise RedactionError("request body is not JSON, so it cannot be checked for real values") from None
        for message in document.get("messages", []) if isinstance(document, dict) else []:
            message["content"] = self._redact_content(message.get("content"))
        if isinstance(document, dict) and "system" in document:
            # The Anthropic Messages API takes the system prompt as a string or a list of text blocks.
            document["system"] = self._redact_content(document["system"])
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def _redact_content(self, content):
        if isinstance(content, str):
            if content not in self.replacements:
                raise RedactionError(
                    f"a message text of {len(content)} characters was not registered for "
                    "redaction, so the request was neither recorded nor matched"
                )
            return self.replacements[content]
        if isinstance(content, list):
            return [self._redact_part(part) for part in content]
        return content

    def _redact_part(self, part):
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            return {**part, "text": self._redact_content(part["text"])}
        return part


def redact_response(response: dict) -> dict | None:
    """Keep a response fit to store, or return None so vcrpy drops it (``before_record_response``).

    Only a successful response is kept: a chat completion with at least one choice, or an
    Anthropic message (``"type": "message"``) whose ``stop_reason`` is one of
    :data:`~ehrbench.providers.anthropic.STORED_STOP_REASONS`. An error status (HTTP 400 and
    above), a message with another stop reason, or any other body is dropped. The next recording run
    then sends the request again instead of replaying the failure forever. Headers other than
    :data:`KEPT_RESPONSE_HEADERS` are removed.
    """
    status = response.get("status", {}).get("code", 200)
    if status >= 400:
        logger.warning("not recording an HTTP %s response", status)
        return None
    document = _json_document(response.get("body", {}).get("string"))
    if _is_message(document):
        if document.get("stop_reason") not in STORED_STOP_REASONS:
            logger.warning("not recording a message with stop_reason %r", document.get("stop_reason"))
            return None
    elif not _is_completion(document):
        logger.warning("not recording an HTTP %s response whose body is not a chat completion or a message", status)
        return None
    headers = response.get("headers", {})
    response["headers"] = {name: value for name, value in headers.items() if name.lower() in KEPT_RESPONSE_HEADERS}
    return response


def _json_document(body: bytes | str | None) -> object:
    try:
        return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body or "")
    except (ValueError, UnicodeDecodeError):
        return None


def _is_completion(document: object) -> bool:
    choices = document.get("choices") if isinstance(document, dict) else None
    return isinstance(choices, list) and len(choices) > 0


def _is_message(document: object) -> bool:
    return isinstance(document, dict) and document.get("type") == "message" and isinstance(document.get("content"), list)


def digest_matcher(live, stored) -> None:
    """vcrpy matcher: the two requests carry the same body digest (raises AssertionError if not)."""
    live_digest = _header(live, DIGEST_HEADER)
    stored_digest = _header(stored, DIGEST_HEADER)
    assert live_digest and live_digest == stored_digest, f"body digest {live_digest} != {stored_digest}"


def _kept_request_headers(headers) -> dict:
    return {name: value for name, value in headers.items() if name.lower() in KEPT_REQUEST_HEADERS}


def _header(request, name: str) -> str | None:
    for key, value in request.headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None
