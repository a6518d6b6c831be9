"""Column and table schemas shared by every layer.

A table in ehrbench is a :class:`pandas.DataFrame` with one row per patient (or ICU stay) and
three kinds of columns:

- ``numeric``: float64; missing values are NaN.
- ``binary``: float64 holding 0.0 or 1.0 (flags and the outcome label); missing values are NaN.
- ``categorical``: object dtype holding ``str`` values; missing values are NaN.

A :class:`TableSchema` is inferred once from the training part of a dataset, so the ranges and
category sets that prompts show and that parsing checks come from rows a prompt may show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["numeric", "binary", "categorical"]


@dataclass(frozen=True)
class Column:
    """One column of a table.

    ``minimum`` and ``maximum`` are the observed range on the training part (numeric columns
    only). ``integer`` is true when every observed value is a whole number. ``categories`` lists
    the observed categories in sorted order (categorical columns only).
    """

    name: str
    kind: ColumnKind
    description: str = ""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    categories: tuple[str, ...] = ()
    missing_rate: float = 0.0


@dataclass(frozen=True)
class TableSchema:
    """The ordered columns of a table and which of them is the outcome label."""

    columns: tuple[Column, ...]
    label: str
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"columns: duplicate column names in {names}")
        if self.label not in names:
            raise ValueError(f"label: {self.label!r} is not one of the columns {names}")
        object.__setattr__(self, "by_name", {column.name: column for column in self.columns})

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.columns if column.name != self.label]

    def __getitem__(self, name: str) -> Column:
        return self.by_name[name]

    def select(self, names: list[str]) -> TableSchema:
        """Return the schema restricted to ``names`` (in that order) plus the label."""
        unknown = [name for name in names if name not in self.by_name]
        if unknown:
            raise KeyError(f"names: unknown columns {unknown}; known columns are {self.names}")
        ordered = [name for name in names if name != self.label] + [self.label]
        return TableSchema(tuple(self.by_name[name] for name in ordered), self.label)


def infer_schema(
    frame: pd.DataFrame,
    label: str,
    kinds: dict[str, ColumnKind],
    descriptions: dict[str, str] | None = None,
    units: dict[str, str] | None = None,
) -> TableSchema:
    """Infer ranges, integer flags and category sets of ``frame`` for the declared ``kinds``.

    ``kinds`` maps every column of ``frame`` that belongs to the schema to its kind; other
    columns of ``frame`` (identifiers, site ids) are ignored.
    """
    descriptions = descriptions or {}
    units = units or {}
    columns = []
    for name, kind in kinds.items():
        if name not in frame.columns:
            raise KeyError(f"kinds: column {name!r} is not in the frame")
        values = frame[name]
        present = values.dropna()
        extra = {"missing_rate": float(values.isna().mean()) if len(values) else 0.0}
        if kind == "numeric":
            numbers = present.astype(float)
            if len(numbers):
                extra["minimum"] = float(numbers.min())
                extra["maximum"] = float(numbers.max())
                extra["integer"] = bool(np.all(np.mod(numbers.to_numpy(), 1.0) == 0.0))
        elif kind == "categorical":
            extra["categories"] = tuple(sorted(str(value) for value in present.unique()))
        elif kind != "binary":
            raise ValueError(f"kinds: column {name!r} has unknown kind {kind!r}")
        columns.append(
            Column(
                name=name,
                kind=kind,
                description=descriptions.get(name, ""),
                unit=units.get(name, ""),
                **extra,
            )
        )
    return TableSchema(tuple(columns), label)


def coerce_frame(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Return the schema's columns of ``frame`` with the dtypes described in the module docstring.

    Values that cannot be converted become NaN; callers that must count such values (parsing)
    check them before calling this.
    """
    out = {}
    for column in schema.columns:
        values = frame[column.name] if column.name in frame.columns else pd.Series(np.nan, index=frame.index)
        if column.kind == "categorical":
            out[column.name] = values.map(lambda v: np.nan if _is_missing(v) else str(v)).astype(object)
        else:
            out[column.name] = pd.to_numeric(values, errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
