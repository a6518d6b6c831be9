"""The naive strategy: example rows and a request for similar ones."""

from __future__ import annotations

from ehrbench.prompts.base import PromptContext, Show, batch_line, format_rows, output_instructions
from ehrbench.prompts.strategy import PromptStrategy


class NaivePrompt(PromptStrategy):
    """Show a few training rows and ask for ``n`` records like them.

    Adds nothing beyond the examples: no types, ranges or relations between columns. It is the
    baseline the other strategies are read against.
    """

    name = "naive"

    def compose(self, context: PromptContext, show: Show) -> str:
        schema = context.schema
        examples = format_rows(self.examples(context), schema, context.output_format, show)
        return "\n\n".join(
            [
                f"Here are example patient records from {context.prepared.dataset.title}, "
                f"with the columns {', '.join(schema.names)}:",
                examples,
                f"Generate {context.rows_requested} new records similar to these.",
                output_instructions(schema, context.rows_requested, context.output_format),
                batch_line(context),
            ]
        )
