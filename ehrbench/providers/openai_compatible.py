"""A chat provider for any endpoint that speaks the OpenAI chat completions protocol.

Built on the official ``openai`` SDK with a configurable base URL, so one class serves OpenAI,
Azure OpenAI, vLLM, the llama.cpp server and Ollama.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from urllib.parse import urlparse

import openai

from ehrbench.prompts import Prompt
from ehrbench.prompts.response_schema import answer_schema
from ehrbench.providers.config import ModelConfig

logger = logging.getLogger(__name__)

#: Key sent when replaying: the request never leaves the process, so no real key is needed.
REPLAY_API_KEY = "replay-without-key"

#: Key sent to a loopback endpoint that needs none (the llama.cpp server ignores it).
LOCAL_API_KEY = "local-without-key"


class ProviderError(RuntimeError):
    """A provider could not be set up, or returned a response that is not a completion."""


class InvalidResponseBody(ProviderError):
    """A response body was not valid JSON, as when the connection dropped in the middle of it.

    Recording retries it (:mod:`ehrbench.recording.retry`), because sending again usually helps.
    """

    @classmethod
    def from_error(cls, model: str, base_url: object, error: ValueError) -> InvalidResponseBody:
        """Return the error for ``model`` at ``base_url`` whose body failed to decode with ``error``."""
        return cls(
            f"model {model!r} ({base_url}) returned a body that is not valid JSON ({error}); rerun to send the "
            "request again, or, in replay, delete the damaged cassette and record it again"
        )


@dataclass(frozen=True)
class Completion:
    """The text of one completion with its stop reason and token counts (None when not reported)."""

    text: str
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None


def is_loopback(url: str | None) -> bool:
    """Return True when ``url`` points at this machine (127.0.0.0/8, ::1 or localhost)."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_egress(dataset, config: ModelConfig) -> None:
    """Raise :class:`ProviderError` unless ``dataset``'s rows may be sent to ``config``'s endpoint.

    Credentialed data (full eICU-CRD, MIMIC) may go only to an endpoint on this machine or to
    one the model entry declares compliant (``declared_compliant = true``: no data retention,
    no training on inputs, no human review).
    """
    if getattr(dataset, "access", "open") != "credentialed":
        return
    if is_loopback(config.base_url) or config.declared_compliant:
        return
    raise ProviderError(
        f"dataset {dataset.name!r} is credentialed data and model {config.name!r} sends to "
        f"{config.base_url or 'the provider default endpoint'}. The data use agreement forbids sharing "
        "its rows, and PhysioNet's guidance forbids sending them to online services that retain data. "
        "Use a local model on 127.0.0.1, or, if this endpoint keeps no data, trains on no input and "
        "has no human review, add 'declared_compliant = true' to its entry in the model list."
    )


def resolve_api_key(config: ModelConfig, replay: bool) -> str:
    """Return the key to send: a placeholder in replay, else the one in ``config.api_key_env``."""
    if replay:
        return REPLAY_API_KEY
    key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
    if key:
        return key
    if is_loopback(config.base_url):
        return LOCAL_API_KEY
    raise ProviderError(
        f"model {config.name!r}: no API key; set the environment variable "
        f"{config.api_key_env or 'named by api_key_env'} to record it"
    )


class OpenAICompatibleProvider:
    """Send prompts to an OpenAI-compatible chat endpoint and return the answers."""

    def __init__(self, config: ModelConfig, api_key: str, max_retries: int = 2) -> None:
        self.config = config
        self.client = openai.OpenAI(
            api_key=api_key,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=max_retries,
        )

    def request_arguments(self, prompt: Prompt) -> dict:
        """Return the keyword arguments of ``chat.completions.create`` for ``prompt``."""
        arguments = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "temperature": self.config.temperature,
            "seed": prompt.seed,
        }
        if self.config.max_output_tokens is not None:
            arguments["max_tokens"] = self.config.max_output_tokens
        schema = answer_schema(prompt.schema, prompt.rows_requested, arrays=prompt.output_format == "json-arrays")
        if self.config.structured_output == "json_schema":
            # Strict mode makes the model follow the schema exactly; it needs every property
            # required and no additional properties, which answer_schema gives for object records.
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "synthetic_rows", "schema": schema, "strict": True},
            }
        elif self.config.structured_output == "json_object_schema":
            arguments["response_format"] = {"type": "json_object", "schema": schema}
        return arguments

    def complete(self, prompt: Prompt) -> Completion:
        """Send ``prompt`` and return the first choice's text.

        A refusal reported in ``message.refusal`` (OpenAI structured outputs) is returned as the
        text with the finish reason ``refusal``, so validation counts it as a refusal. A response
        that is not a chat completion raises :class:`ProviderError`.
        """
        try:
            response = self.client.chat.completions.create(**self.request_arguments(prompt))
        except ValueError as error:
            # The SDK decodes the body with json.loads and lets JSONDecodeError through.
            raise InvalidResponseBody.from_error(self.config.name, self.client.base_url, error) from error
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise ProviderError(f"model {self.config.name!r} returned a response without choices: {str(response)[:200]!r}")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        refusal = getattr(message, "refusal", None)
        finish_reason = getattr(choices[0], "finish_reason", None)
        if content is None and isinstance(refusal, str):
            content = refusal
            finish_reason = "refusal"
        if content is not None and not isinstance(content, str):
            raise ProviderError(f"model {self.config.name!r} returned message content of type {type(content).__name__}, expected text")
        usage = getattr(response, "usage", None)
        return Completion(
            text=content or "",
            finish_reason=finish_reason,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
        )
