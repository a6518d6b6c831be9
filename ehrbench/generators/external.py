"""An external synthetic table: a CSV made anywhere, scored with the same criteria.

Columns are mapped to the dataset's schema by name, ignoring letter case and surrounding
spaces. CSV columns that map to no schema column are reported and left out; schema columns the
CSV lacks are reported and not scored. Every row then goes through the same validity checks as
an LLM answer (types, ranges, categories, exact copies of training rows), so the criteria see
only valid rows and the validity record counts the dropped rows by reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ehrbench.datasets import PreparedDataset
from ehrbench.generators.base import GenerationResult
from ehrbench.parsing import ValidityRecord, training_row_keys, validate_records


@dataclass(frozen=True)
class ColumnMapping:
    """The mapping of an external table's columns onto a dataset's schema."""

    mapped: dict[str, str]
    unmapped: list[str]
    absent: list[str]


def map_columns(columns: list[str], prepared: PreparedDataset) -> ColumnMapping:
    """Map table ``columns`` to schema column names by case-insensitive name."""
    by_key = {name.strip().lower(): name for name in prepared.schema.names}
    mapped, unmapped = {}, []
    for column in columns:
        target = by_key.get(str(column).strip().lower())
        if target is None or target in mapped.values():
            unmapped.append(str(column))
        else:
            mapped[str(column)] = target
    absent = [name for name in prepared.schema.names if name not in mapped.values()]
    return ColumnMapping(mapped, unmapped, absent)


def load_external(path: str | Path, prepared: PreparedDataset, name: str | None = None) -> tuple[GenerationResult, ColumnMapping]:
    """Read the CSV at ``path`` and return its valid rows as a generation of ``prepared``.

    Raises ValueError when the CSV cannot be read, has no rows, or lacks the label column
    (without it no utility criterion can be scored).
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"synthetic table {path} could not be read as CSV: {error}") from None
    if table.empty:
        raise ValueError(f"synthetic table {path} has no rows")

    mapping = map_columns(list(table.columns), prepared)
    label = prepared.schema.label
    if label in mapping.absent:
        raise ValueError(
            f"synthetic table {path} has no column {label!r} (the label of dataset {prepared.name!r}); "
            f"its columns are {list(table.columns)}"
        )

    features = [column for column in mapping.mapped.values() if column != label]
    schema = prepared.schema.select(features)
    records = table[list(mapping.mapped)].rename(columns=mapping.mapped).to_dict("records")
    outcome = validate_records(records, schema, training_row_keys(prepared.train, schema))

    validity = ValidityRecord(
        requested=len(records),
        answers=1,
        failed_answers=0,
        parsed=len(records),
        valid=len(outcome.rows),
        rejections=outcome.rejections,
    )
    generation = GenerationResult(
        generator=name or path.stem, strategy="external", schema=schema, synthetic=outcome.rows, validity=validity
    )
    return generation, mapping
