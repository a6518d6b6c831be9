"""The schema-constrained strategy: the examples plus a full column specification."""

from __future__ import annotations

from ehrbench.prompts.base import (
    PromptContext,
    Show,
    batch_line,
    describe_column,
    format_rows,
    output_instructions,
)
from ehrbench.prompts.strategy import PromptStrategy
from ehrbench.schema import Column, TableSchema


def column_specification(column: Column, show: Show) -> str:
    """Return one line of the specification: type, unit, allowed values and missing share."""
    line = "- " + describe_column(column)
    if column.kind == "categorical":
        line += "; one of: " + ", ".join(f'"{category}"' for category in column.categories)
    elif column.kind == "numeric" and column.minimum is not None:
        line += f"; range {show(column.minimum)} to {show(column.maximum)}"
    if column.missing_rate > 0:
        line += f"; missing (null) in {show(round(100 * column.missing_rate, 1))}% of records"
    else:
        line += "; never missing"
    return line


def specification_block(schema: TableSchema, constraints: list[str], show: Show) -> str:
    """Return the column specification and the dataset's logical constraints."""
    lines = ["Columns, in order:"]
    lines += [column_specification(column, show) for column in schema.columns]
    relevant = [rule for rule in constraints if _mentions_only(rule, schema)]
    if relevant:
        lines.append("Constraints every record must satisfy:")
        lines += [f"- {rule.text}" for rule in relevant]
    return "\n".join(lines)


def _mentions_only(rule, schema: TableSchema) -> bool:
    return all(name in schema.by_name for name in rule.columns)


class SchemaConstrainedPrompt(PromptStrategy):
    """Add the data dictionary to the naive prompt.

    Every column's type, unit, observed range (numeric), allowed categories and share of
    missing values is spelled out, and the dataset's logical constraints between columns are
    listed where all their columns are generated.
    """

    name = "schema"

    def compose(self, context: PromptContext, show: Show) -> str:
        schema = context.schema
        dataset = context.prepared.dataset
        examples = format_rows(self.examples(context), schema, context.output_format, show)
        return "\n\n".join(
            [
                f"Generate {context.rows_requested} new, realistic patient records from {dataset.title}.",
                specification_block(schema, dataset.constraints(), show),
                "Example records:",
                examples,
                output_instructions(schema, context.rows_requested, context.output_format),
                batch_line(context),
            ]
        )
