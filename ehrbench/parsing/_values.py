"""Read one record value for its column kind, and normalise values into training-row keys.

The rules are listed in the docstring of :mod:`ehrbench.parsing.validity`. Each reader returns
``(reason, value)``: a rejection reason and NaN, or None and the converted value, where NaN
means a missing value.
"""

from __future__ import annotations

import math
import numbers
import re

import pandas as pd

from ehrbench.parsing.reasons import OUT_OF_RANGE, UNKNOWN_CATEGORY, WRONG_TYPE
from ehrbench.schema import Column

#: Significant digits kept when numbers are compared with training rows.
SIGNIFICANT_DIGITS = 6

_MISSING_STRINGS = frozenset({"", "na", "n/a", "nan", "null", "none"})
_INFINITE_STRINGS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_BOOLEAN_STRINGS = {"true": 1.0, "false": 0.0}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class CategoryLookup:
    """Lookup of the canonical category spelling: exact match first, then in any case."""

    def __init__(self, column: Column) -> None:
        self.exact = set(column.categories)
        self.folded: dict[str, str] = {}
        for category in column.categories:
            self.folded.setdefault(category.lower(), category)

    def __call__(self, text: str) -> str | None:
        if text in self.exact:
            return text
        return self.folded.get(text.lower())


def _read_number(value: object) -> tuple[str | None, float]:
    """Read a number or numeric string. With a None reason, NaN means a missing value."""
    if value is None:
        return None, math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return OUT_OF_RANGE, math.nan
        return (None, number) if math.isfinite(number) else (OUT_OF_RANGE, math.nan)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _MISSING_STRINGS:
            return None, math.nan
        if text in _INFINITE_STRINGS:
            return OUT_OF_RANGE, math.nan
        if _NUMBER.fullmatch(text):
            number = float(text)
            return (None, number) if math.isfinite(number) else (OUT_OF_RANGE, math.nan)
    return WRONG_TYPE, math.nan


def read_numeric(value: object, column: Column) -> tuple[str | None, float]:
    """Read a numeric value and check it against the column's [minimum, maximum]."""
    if isinstance(value, bool):
        return WRONG_TYPE, math.nan
    reason, number = _read_number(value)
    if reason or math.isnan(number):
        return reason, number
    if column.minimum is not None and number < column.minimum:
        return OUT_OF_RANGE, math.nan
    if column.maximum is not None and number > column.maximum:
        return OUT_OF_RANGE, math.nan
    return None, number


def read_binary(value: object) -> tuple[str | None, float]:
    """Read a binary value as 0.0 or 1.0."""
    if isinstance(value, bool):
        return None, float(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_STRINGS:
        return None, _BOOLEAN_STRINGS[value.strip().lower()]
    reason, number = _read_number(value)
    if reason or math.isnan(number):
        return reason, number
    if number not in (0.0, 1.0):
        return OUT_OF_RANGE, math.nan
    return None, number


def read_category(value: object, lookup: CategoryLookup) -> tuple[str | None, object]:
    """Read a categorical value as its canonical category spelling."""
    if value is None:
        return None, math.nan
    if isinstance(value, str):
        forms = [value.strip()]
    elif isinstance(value, numbers.Real):
        forms = [str(value)]
        if isinstance(value, float) and value.is_integer():
            forms.append(str(int(value)))
    else:
        return WRONG_TYPE, math.nan

    for form in forms:
        canonical = lookup(form)
        if canonical is not None:
            return None, canonical
    if isinstance(value, str) and forms[0].lower() in _MISSING_STRINGS:
        return None, math.nan
    return UNKNOWN_CATEGORY, math.nan


def value_key(value: object, column: Column) -> object:
    """Return the normalised form of a converted value, as used in training-row keys."""
    if column.kind == "categorical":
        return category_key(value)
    return number_key(float(value))


def number_key(value: float) -> float | None:
    if math.isnan(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def category_key(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)
