"""LLM providers and the model list."""

from __future__ import annotations

from ehrbench.providers.anthropic import AnthropicProvider
from ehrbench.providers.anthropic_batch import AnthropicBatchClient
from ehrbench.providers.batch_api import BatchAPIError, BatchRequest, BatchResult, BatchStatus
from ehrbench.providers.config import ModelConfig, ModelConfigError, load_models, select_models
from ehrbench.providers.openai_compatible import (
    Completion,
    InvalidResponseBody,
    OpenAICompatibleProvider,
    ProviderError,
    check_egress,
    is_loopback,
    resolve_api_key,
)
from ehrbench.providers.openai_batch import OpenAIBatchClient

#: The provider class of each ``provider`` value of the model list.
PROVIDER_CLASSES: dict[str, type[OpenAICompatibleProvider] | type[AnthropicProvider]] = {
    "openai-compatible": OpenAICompatibleProvider,
    "anthropic": AnthropicProvider,
}


def make_provider(
    config: ModelConfig, api_key: str, max_retries: int = 2
) -> OpenAICompatibleProvider | AnthropicProvider:
    """Build the provider that ``config.provider`` names, with ``max_retries`` SDK retries.

    Raises :class:`ProviderError` when no class implements ``config.provider``.
    """
    provider_class = PROVIDER_CLASSES.get(config.provider)
    if provider_class is None:
        raise ProviderError(
            f"model {config.name!r}: provider {config.provider!r} has no implementation; "
            f"use one of {sorted(PROVIDER_CLASSES)}"
        )
    return provider_class(config, api_key, max_retries=max_retries)


__all__ = [
    "PROVIDER_CLASSES",
    "AnthropicBatchClient",
    "AnthropicProvider",
    "BatchAPIError",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "Completion",
    "ModelConfig",
    "ModelConfigError",
    "OpenAIBatchClient",
    "OpenAICompatibleProvider",
    "InvalidResponseBody",
    "ProviderError",
    "check_egress",
    "is_loopback",
    "load_models",
    "make_provider",
    "resolve_api_key",
    "select_models",
]
