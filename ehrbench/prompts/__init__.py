"""Prompt strategies: naive, schema-constrained, conditional and group-based."""

from __future__ import annotations

from ehrbench.prompts.base import REDACTED, Prompt, PromptContext
from ehrbench.prompts.conditional import ConditionalPrompt
from ehrbench.prompts.group_based import GroupBasedPrompt
from ehrbench.prompts.naive import NaivePrompt
from ehrbench.prompts.schema_constrained import SchemaConstrainedPrompt
from ehrbench.prompts.strategy import BatchPlan, PromptStrategy

STRATEGIES: dict[str, PromptStrategy] = {
    strategy.name: strategy
    for strategy in (NaivePrompt(), SchemaConstrainedPrompt(), ConditionalPrompt(), GroupBasedPrompt())
}


def get_strategy(name: str) -> PromptStrategy:
    """Return the strategy called ``name`` (one of :data:`STRATEGIES`)."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"strategy {name!r} is unknown; choose one of {list(STRATEGIES)}") from None


__all__ = ["REDACTED", "STRATEGIES", "BatchPlan", "Prompt", "PromptContext", "PromptStrategy", "get_strategy"]
