"""Prompt strategies: naive, schema-constrained, conditional, group-based and statistics-only.

The statistics-only strategy is left out of :data:`DEFAULT_STRATEGIES`, the strategies that the
pytest plugin and ``ehrbench record`` use when none are named, because the committed cassettes do
not cover it. Request it by name.
"""

from __future__ import annotations

from ehrbench.prompts.base import REDACTED, Prompt, PromptContext
from ehrbench.prompts.conditional import ConditionalPrompt
from ehrbench.prompts.group_based import GroupBasedPrompt
from ehrbench.prompts.naive import NaivePrompt
from ehrbench.prompts.schema_constrained import SchemaConstrainedPrompt
from ehrbench.prompts.statistics_only import StatisticsOnlyPrompt
from ehrbench.prompts.strategy import BatchPlan, PromptStrategy

STRATEGIES: dict[str, PromptStrategy] = {
    strategy.name: strategy
    for strategy in (
        NaivePrompt(), SchemaConstrainedPrompt(), ConditionalPrompt(), GroupBasedPrompt(), StatisticsOnlyPrompt()
    )
}

#: Strategies run when none are named.
DEFAULT_STRATEGIES: tuple[str, ...] = ("naive", "schema", "conditional", "group")


def get_strategy(name: str) -> PromptStrategy:
    """Return the strategy called ``name`` (one of :data:`STRATEGIES`)."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"strategy {name!r} is unknown; choose one of {list(STRATEGIES)}") from None


__all__ = ["DEFAULT_STRATEGIES", "REDACTED", "STRATEGIES", "BatchPlan", "Prompt", "PromptContext", "PromptStrategy", "get_strategy"]
