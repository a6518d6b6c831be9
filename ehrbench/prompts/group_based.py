"""The group-based strategy: each batch conditioned on one demographic group, groups equal in size."""

from __future__ import annotations

import logging
import math
from itertools import product

import pandas as pd

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.prompts.base import PromptContext, Show, batch_line, format_rows, output_instructions
from ehrbench.prompts.schema_constrained import specification_block
from ehrbench.prompts.strategy import BatchPlan, PromptStrategy, split_rows
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: A group needs this many training rows to be generated; smaller groups are logged and skipped.
MIN_GROUP_ROWS = 20


def eligible_groups(prepared: PreparedDataset) -> list[tuple[tuple[str, str], ...]]:
    """Return every combination of group-column values with at least :data:`MIN_GROUP_ROWS` rows."""
    columns = list(prepared.dataset.group_columns)
    if not columns:
        raise ValueError(f"dataset {prepared.name!r} declares no group columns; the group-based strategy needs them")
    train = prepared.train
    values = [prepared.schema[column].categories for column in columns]
    groups = []
    for combination in product(*values):
        mask = (train[columns] == list(combination)).all(axis=1)
        if int(mask.sum()) >= MIN_GROUP_ROWS:
            groups.append(tuple(zip(columns, combination)))
        else:
            logger.info("dataset %s: group %s has %d training rows, fewer than %d; not generated",
                        prepared.name, combination, int(mask.sum()), MIN_GROUP_ROWS)
    return groups


class GroupBasedPrompt(PromptStrategy):
    """Add demographic conditioning to the schema-constrained prompt.

    Each request asks for rows of one group (a combination of the dataset's group columns, such
    as race and sex) and shows examples from that group only; every eligible group gets the same
    number of rows, so minority groups are not left to chance. The group columns are always
    generated.
    """

    name = "group"

    def generation_schema(self, prepared: PreparedDataset, subset: FeatureSubset) -> TableSchema:
        groups = [name for name in prepared.dataset.group_columns if name not in subset.features]
        return prepared.schema.select(groups + list(subset.features))

    def plan_batches(
        self, prepared: PreparedDataset, schema: TableSchema, rows: int, rows_per_request: int
    ) -> list[BatchPlan]:
        groups = eligible_groups(prepared)
        per_group = math.ceil(rows / len(groups))
        return [plan for group in groups for plan in split_rows(per_group, rows_per_request, group)]

    def example_pool(self, context: PromptContext) -> pd.DataFrame:
        """Return the training rows of the batch's group."""
        train = context.prepared.train
        columns = [column for column, _ in context.group]
        return train[(train[columns] == [value for _, value in context.group]).all(axis=1)]

    def compose(self, context: PromptContext, show: Show) -> str:
        schema = context.schema
        dataset = context.prepared.dataset
        condition = " and ".join(f'{column} = "{value}"' for column, value in context.group)
        examples = format_rows(self.examples(context), schema, context.output_format, show)
        return "\n\n".join(
            [
                f"Generate {context.rows_requested} new, realistic patient records from {dataset.title}.",
                f"Every record in this batch belongs to the group {condition}.",
                specification_block(schema, dataset.constraints(), show),
                "Example records from this group:",
                examples,
                output_instructions(schema, context.rows_requested, context.output_format),
                batch_line(context),
            ]
        )
