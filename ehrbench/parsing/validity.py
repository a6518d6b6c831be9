"""Check parsed row records against a table schema and count every rejected row.

A record is valid when its keys name exactly the schema columns and every value fits its
column. Each rejected record gets exactly one reason, the first of :data:`REJECTION_REASONS`
that applies, so the counts of one batch add up to the number of rejected records.
:func:`validate_answers` counts the fragments of an answer that could not be parsed into a
record at all as :data:`UNPARSEABLE`, and the valid rows of an answer beyond the number
requested as :data:`BEYOND_REQUESTED`.

Value rules, per column kind:

- ``numeric``: an int, a float or a numeric string such as ``"12.5"``, within the column's
  [minimum, maximum] observed on the training part. NaN or infinity given as a number, or as
  the strings ``"inf"`` and ``"infinity"`` with any sign, is out of range.
- ``binary``: 0 or 1 as a number or numeric string, a bool, or the strings ``"true"`` and
  ``"false"`` in any case.
- ``categorical``: one of the column's categories, matched exactly after stripping spaces, then
  case-insensitively, and stored in the canonical spelling. Numbers are compared as their str
  form, with whole floats also as the int form (``2.0`` matches ``"2"``).

In every column, None, an empty string and the strings ``na``, ``n/a``, ``nan``, ``null`` and
``none`` (any case) are missing values, which are allowed. A categorical column checks its
categories before these strings, so a category named ``"None"`` is kept.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd

from ehrbench.parsing._values import (
    SIGNIFICANT_DIGITS,
    CategoryLookup,
    category_key,
    number_key,
    read_binary,
    read_category,
    read_numeric,
    value_key,
)
from ehrbench.parsing._validity_record import ValidityRecord
from ehrbench.parsing.answers import FAILURE_REFUSAL, REFUSAL_STOP_REASONS, parse_answer
from ehrbench.parsing.reasons import (
    BEYOND_REQUESTED,
    EXACT_COPY,
    EXTRA_COLUMN,
    MISSING_COLUMN,
    OUT_OF_RANGE,
    REJECTION_REASONS,
    UNKNOWN_CATEGORY,
    UNPARSEABLE,
    WRONG_TYPE,
)
from ehrbench.schema import TableSchema, coerce_frame

__all__ = [
    "BEYOND_REQUESTED",
    "EXACT_COPY",
    "EXTRA_COLUMN",
    "MISSING_COLUMN",
    "OUT_OF_RANGE",
    "REJECTION_REASONS",
    "SIGNIFICANT_DIGITS",
    "UNKNOWN_CATEGORY",
    "UNPARSEABLE",
    "WRONG_TYPE",
    "ValidationOutcome",
    "AnswersOutcome",
    "ValidityRecord",
    "training_row_keys",
    "validate_answers",
    "validate_answers_with_copies",
    "validate_records",
]

logger = logging.getLogger(__name__)

_VALUE_REASONS = (WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_CATEGORY)


@dataclass(frozen=True)
class ValidationOutcome:
    """Valid rows of a batch of records and the count of rejected records per reason.

    ``rows`` has the schema columns in schema order, the dtypes of :mod:`ehrbench.schema` and
    a fresh 0..n-1 index, and keeps the order of the records.
    """

    rows: pd.DataFrame
    rejections: Counter
    #: Records rejected as exact copies of a training row, converted like ``rows``.
    copies: pd.DataFrame | None = None


def training_row_keys(train: pd.DataFrame, schema: TableSchema) -> frozenset[tuple]:
    """Return the normalised key of every row of ``train`` over the schema columns.

    A key is a tuple in schema column order: numbers rounded to :data:`SIGNIFICANT_DIGITS`
    significant digits, categories as str, missing values as None. :func:`validate_records`
    rejects a record whose key is in this set as an exact copy.
    """
    if not isinstance(train, pd.DataFrame):
        raise TypeError(f"train: expected a pandas DataFrame, got {type(train).__name__}")
    absent = [name for name in schema.names if name not in train.columns]
    if absent:
        raise KeyError(f"train: the frame lacks the schema columns {absent}")

    normalised = []
    for column in schema.columns:
        if column.kind == "categorical":
            normalised.append([category_key(value) for value in train[column.name]])
        else:
            values = pd.to_numeric(train[column.name], errors="coerce")
            values = values.to_numpy(dtype=float, na_value=np.nan)
            normalised.append([number_key(value) for value in values])
    return frozenset(zip(*normalised))


def validate_records(
    records: Sequence[Mapping[str, object]], schema: TableSchema, training_keys: frozenset[tuple]
) -> ValidationOutcome:
    """Split ``records`` into valid rows and rejection counts, as described in the module.

    Keys match schema column names case-insensitively and without surrounding spaces. A second
    key that maps to an already matched column counts as an extra column.
    """
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise TypeError(f"records: expected a list of dicts, got {type(records).__name__}")
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"records: item {position} is a {type(record).__name__}, not a dict")

    key_lookup = _KeyLookup(schema)
    categories = {column.name: CategoryLookup(column) for column in schema.columns}
    rejections: Counter = Counter()
    valid = []
    copies = []
    for record in records:
        reason, row = _validate_record(record, schema, key_lookup, categories, training_keys)
        if reason:
            rejections[reason] += 1
        else:
            valid.append(row)
        if reason == EXACT_COPY:
            copies.append(row)

    rows = coerce_frame(pd.DataFrame(valid, columns=schema.names), schema)
    copied = coerce_frame(pd.DataFrame(copies, columns=schema.names), schema)
    return ValidationOutcome(rows, rejections, copied)


class _KeyLookup:
    """Lookup of the schema column name of a record key, ignoring surrounding spaces and case."""

    def __init__(self, schema: TableSchema) -> None:
        self.exact = set(schema.names)
        folded = Counter(name.lower() for name in schema.names)
        # Names that differ only in case can be matched exactly but not case-insensitively.
        self.folded = {name.lower(): name for name in schema.names if folded[name.lower()] == 1}

    def __call__(self, key: object) -> str | None:
        name = str(key).strip()
        if name in self.exact:
            return name
        return self.folded.get(name.lower())


def _validate_record(
    record: Mapping[str, object],
    schema: TableSchema,
    key_lookup: _KeyLookup,
    categories: dict[str, CategoryLookup],
    training_keys: frozenset[tuple],
) -> tuple[str | None, dict[str, object] | None]:
    """Return the rejection reason of ``record`` (or None) and the converted row.

    The row is None when the record is rejected, except for an exact copy, whose converted row
    is returned so that privacy criteria can measure what the model wrote.
    """
    mapped: dict[str, object] = {}
    has_extra_key = False
    for key, value in record.items():
        name = key_lookup(key)
        if name is None or name in mapped:
            has_extra_key = True
        else:
            mapped[name] = value
    if len(mapped) < len(schema.columns):
        return MISSING_COLUMN, None
    if has_extra_key:
        return EXTRA_COLUMN, None

    row: dict[str, object] = {}
    reasons = set()
    for column in schema.columns:
        value = mapped[column.name]
        if column.kind == "categorical":
            reason, row[column.name] = read_category(value, categories[column.name])
        elif column.kind == "binary":
            reason, row[column.name] = read_binary(value)
        else:
            reason, row[column.name] = read_numeric(value, column)
        if reason:
            reasons.add(reason)
    for reason in _VALUE_REASONS:
        if reason in reasons:
            return reason, None

    key = tuple(value_key(row[column.name], column) for column in schema.columns)
    if key in training_keys:
        return EXACT_COPY, row
    return None, row


def validate_answers(
    answers: Sequence[tuple[str, int]], schema: TableSchema, training_keys: frozenset[tuple]
) -> tuple[pd.DataFrame, ValidityRecord]:
    """Parse and validate each ``(answer text, rows requested)`` pair.

    Keeps at most ``requested`` valid rows of each answer, the first ones in answer order, and
    counts its other valid rows as :data:`BEYOND_REQUESTED`. Returns the kept rows of all
    answers concatenated in answer order (schema columns, fresh index) and the summed
    :class:`ValidityRecord`.
    """
    answers_outcome = validate_answers_with_copies(answers, schema, training_keys)
    return answers_outcome.rows, answers_outcome.validity


@dataclass(frozen=True)
class AnswersOutcome:
    """What :func:`validate_answers_with_copies` returns.

    ``rows`` and ``validity`` are those of :func:`validate_answers`; ``copies`` contains every
    record rejected as an exact copy of a training row (schema columns, fresh index), which
    privacy criteria add back to measure what the model wrote.
    """

    rows: pd.DataFrame
    validity: ValidityRecord
    copies: pd.DataFrame


def validate_answers_with_copies(
    answers: Sequence[tuple[str, int]],
    schema: TableSchema,
    training_keys: frozenset[tuple],
    stop_reasons: Sequence[str | None] | None = None,
) -> AnswersOutcome:
    """Do what :func:`validate_answers` does and also return the rows rejected as exact copies.

    ``stop_reasons`` gives the provider's stop reason of each answer (None when unknown). An
    answer without rows whose stop reason is one of :data:`REFUSAL_STOP_REASONS` counts as a
    refusal even when its text holds no refusal phrase (an Anthropic refusal often has no text).
    """
    if stop_reasons is not None and len(stop_reasons) != len(answers):
        raise ValueError(f"stop_reasons: expected {len(answers)} items, one per answer, got {len(stop_reasons)}")
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise TypeError(
            f"answers: expected a list of (text, requested) pairs, got {type(answers).__name__}"
        )
    for position, pair in enumerate(answers):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"answers: item {position} is {pair!r}, not a (text, requested) pair")
        text, requested = pair
        if not isinstance(text, str):
            raise TypeError(
                f"answers: text of item {position} is a {type(text).__name__}, not a str"
            )
        if isinstance(requested, bool) or not isinstance(requested, Integral) or requested < 0:
            raise ValueError(
                f"answers: rows requested in item {position} must be a non-negative int, "
                f"got {requested!r}"
            )

    total = ValidityRecord()
    frames = []
    copies = []
    for position, (text, requested) in enumerate(answers):
        requested = int(requested)
        parsed = parse_answer(text, schema.names)
        failure = parsed.failure
        if failure and stop_reasons is not None and stop_reasons[position] in REFUSAL_STOP_REASONS:
            failure = FAILURE_REFUSAL
        outcome = validate_records(parsed.records, schema, training_keys)
        rows = outcome.rows.iloc[:requested]
        rejections = outcome.rejections + Counter(
            {
                BEYOND_REQUESTED: len(outcome.rows) - len(rows),
                UNPARSEABLE: parsed.unparseable_fragments,
            }
        )
        total = total.merge(
            ValidityRecord(
                requested=requested,
                answers=1,
                failed_answers=0 if parsed.records else 1,
                parsed=len(parsed.records),
                valid=len(rows),
                rejections=rejections,
                failures=Counter({failure: 1} if failure else {}),
            )
        )
        if len(rows):
            frames.append(rows)
        if len(outcome.copies):
            copies.append(outcome.copies)

    rows = _concat_rows(frames, schema)
    logger.info(
        "validated %d answers: %d valid rows of %d requested, %d parsed, rejections %s",
        total.answers,
        total.valid,
        total.requested,
        total.parsed,
        dict(total.rejections),
    )
    return AnswersOutcome(rows, total, _concat_rows(copies, schema))


def _concat_rows(frames: list[pd.DataFrame], schema: TableSchema) -> pd.DataFrame:
    if frames:
        return coerce_frame(pd.concat(frames, ignore_index=True), schema)
    return coerce_frame(pd.DataFrame(columns=schema.names), schema)
