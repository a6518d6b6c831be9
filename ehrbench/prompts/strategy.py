"""The base class of the four prompt strategies."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pandas as pd

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.prompts.base import (
    SYSTEM_MESSAGE,
    OutputFormat,
    Prompt,
    PromptContext,
    Show,
    sample_examples,
    show_redacted,
    show_value,
)
from ehrbench.schema import TableSchema


@dataclass(frozen=True)
class BatchPlan:
    """How many rows one request asks for, and the group it is conditioned on (if any)."""

    rows: int
    group: tuple[tuple[str, str], ...] = ()


class PromptStrategy(ABC):
    """A way of asking an LLM for synthetic rows.

    Subclasses set :attr:`name` and implement :meth:`compose`; :meth:`build` composes the message
    twice so that the redacted copy can never drift from the text that is sent.
    """

    name: str

    def generation_schema(self, prepared: PreparedDataset, subset: FeatureSubset) -> TableSchema:
        """Return the columns this strategy asks for: the subset's features and the label."""
        return prepared.schema.select(list(subset.features))

    def plan_batches(
        self, prepared: PreparedDataset, schema: TableSchema, rows: int, rows_per_request: int
    ) -> list[BatchPlan]:
        """Split a request for ``rows`` rows into requests of at most ``rows_per_request``."""
        return split_rows(rows, rows_per_request)

    def example_pool(self, context: PromptContext) -> pd.DataFrame:
        """Return the training rows that the example rows of a batch are drawn from."""
        return context.prepared.train

    def examples(self, context: PromptContext) -> pd.DataFrame:
        """Return the example rows of a batch, drawn from :meth:`example_pool` with its seed."""
        return sample_examples(context, self.example_pool(context))

    @abstractmethod
    def compose(self, context: PromptContext, show: Show) -> str:
        """Write the user message, passing every real value through ``show``."""

    def build(self, context: PromptContext) -> Prompt:
        """Return the prompt of one batch with its redacted copy."""
        return Prompt(
            strategy=self.name,
            system=SYSTEM_MESSAGE,
            user=self.compose(context, show_value),
            redacted_user=self.compose(context, show_redacted),
            schema=context.schema,
            rows_requested=context.rows_requested,
            seed=context.seed,
            output_format=context.output_format,
            shown_rows=tuple(int(label) for label in self.examples(context).index),
        )


def split_rows(rows: int, rows_per_request: int, group: tuple[tuple[str, str], ...] = ()) -> list[BatchPlan]:
    """Split ``rows`` into batches of ``rows_per_request`` rows, the last one possibly smaller."""
    if rows_per_request < 1:
        raise ValueError(f"rows_per_request must be at least 1, got {rows_per_request}")
    batches = math.ceil(rows / rows_per_request)
    return [BatchPlan(min(rows_per_request, rows - index * rows_per_request), group) for index in range(batches)]


def output_format_note(output_format: OutputFormat) -> str:
    return "JSON" if output_format == "json" else "CSV"
