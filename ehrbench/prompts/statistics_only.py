"""The statistics-only strategy: a data dictionary and aggregate statistics, with no patient row.

It is meant for data that may not leave its site row by row. The message contains the data
dictionary, then these statistics of the training part:

- numeric columns: the 5th, 25th, 50th, 75th and 95th percentiles and the missing share;
- categorical and binary columns: the share of each value, missing (null) included;
- Spearman correlations between generated columns with |rho| of at least
  :data:`MIN_REPORTED_CORRELATION`;
- the label rate.

Small cells are suppressed as statistical agencies do under a threshold rule (k-anonymity
style): a count of fewer than :data:`MIN_CELL_SIZE` training records could single out a
patient. Such a value is merged into one "other (suppressed)" group per column and only the
group's total share is shown. The next smallest values join the group until it contains at
least two values and :data:`MIN_CELL_SIZE` records, or every value of the column. So no
suppressed count follows from the total minus the shown ones. A missing share and each
percentile need the same number of records (see :func:`shown_percentiles`). Every number taken
from the data passes through ``show``, which keeps the stored copy free of it.

Unlike the schema-constrained dictionary, the column lines give no observed range, because
the minimum and the maximum are each one patient's value. The category vocabulary is listed in
full as in the other strategies, so a category seen in a single training record is still
named, only without its count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ehrbench.datasets import Constraint
from ehrbench.prompts.base import PromptContext, Show, batch_line, describe_column, output_instructions
from ehrbench.prompts.strategy import PromptStrategy
from ehrbench.schema import Column, TableSchema

#: Smallest number of training records a shown share, percentile or correlation may rest on.
#: Fewer records could single out a patient, so such cells are suppressed, as statistical
#: agencies do with small cells in published tables.
MIN_CELL_SIZE = 10

#: Percentiles shown for each numeric column.
PERCENTILES = (5, 25, 50, 75, 95)

#: Correlations weaker than this are left out of the message.
MIN_REPORTED_CORRELATION = 0.1

#: Name of the group that small cells are merged into.
SUPPRESSED_GROUP = "other (suppressed)"

#: Name of a missing value in frequencies, the same ``null`` that the output format uses.
MISSING_CELL = "null"


@dataclass(frozen=True)
class Frequencies:
    """The value shares of one column after small-cell suppression.

    ``shown`` pairs each value's label with its share of all training records (0 to 1).
    ``suppressed`` lists the labels merged into :data:`SUPPRESSED_GROUP`, and
    ``suppressed_share`` is their total share (None when nothing is suppressed).
    """

    shown: tuple[tuple[str, float], ...]
    suppressed: tuple[str, ...] = ()
    suppressed_share: float | None = None

    def share_of(self, label: str) -> float | None:
        """Return the shown share of ``label``, or None when it is suppressed or absent."""
        return dict(self.shown).get(label)


@dataclass(frozen=True)
class Correlation:
    """The Spearman rho of two columns; ``signed`` is False when a column is categorical."""

    first: str
    second: str
    rho: float
    signed: bool


def suppressed_cells(counts: dict[str, int], min_cell_size: int = MIN_CELL_SIZE) -> list[str]:
    """Return the labels whose counts must be merged so that no count below ``min_cell_size`` shows.

    A count from 1 to ``min_cell_size - 1`` is a small cell. When there is one, the merged group
    grows by the next smallest counts (ties broken by label) until it contains at least two
    labels and ``min_cell_size`` records, or every non-zero count. Zero counts describe no
    patient and are never merged. Returns an empty list when no count is small.
    """
    small = [label for label, count in counts.items() if 0 < count < min_cell_size]
    if not small:
        return []

    merged = sorted(small)
    larger = sorted((count, label) for label, count in counts.items() if count >= min_cell_size)
    while larger and (len(merged) < 2 or sum(counts[label] for label in merged) < min_cell_size):
        _, label = larger.pop(0)
        merged.append(label)
    return sorted(merged)


def column_frequencies(values: pd.Series, column: Column, min_cell_size: int = MIN_CELL_SIZE) -> Frequencies:
    """Return the suppressed value shares of one categorical or binary column.

    ``values`` is the column on the training part. Labels are the category in double quotes,
    the binary value as 0 or 1, and ``null`` for a missing value. Shown values come most
    frequent first.
    """
    if len(values) == 0:
        return Frequencies(())
    vocabulary = column.categories if column.kind == "categorical" else (0.0, 1.0)
    counts = {_cell_label(value, column): 0 for value in vocabulary}
    for value, count in values.value_counts(dropna=False).items():
        label = _cell_label(value, column)
        counts[label] = counts.get(label, 0) + int(count)

    total = len(values)
    merged = suppressed_cells(counts, min_cell_size)
    shown = sorted(((label, count / total) for label, count in counts.items() if label not in merged),
                   key=lambda pair: (-pair[1], pair[0]))
    if not merged:
        return Frequencies(tuple(shown))
    return Frequencies(tuple(shown), tuple(merged), sum(counts[label] for label in merged) / total)


def shown_percentiles(count: int, min_cell_size: int = MIN_CELL_SIZE) -> tuple[int, ...]:
    """Return the :data:`PERCENTILES` that ``count`` non-missing values may show.

    A percentile is shown only when at least ``min_cell_size`` values lie at or beyond it on
    each side. The 5th percentile of 20 values lies between the two smallest and would nearly
    give one patient's value. The rule needs 20 values for the median and 200 for the 5th and
    95th percentiles, so it also suppresses every percentile of fewer than ``min_cell_size``
    values.
    """
    return tuple(q for q in PERCENTILES if count * min(q, 100 - q) / 100 >= min_cell_size)


def spearman_correlations(
    train: pd.DataFrame,
    schema: TableSchema,
    min_cell_size: int = MIN_CELL_SIZE,
    min_magnitude: float = MIN_REPORTED_CORRELATION,
) -> list[Correlation]:
    """Return the Spearman correlations of the ``schema`` columns with |rho| >= ``min_magnitude``.

    Pairs use their pairwise-complete training records, strongest first. Categorical columns
    are encoded by category frequency rank as in :mod:`ehrbench.features.dependencies`, so only
    the magnitude of their rho is meaningful. A binary or categorical value with fewer than
    ``min_cell_size`` training records is treated as missing. A pair is left out when it rests
    on fewer than ``min_cell_size`` records, or when one of its binary or categorical values
    has from 1 to ``min_cell_size - 1`` records among them. Otherwise rho would describe those
    few patients.
    """
    encoded = pd.DataFrame(
        {column.name: _encode(train[column.name], column, min_cell_size) for column in schema.columns}
    )
    present = encoded.notna().to_numpy(dtype=float)
    pair_rows = present.T @ present
    small = np.zeros_like(pair_rows, dtype=bool)
    for index, column in enumerate(schema.columns):
        if column.kind == "numeric":
            continue
        values = encoded[column.name]
        for value in values.dropna().unique():
            counts = (values == value).to_numpy(dtype=float) @ present
            small[index] |= (counts > 0) & (counts < min_cell_size)

    rho = encoded.corr(method="spearman", min_periods=min_cell_size).to_numpy()
    kinds = [column.kind for column in schema.columns]
    correlations = []
    for i, j in zip(*np.triu_indices(len(kinds), k=1)):
        if pair_rows[i, j] < min_cell_size or small[i, j] or small[j, i]:
            continue
        if np.isnan(rho[i, j]) or abs(rho[i, j]) < min_magnitude:
            continue
        signed = "categorical" not in (kinds[i], kinds[j])
        value = float(rho[i, j]) if signed else abs(float(rho[i, j]))
        correlations.append(Correlation(schema.columns[i].name, schema.columns[j].name, value, signed))
    return sorted(correlations, key=lambda pair: (-abs(pair.rho), pair.first, pair.second))


def _encode(values: pd.Series, column: Column, min_cell_size: int) -> pd.Series:
    if column.kind == "numeric":
        return values.astype(float)
    counts = values.value_counts()
    frequent = counts[counts >= min_cell_size]
    if column.kind == "binary":
        return values.where(values.isin(frequent.index)).astype(float)
    ranks = {category: rank for rank, category in enumerate(frequent.index)}
    return values.map(ranks).astype(float)


def _cell_label(value: object, column: Column) -> str:
    if pd.isna(value):
        return MISSING_CELL
    if column.kind == "categorical":
        return '"' + str(value) + '"'
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def _percent(share: float, show: Show) -> str:
    return f"{show(round(100 * share, 1))}%"


def dictionary_block(schema: TableSchema, constraints: list[Constraint]) -> str:
    """Return the column list with types, units, descriptions and categories, and the constraints.

    The lines contain only the data dictionary, so nothing here passes through ``show``.
    """
    lines = ["Columns, in order:"]
    for column in schema.columns:
        line = "- " + describe_column(column)
        if column.kind == "categorical":
            line += "; one of: " + ", ".join(f'"{category}"' for category in column.categories)
        lines.append(line)
    relevant = [rule for rule in constraints if all(name in schema.by_name for name in rule.columns)]
    if relevant:
        lines.append("Constraints every record must satisfy:")
        lines += [f"- {rule.text}" for rule in relevant]
    return "\n".join(lines)


def numeric_line(values: pd.Series, column: Column, show: Show) -> str:
    """Return one column's percentiles and missing share, each number passed through ``show``."""
    present = values.dropna().astype(float).to_numpy()
    shown = shown_percentiles(len(present))
    parts = []
    for q in PERCENTILES:
        value = show(float(np.percentile(present, q))) if q in shown else "suppressed"
        parts.append(f"p{q} {value}")

    missing = int(values.isna().sum())
    if missing == 0:
        note = "never missing"
    elif missing == len(values):
        note = "always missing (null)"
    elif suppressed_cells({"missing": missing, "present": len(present)}):
        note = f"missing (null) in some records, share suppressed (fewer than {MIN_CELL_SIZE} records)"
    else:
        note = f"missing (null) in {_percent(missing / len(values), show)} of records"
    return f"- {column.name}: " + ", ".join(parts) + f"; {note}"


def frequency_line(name: str, frequencies: Frequencies, show: Show) -> str:
    """Return one column's value shares, each number passed through ``show``."""
    parts = [f"{label} ({_percent(share, show)})" for label, share in frequencies.shown]
    text = f"- {name}: " + ", ".join(parts)
    if frequencies.suppressed:
        if parts:
            text += "; "
        merged = ", ".join(frequencies.suppressed)
        text += f"{SUPPRESSED_GROUP}: {merged} ({_percent(frequencies.suppressed_share, show)} together)"
    return text


def correlation_line(correlation: Correlation, show: Show) -> str:
    """Return one correlation, signed or as a magnitude, passed through ``show``."""
    value = show(round(correlation.rho, 2))
    if correlation.signed:
        return f"- {correlation.first} and {correlation.second}: rho {value}"
    return f"- {correlation.first} and {correlation.second}: |rho| {value}"


def label_line(label: str, frequencies: Frequencies, show: Show) -> str:
    """Return the line with the share of records whose label is 1, or that the share is suppressed."""
    share = frequencies.share_of("1")
    if share is None:
        return f"Label rate: the share of {label} = 1 is suppressed (fewer than {MIN_CELL_SIZE} records)."
    return f"Label rate: {label} = 1 in {_percent(share, show)} of training records."


def statistics_block(train: pd.DataFrame, schema: TableSchema, show: Show) -> str:
    """Return the percentiles, frequencies, correlations and label rate of ``train``."""
    label = schema[schema.label]
    numeric = [numeric_line(train[c.name], c, show) for c in schema.columns if c.kind == "numeric"]
    counted = [c for c in schema.columns if c.kind != "numeric" and not (c is label and c.kind == "binary")]
    frequencies = [frequency_line(c.name, column_frequencies(train[c.name], c), show) for c in counted]
    correlations = [correlation_line(pair, show) for pair in spearman_correlations(train, schema)]

    sections = []
    if numeric:
        sections.append("Percentiles of numeric columns (pN is the N-th percentile):\n" + "\n".join(numeric))
    if frequencies:
        sections.append(
            "Share of training records with each value, in brackets. Values with fewer than "
            f"{MIN_CELL_SIZE} records are merged, with the next smallest values where needed, into "
            f"{SUPPRESSED_GROUP}, which then has at least two values and {MIN_CELL_SIZE} records:\n"
            + "\n".join(frequencies)
        )
    if correlations:
        sections.append(
            f"Spearman correlations with |rho| of at least {MIN_REPORTED_CORRELATION}, strongest first. A pair "
            "with a category column gives only |rho|, because its categories are ranked by frequency:\n"
            + "\n".join(correlations)
        )
    if label.kind == "binary":
        sections.append(label_line(label.name, column_frequencies(train[label.name], label), show))
    return "\n\n".join(sections)


class StatisticsOnlyPrompt(PromptStrategy):
    """Describe the data by its dictionary and aggregate statistics, showing no patient row.

    Meant for data that may not be sent to a model row by row. The message contains the
    percentiles, value shares, correlations and label rate of the training part, with small
    cells suppressed (see :data:`MIN_CELL_SIZE`). :meth:`examples` is empty, so
    ``Prompt.shown_rows`` is empty, and the privacy criteria find no member to attack.
    """

    name = "statistics"

    def example_pool(self, context: PromptContext) -> pd.DataFrame:
        """Return no rows: this strategy shows no example."""
        return context.prepared.train.iloc[:0]

    def examples(self, context: PromptContext) -> pd.DataFrame:
        """Return an empty frame with the generated columns."""
        return self.example_pool(context).reindex(columns=context.schema.names)

    def compose(self, context: PromptContext, show: Show) -> str:
        schema = context.schema
        dataset = context.prepared.dataset
        train = context.prepared.train
        missing = [name for name in schema.names if name not in train.columns]
        if missing:
            raise ValueError(
                f"context.schema: columns {missing} are not in the training part of dataset "
                f"{context.prepared.name!r}; select the schema from prepared.schema"
            )

        return "\n\n".join(
            [
                f"Generate {context.rows_requested} new, realistic patient records from {dataset.title}.",
                "No real record is shown. The columns are described by a data dictionary and by "
                "statistics of the training records, and the records you write should match them.",
                dictionary_block(schema, dataset.constraints()),
                statistics_block(train, schema, show),
                output_instructions(schema, context.rows_requested, context.output_format),
                batch_line(context),
            ]
        )
