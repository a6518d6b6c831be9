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
    """A provider could not be set up; the message says which setting to fix."""


@dataclass(frozen=True)
class Completion:
    """The text of one answer with its stop reason and token counts (None when not reported)."""

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
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "synthetic_rows", "schema": schema},
            }
        elif self.config.structured_output == "json_object_schema":
            arguments["response_format"] = {"type": "json_object", "schema": schema}
        return arguments

    def complete(self, prompt: Prompt) -> Completion:
        """Send ``prompt`` and return the first choice's text."""
        response = self.client.chat.completions.create(**self.request_arguments(prompt))
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
        )
