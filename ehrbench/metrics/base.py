"""The metric interface: one result type, one base class and the input checks they share.

A metric compares a real table (the test part of a dataset) with a synthetic table (whatever
a generator produced) under one :class:`~ehrbench.schema.TableSchema` and returns a
:class:`MetricResult`. Each metric documents its range and its direction (``goal``).

Input contract of :meth:`Metric.compute`:

- ``schema`` must be a :class:`TableSchema`, otherwise :class:`TypeError` is raised.
- ``real`` is checked strictly because it is the benchmark's own data. A value that is not a
  DataFrame raises :class:`TypeError`. :class:`ValueError` is raised for 0 rows, a duplicate
  or missing column, a value that is not a number in a numeric or binary column, or a binary
  value other than 0 and 1.
- ``synthetic`` may be anything. The same problems in it never raise: the result has
  ``value=None``, a ``reason`` and ``details["problems"]``. Each metric handles the
  problems of single columns (all missing, constant, infinite values) by its own rules
  and reports them in ``details``.

Both tables are checked on all schema columns, also those a metric does not use, so every
metric gives the same verdict on an invalid table.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from ehrbench.schema import ColumnKind, TableSchema, coerce_frame

logger = logging.getLogger(__name__)

Goal = Literal["minimize", "maximize"]

#: Number of offending values quoted in a problem message.
_EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class MetricResult:
    """The score of one metric on one (real, synthetic) pair.

    ``value`` is None when the metric could not be scored, and ``reason`` then gives the
    cause. A scored result may also have a ``reason`` that names the skipped columns.
    ``low`` and ``high`` bound a 95% interval where the metric has one. ``details`` contains
    per-column values, counts of used and skipped columns and the reasons for skipping.
    """

    name: str
    value: float | None
    reason: str = ""
    low: float | None = None
    high: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        """True when the metric produced a value."""
        return self.value is not None

    @property
    def applicable(self) -> bool:
        """False when the criterion does not apply to the case (see :func:`not_applicable`)."""
        return not self.details.get("not_applicable", False)


def not_applicable(name: str, reason: str, **details: Any) -> MetricResult:
    """Return the result of a criterion that does not apply to a case.

    An example is cross-site generalisation on a dataset without sites. Reports skip such a
    result and show ``reason``.
    """
    logger.info("metric %s does not apply: %s", name, reason)
    return MetricResult(name, None, reason=reason, details={**details, "not_applicable": True})


class Metric(ABC):
    """A fidelity or utility metric of a synthetic table against a real one.

    Subclasses set the class attributes and implement :meth:`score`. :meth:`compute` checks
    the inputs once, converts both tables with :func:`~ehrbench.schema.coerce_frame` and
    passes only the columns of :attr:`kinds` to :meth:`score`.
    """

    #: Identifier used in results, thresholds and reports.
    name: ClassVar[str]
    #: Whether lower (``minimize``) or higher (``maximize``) values are better.
    goal: ClassVar[Goal]
    #: Smallest possible value.
    min_value: ClassVar[float]
    #: Largest possible value (may be ``inf``).
    max_value: ClassVar[float]
    #: Column kinds that the metric scores. Other schema columns are only checked.
    kinds: ClassVar[tuple[ColumnKind, ...]] = ("numeric", "binary", "categorical")

    def select_columns(self, schema: TableSchema) -> list[str]:
        """Return the schema columns of :attr:`kinds`, in schema order."""
        return [column.name for column in schema.columns if column.kind in self.kinds]

    def compute(self, real: pd.DataFrame, synthetic: Any, schema: TableSchema) -> MetricResult:
        """Score ``synthetic`` against ``real``. The module docstring lists the input rules."""
        check_schema(schema)
        columns = self.select_columns(schema)
        real_frame = check_real(real, schema, schema.names, argument="real")[columns]

        problems = find_table_problems(synthetic, schema, schema.names, argument="synthetic")
        if problems:
            reason = "invalid synthetic table: " + "; ".join(problems)
            return self.unscored(reason, problems=problems)
        if not columns:
            return self.unscored(f"the schema has no columns of kind {' or '.join(self.kinds)}")

        synthetic_frame = coerce_columns(synthetic, schema, columns)
        return self.score(real_frame, synthetic_frame, schema, columns)

    @abstractmethod
    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        """Score two checked and coerced frames whose columns are exactly ``columns``."""

    def unscored(self, reason: str, **details: Any) -> MetricResult:
        """Log ``reason`` and return a result with ``value=None``, ``reason`` and ``details``."""
        logger.warning("metric %s could not be scored: %s", self.name, reason)
        return MetricResult(self.name, None, reason=reason, details=details)


def check_schema(schema: object) -> None:
    """Raise TypeError unless ``schema`` is a :class:`TableSchema`."""
    if not isinstance(schema, TableSchema):
        raise TypeError(
            f"schema: expected an ehrbench.schema.TableSchema, got {type(schema).__name__}; "
            "use the schema of the prepared dataset"
        )


def check_real(
    frame: object, schema: TableSchema, columns: list[str], argument: str
) -> pd.DataFrame:
    """Return the coerced ``columns`` of a real table, or raise when the table is invalid."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{argument}: expected a pandas DataFrame, got {type(frame).__name__}")

    problems = find_table_problems(frame, schema, columns, argument=argument)
    if problems:
        raise ValueError(
            f"{argument}: invalid real table: {'; '.join(problems)}. Pass a part of a "
            "prepared dataset (ehrbench.datasets.prepare), whose columns follow ehrbench.schema"
        )
    return coerce_columns(frame, schema, columns)


def find_table_problems(
    frame: object, schema: TableSchema, columns: list[str], argument: str
) -> list[str]:
    """Return one message per structural problem of ``frame`` (empty when it is valid).

    Structural problems are: not a DataFrame, 0 rows, duplicate or missing ``columns``, values
    that are not numbers in numeric and binary columns, and binary values other than 0 and 1.
    """
    if not isinstance(frame, pd.DataFrame):
        return [f"{argument} is a {type(frame).__name__}, expected a pandas DataFrame"]

    problems = []
    if len(frame) == 0:
        problems.append(f"{argument} has 0 rows")

    duplicated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    duplicated = [name for name in duplicated if name in columns]
    if duplicated:
        problems.append(f"{argument} has duplicate columns {duplicated}")

    missing = [name for name in columns if name not in frame.columns]
    if missing:
        problems.append(f"{argument} is missing the columns {missing}")

    for name in columns:
        if name in missing or name in duplicated or schema[name].kind == "categorical":
            continue
        problem = _find_number_problem(frame[name], name, schema[name].kind)
        if problem:
            problems.append(problem)
    return problems


def _find_number_problem(values: pd.Series, name: str, kind: ColumnKind) -> str:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    not_numbers = values[numbers.isna() & values.notna()]
    if len(not_numbers):
        examples = [repr(value) for value in not_numbers.iloc[:_EXAMPLES_SHOWN]]
        return (
            f"column {name!r} contains {len(not_numbers)} values that are not numbers, "
            f"e.g. {examples}"
        )

    if kind == "binary":
        invalid = numbers[numbers.notna() & ~numbers.isin([0.0, 1.0])]
        if len(invalid):
            examples = [float(value) for value in invalid.iloc[:_EXAMPLES_SHOWN]]
            return (
                f"binary column {name!r} contains {len(invalid)} values other than 0 and 1, "
                f"e.g. {examples}"
            )
    return ""


def coerce_columns(frame: pd.DataFrame, schema: TableSchema, columns: list[str]) -> pd.DataFrame:
    """Return ``columns`` of ``frame`` converted by :func:`ehrbench.schema.coerce_frame`."""
    return coerce_frame(frame[columns], schema)[columns]


def order_by_content(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of ``frame`` sorted by a hash of their values, with a fresh index.

    Metrics that draw rows or assign folds by position call this first, so that their result
    does not depend on the order of the rows.
    """
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return frame.iloc[np.argsort(hashes, kind="stable")].reset_index(drop=True)


def finite_values(values: pd.Series) -> np.ndarray:
    """Return the finite values of a float column as an array (NaN and +/-inf removed)."""
    array = values.to_numpy(dtype=float)
    return array[np.isfinite(array)]


def count_infinite(values: pd.Series) -> int:
    """Return how many values of a float column are +inf or -inf."""
    return int(np.isinf(values.to_numpy(dtype=float)).sum())
