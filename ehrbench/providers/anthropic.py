"""A chat provider for Anthropic's Messages API, built on the official ``anthropic`` SDK.

Rows are requested in one of two forms. With ``structured_output = "tool_schema"`` the request
forces one tool whose ``input_schema`` is the answer schema. The tool input comes back
serialised as JSON text, so :mod:`ehrbench.parsing` reads it like any JSON answer. With
``structured_output = "none"`` the prompt asks for CSV and the text blocks come back as they are.

The ``anthropic`` SDK 2.17 sends API version 2026-10-21 (its ``ANTHROPIC_API_VERSION``), and its
``messages.create`` has no ``temperature``, ``top_p`` or ``top_k`` parameter. So no sampling
parameter is sent and the model samples at its default. The Messages API takes no seed either.
"""

from __future__ import annotations

import json
import logging

import anthropic
import httpx2

from ehrbench.prompts import Prompt
from ehrbench.prompts.response_schema import answer_schema
from ehrbench.providers.config import ModelConfig
from ehrbench.providers.openai_compatible import Completion, InvalidResponseBody, ProviderError

logger = logging.getLogger(__name__)

#: Endpoint used when the model entry sets no ``base_url``. It is passed to the SDK explicitly,
#: so that ``ANTHROPIC_BASE_URL`` or an SDK profile cannot send rows to another endpoint than
#: the model list names, because the egress check reads ``base_url`` only.
DEFAULT_BASE_URL = "https://api.anthropic.com"

#: ``max_tokens`` sent when the model entry sets no ``max_output_tokens``; the Messages API
#: requires the field.
# NOTE: the maximum differs per model and the SDK does not check it. Third-party reports give
# 8192 for Claude 3.5 Sonnet, 4096 for Claude 3 Haiku and more for Claude 4, so an older
# model's entry may need max_output_tokens.
DEFAULT_MAX_TOKENS = 8192

#: Name of the tool that the ``tool_schema`` form forces the model to call.
ANSWER_TOOL = "synthetic_rows"
ANSWER_TOOL_DESCRIPTION = "Record the generated synthetic rows. The input must follow the schema exactly."

#: Structured output forms this provider supports.
STRUCTURED_OUTPUT_FORMS = ("tool_schema", "none")

#: Stop reasons of a finished answer.
COMPLETE_STOP_REASONS = ("end_turn", "tool_use", "stop_sequence")

#: Stop reason of a refused request (the API's streaming classifiers stopped the answer).
REFUSAL_STOP_REASON = "refusal"

#: Stop reasons of an answer cut off by the output limit or by the context window.
TRUNCATED_STOP_REASONS = ("max_tokens", "model_context_window_exceeded")

#: Stop reasons of a message that is an outcome of the model and so is returned and stored in
#: cassettes. Any other stop reason (such as ``pause_turn``) raises and is not stored.
STORED_STOP_REASONS = COMPLETE_STOP_REASONS + (REFUSAL_STOP_REASON,) + TRUNCATED_STOP_REASONS

_warned_temperature: set[str] = set()


class AnthropicProvider:
    """Send prompts to the Anthropic Messages API and return the answers.

    ``api_key`` is sent as a bearer token by the SDK 2.x. ``max_retries`` is the number of SDK
    retries after a rate limit (HTTP 429), a server error (5xx), a timeout or a dropped
    connection. Every SDK error, unknown stop reason or malformed response raises
    :class:`ProviderError` naming the model and what to change; refusals and cut-off answers
    are returned (see :meth:`complete`).
    """

    def __init__(self, config: ModelConfig, api_key: str, max_retries: int = 2) -> None:
        if config.structured_output not in STRUCTURED_OUTPUT_FORMS:
            raise ProviderError(
                f"model {config.name!r}: structured_output {config.structured_output!r} is invalid for the "
                f"Anthropic provider; use one of {STRUCTURED_OUTPUT_FORMS}"
            )
        self.config = config
        self.max_retries = max_retries
        self.client = anthropic.Anthropic(
            api_key=api_key,
            base_url=config.base_url or DEFAULT_BASE_URL,
            timeout=config.timeout_seconds,
            max_retries=max_retries,
        )
        if config.name not in _warned_temperature:
            _warned_temperature.add(config.name)
            logger.info(
                "model %r: temperature %s is not sent, because the anthropic SDK 2.x has no sampling "
                "parameters and its API version rejects them; the model samples at its default",
                config.name,
                config.temperature,
            )

    def request_arguments(self, prompt: Prompt) -> dict:
        """Return the keyword arguments of ``messages.create`` for ``prompt``."""
        arguments = {
            "model": self.config.model,
            "max_tokens": self._max_tokens(),
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
        }
        if self.config.structured_output == "tool_schema":
            schema = answer_schema(prompt.schema, prompt.rows_requested, arrays=prompt.output_format == "json-arrays")
            arguments["tools"] = [{"name": ANSWER_TOOL, "description": ANSWER_TOOL_DESCRIPTION, "input_schema": schema}]
            arguments["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL, "disable_parallel_tool_use": True}
        return arguments

    def complete(self, prompt: Prompt) -> Completion:
        """Send ``prompt`` and return the answer text with its stop reason and token counts.

        The text is the JSON of the forced tool's input (``tool_schema``) or the joined text
        blocks (``none``). A refusal (stop reason ``refusal``) or an answer cut off by the output
        limit (:data:`TRUNCATED_STOP_REASONS`) is returned like any answer, with the text the
        model wrote before it stopped, so that parsing counts it as OpenAI's refusals and
        ``length`` stops are counted. Raises :class:`ProviderError` for SDK errors, unknown stop
        reasons, a missing forced tool call in a finished answer and responses that are not a
        Messages API message.
        """
        message = self._send(self.request_arguments(prompt))
        return self.completion_from_message(message)

    def completion_from_message(self, message) -> Completion:
        """Return the :class:`Completion` of one Messages API ``message`` (an SDK ``Message``)."""
        if getattr(message, "type", None) != "message" or not isinstance(getattr(message, "content", None), list):
            raise ProviderError(f"model {self.config.name!r} returned a response that is not a message: {str(message)[:200]!r}")

        reason = self._check_stop_reason(message)
        finished = reason in COMPLETE_STOP_REASONS
        if self.config.structured_output == "tool_schema" and (finished or self._has_tool_call(message.content)):
            text = self._tool_input_text(message.content)
        else:
            text = self._joined_text(message.content)
        usage = getattr(message, "usage", None)
        return Completion(
            text=text,
            finish_reason=reason,
            input_tokens=getattr(usage, "input_tokens", None),
            output_tokens=getattr(usage, "output_tokens", None),
        )

    def _send(self, arguments: dict):
        try:
            return self.client.messages.create(**arguments)
        except anthropic.APIConnectionError as error:
            cause = error.__cause__
            if cause is not None and not isinstance(cause, (httpx2.HTTPError, OSError)):
                # Raised in this process by the transport layer, not by the network: vcrpy's
                # "request not in cassette", a damaged cassette or a redaction error. Re-raise it
                # as it is, so that the recording session reports it as it does for OpenAI.
                raise cause
            raise ProviderError(self._describe_error(error)) from error
        except anthropic.AnthropicError as error:
            raise ProviderError(self._describe_error(error)) from error
        except ValueError as error:
            raise InvalidResponseBody.from_error(self.config.name, self.client.base_url, error) from error

    def _describe_error(self, error: anthropic.AnthropicError) -> str:
        name = self.config.name
        where = f"model {name!r} ({self.client.base_url})"
        # Recording sets max_retries=0 and retries itself, naming the attempts in its own message.
        retries = f"after {self.max_retries} retries" if self.max_retries else "without a retry by the SDK"
        if isinstance(error, anthropic.APITimeoutError):
            return (
                f"{where} timed out after {self.config.timeout_seconds} s {retries}; raise timeout_seconds "
                "or lower rows_per_request in its model entry"
            )
        if isinstance(error, anthropic.APIConnectionError):
            return f"{where}: connection failed {retries} ({error}); check that the endpoint is reachable and rerun"
        if not isinstance(error, anthropic.APIStatusError):
            return f"{where} failed: {type(error).__name__}: {error}"

        status = error.status_code
        request_id = f", request id {error.request_id}" if error.request_id else ""
        detail = f"HTTP {status}: {error}{request_id}"
        if status == 401:
            advice = f"check the key in the environment variable {self.config.api_key_env or 'named by api_key_env'}"
        elif status == 403:
            advice = f"the key has no access to model id {self.config.model!r}; use a key or model id that has"
        elif status == 404:
            advice = f"check the model id {self.config.model!r} and base_url in its model entry"
        elif status == 429:
            advice = f"the rate limit was still reached {retries}; wait and rerun, or lower the request rate"
        elif status >= 500:
            advice = f"the server still failed {retries}; rerun later to record the missing batches"
        else:
            advice = "the request was rejected; check model, max_output_tokens and structured_output in its model entry"
        return f"{where} failed with {detail}; {advice}"

    def _check_stop_reason(self, message) -> str:
        reason = getattr(message, "stop_reason", None)
        if reason in COMPLETE_STOP_REASONS:
            return reason
        where = f"model {self.config.name!r}"
        if reason == REFUSAL_STOP_REASON:
            details = getattr(message, "stop_details", None)
            logger.warning(
                "%s refused a request (category %s, explanation: %s); the refusal is stored and counted",
                where,
                getattr(details, "category", None) or "none given",
                getattr(details, "explanation", None) or "none given",
            )
            return reason
        if reason in TRUNCATED_STOP_REASONS:
            logger.warning(
                "%s stopped before the end of its answer (stop_reason %r, max_tokens %d); the rows before the "
                "cut are kept; raise max_output_tokens or lower rows_per_request in its model entry",
                where,
                reason,
                self._max_tokens(),
            )
            return reason
        raise ProviderError(
            f"{where} returned stop_reason {reason!r}; expected one of {STORED_STOP_REASONS}. Rerun to send the "
            "request again; if it persists, check that the model id names a model of the Messages API"
        )

    def _max_tokens(self) -> int:
        max_tokens = self.config.max_output_tokens
        return DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens

    @staticmethod
    def _has_tool_call(content: list) -> bool:
        return any(getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == ANSWER_TOOL for block in content)

    def _tool_input_text(self, content: list) -> str:
        calls = []
        for block in content:
            if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == ANSWER_TOOL:
                calls.append(block)
        if not calls:
            kinds = [getattr(block, "type", type(block).__name__) for block in content]
            raise ProviderError(
                f"model {self.config.name!r} returned no {ANSWER_TOOL!r} tool call although the request forced it "
                f"(content blocks: {kinds}); check that the model supports tool use, or use structured_output = 'none'"
            )
        inputs = [getattr(block, "input", None) for block in calls]
        for value in inputs:
            if not isinstance(value, dict):
                raise ProviderError(
                    f"model {self.config.name!r} returned a {ANSWER_TOOL!r} tool input of type "
                    f"{type(value).__name__}, expected a JSON object"
                )
        if len(inputs) > 1:
            # The parser reads every JSON document in the text, so no call's rows are lost.
            logger.warning("model %r returned %d %r tool calls; all are kept", self.config.name, len(inputs), ANSWER_TOOL)
        return "\n".join(json.dumps(value, ensure_ascii=False) for value in inputs)

    def _joined_text(self, content: list) -> str:
        texts = [block.text for block in content if getattr(block, "type", None) == "text"]
        ignored = len(content) - len(texts)
        if ignored:
            logger.warning("model %r: ignored %d content blocks that are not text", self.config.name, ignored)
        for text in texts:
            if not isinstance(text, str):
                raise ProviderError(
                    f"model {self.config.name!r} returned a text block of type {type(text).__name__}, expected text"
                )
        return "".join(texts)
