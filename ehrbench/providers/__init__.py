"""LLM providers and the model list."""

from ehrbench.providers.config import ModelConfig, ModelConfigError, load_models, select_models
from ehrbench.providers.openai_compatible import (
    Completion,
    OpenAICompatibleProvider,
    ProviderError,
    check_egress,
    is_loopback,
    resolve_api_key,
)

__all__ = [
    "Completion",
    "ModelConfig",
    "ModelConfigError",
    "OpenAICompatibleProvider",
    "ProviderError",
    "check_egress",
    "is_loopback",
    "load_models",
    "resolve_api_key",
    "select_models",
]
