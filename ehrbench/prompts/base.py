"""The parts shared by every prompt strategy: the request it produces and its redacted copy.

A strategy writes its user message through a ``show`` function that every value taken from real
rows passes through: an example row's values, observed ranges, frequencies, correlations. The
message is composed twice, once with ``show`` returning the value and once with ``show``
returning :data:`REDACTED`, which gives the text sent to the model and the text that may be
written to a cassette. The data dictionary (column names, descriptions, units, category
vocabulary) is not patient data and is never redacted.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd

from ehrbench.datasets import PreparedDataset
from ehrbench.schema import Column, TableSchema

#: Placeholder of a real value in the copy of a prompt that may be stored.
REDACTED = "[REDACTED]"

#: Answer formats. ``json`` writes records as objects. ``json-arrays`` writes them as arrays in
#: column order, which takes fewer tokens and so suits slow local models. ``csv`` is plain text
#: with a header line.
OutputFormat = Literal["json", "json-arrays", "csv"]

#: Formats one real value for the prompt: the value itself, or the placeholder.
Show = Callable[[object], str]

#: Example rows each prompt shows from the training part.
DEFAULT_EXAMPLE_ROWS = 5

SYSTEM_MESSAGE = (
    "You generate synthetic patient records for clinical machine learning research. The records "
    "must be realistic but must not copy any example record. Follow the output format exactly."
)


@dataclass(frozen=True)
class Prompt:
    """One request for a batch of synthetic rows.

    ``user`` carries real values and is only ever sent to the model; ``redacted_user`` is the
    same text with every real value replaced by :data:`REDACTED`. ``schema`` lists the columns to
    generate, in the order the model should write them.
    """

    strategy: str
    system: str
    user: str
    redacted_user: str
    schema: TableSchema
    rows_requested: int
    seed: int
    output_format: OutputFormat
    #: Index labels, in the training part, of the example rows the message shows.
    shown_rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class PromptContext:
    """Everything a strategy needs to write the prompt of one batch.

    ``schema`` contains the columns to generate (the feature subset plus the label, plus the group
    columns for the group-based strategy). ``group`` maps group columns to the values this batch
    must have, or is empty.
    """

    prepared: PreparedDataset
    schema: TableSchema
    rows_requested: int
    replicate: int
    batch: int
    output_format: OutputFormat = "json"
    example_rows: int = DEFAULT_EXAMPLE_ROWS
    group: tuple[tuple[str, str], ...] = ()

    @property
    def seed(self) -> int:
        """Return a 31-bit seed that differs per dataset, columns, replicate, batch and group."""
        key = "|".join(
            [self.prepared.name, ",".join(self.schema.names), str(self.replicate), str(self.batch), repr(self.group)]
        )
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def show_value(value: object) -> str:
    """Format a real value compactly: NaN as null, whole floats without decimals, 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if number.is_integer():
            return str(int(number))
        return f"{number:.4g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def show_redacted(value: object) -> str:
    return REDACTED


def format_json_value(value: object, column: Column, show: Show) -> str:
    """Format one cell as a JSON value: strings quoted, numbers bare, missing as null."""
    text = show(value)
    if text == REDACTED or text == "null":
        return text
    if column.kind == "categorical":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_rows(rows: pd.DataFrame, schema: TableSchema, output_format: OutputFormat, show: Show) -> str:
    """Render example rows as one JSON object (or array) per line, or as CSV with a header line."""
    lines = []
    if output_format == "csv":
        lines.append(",".join(schema.names))
    # Plain tuples in schema column order: a pandas row per record would cost most of the time.
    for values in rows[schema.names].itertuples(index=False, name=None):
        if output_format == "csv":
            cells = [_csv_cell(show(value)) for value in values]
            lines.append(",".join(cells))
        elif output_format == "json-arrays":
            cells = [format_json_value(value, c, show) for value, c in zip(values, schema.columns)]
            lines.append("[" + ", ".join(cells) + "]")
        else:
            cells = [f'"{c.name}": {format_json_value(value, c, show)}' for value, c in zip(values, schema.columns)]
            lines.append("{" + ", ".join(cells) + "}")
    return "\n".join(lines)


def _csv_cell(text: str) -> str:
    if text == "null":
        return ""
    if any(character in text for character in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def sample_examples(context: PromptContext, pool: pd.DataFrame | None = None) -> pd.DataFrame:
    """Draw ``context.example_rows`` training rows (or rows of ``pool``) with the batch's seed."""
    pool = context.prepared.train if pool is None else pool
    count = min(context.example_rows, len(pool))
    return pool.sample(n=count, random_state=context.seed)[context.schema.names]


def describe_column(column: Column) -> str:
    """Return the data-dictionary line of a column: name, type, unit and description."""
    if column.kind == "categorical":
        kind = "category"
    elif column.kind == "binary":
        kind = "0 or 1"
    else:
        kind = "integer" if column.integer else "number"
    parts = [f"{column.name} ({kind}"]
    if column.unit:
        parts.append(f", {column.unit}")
    parts.append(")")
    if column.description:
        parts.append(f": {column.description}")
    return "".join(parts)


def output_instructions(schema: TableSchema, rows: int, output_format: OutputFormat) -> str:
    """Return the closing instruction that fixes the answer format."""
    if output_format == "csv":
        header = ",".join(schema.names)
        return (
            f"Answer with CSV only: first the header line `{header}`, then exactly {rows} data "
            "lines. Leave a cell empty for a missing value. No other text."
        )
    if output_format == "json-arrays":
        shape = f"an array of the values of {', '.join(schema.names)} in this order"
    else:
        shape = f"an object with the keys {', '.join(schema.names)} in this order"
    return (
        f'Answer with one JSON object of the form {{"rows": [...]}} holding exactly {rows} '
        f"records, each {shape}. Use null for a missing value. No other text."
    )


def batch_line(context: PromptContext) -> str:
    """Return the line that makes each batch and replicate a distinct request."""
    return f"Batch {context.batch + 1}, replicate {context.replicate}, seed {context.seed}."
