"""The conditional strategy: columns generated in a dependency order, each given the ones before."""

from __future__ import annotations

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.features.dependencies import dependency_order
from ehrbench.prompts.base import PromptContext, Show, batch_line, format_rows, output_instructions
from ehrbench.prompts.schema_constrained import specification_block
from ehrbench.prompts.strategy import PromptStrategy
from ehrbench.schema import TableSchema


class ConditionalPrompt(PromptStrategy):
    """Add a generation order to the schema-constrained prompt.

    Demographics come first, then each column after the one it is most associated with in the
    training part, the label last. The prompt names each column's parents with the strength of
    the association, and the answer's keys follow the same order, so a left-to-right decoder
    conditions every value on the values it already wrote.
    """

    name = "conditional"

    def generation_schema(self, prepared: PreparedDataset, subset: FeatureSubset) -> TableSchema:
        schema = prepared.schema.select(list(subset.features))
        roots = list(prepared.dataset.group_columns) + ["age"]
        order = dependency_order(prepared.train, schema, roots)
        return prepared.schema.select([step.column for step in order])

    def compose(self, context: PromptContext, show: Show) -> str:
        schema = context.schema
        dataset = context.prepared.dataset
        order = dependency_order(context.prepared.train, schema, list(dataset.group_columns) + ["age"])
        steps = []
        for number, step in enumerate(order, start=1):
            line = f"{number}. {step.column}"
            if step.parents:
                given = ", ".join(f"{parent} (|Spearman rho| {show(round(rho, 2))})" for parent, rho in step.parents)
                line += f", given {given}"
            steps.append(line)
        examples = format_rows(self.examples(context), schema, context.output_format, show)
        return "\n\n".join(
            [
                f"Generate {context.rows_requested} new, realistic patient records from {dataset.title}.",
                specification_block(schema, dataset.constraints(), show),
                "Write each record one column at a time in this order, choosing each value to fit "
                "the values already written for that record:\n" + "\n".join(steps),
                "Example records:",
                examples,
                output_instructions(schema, context.rows_requested, context.output_format),
                batch_line(context),
            ]
        )
