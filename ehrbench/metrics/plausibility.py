"""Clinical plausibility: the share of rows that break at least one rule.

The rules are declared in :mod:`ehrbench.datasets.rules`. :func:`evaluate_rules` checks a
table against them, and :class:`PlausibilityViolations` is the metric built on it. A rule
applies only when every column it names is in the table. Rules of other columns are skipped
and listed with the reason.

A value is missing when it is NaN (or None). Missing values never break a rule, and the rows
a rule could not check because of them are counted per rule as ``missing``. Per rule kind:

- range: a present value breaks the rule when it is outside [low, high], infinite, or (for
  whole-number rules) not a whole number.
- implication: a row is checked when the premise value is present and either the premise is
  false or the conclusion value is present. It breaks the rule when the premise holds and the
  conclusion does not.
- distinct and order: a row is checked when both values are present.
- category: a present value breaks the rule when it is not one of the categories.

Tables that follow :mod:`ehrbench.schema` hold numbers in numeric and binary columns.
:func:`evaluate_rules` also accepts other tables, and there a present value that is not a
number breaks every range, order or numeric-condition rule of its column.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ehrbench.datasets.rules import (
    RULE_TYPES,
    CategoryRule,
    Condition,
    DistinctRule,
    ImplicationRule,
    OrderRule,
    RangeRule,
    Rule,
    category_rules,
    rules_for_dataset,
)
from ehrbench.metrics.base import Metric, MetricResult
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Positions of rows that break a rule, quoted per rule in the results.
ROWS_SHOWN = 3


@dataclass(frozen=True)
class RuleOutcome:
    """Counts of one rule on one table: rows checked, broken, and not checked (missing)."""

    rule_id: str
    text: str
    unit: str
    source: str
    checked: int
    broken: int
    missing: int
    first_broken_rows: tuple[int, ...] = ()

    @property
    def broken_rate(self) -> float:
        """Share of the checked rows that break the rule, in [0, 1], or NaN when none was checked."""
        return self.broken / self.checked if self.checked else float("nan")


@dataclass(frozen=True)
class PlausibilityReport:
    """Outcome of every applicable rule on one table, and the rules that were skipped.

    ``broken_rows`` counts the rows that break at least one rule. ``skipped`` maps a rule id to
    the reason it was skipped.
    """

    n_rows: int
    broken_rows: int
    outcomes: tuple[RuleOutcome, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """Share of rows that break at least one rule, in [0, 1]."""
        return self.broken_rows / self.n_rows

    def as_details(self) -> dict[str, Any]:
        """Return the report as plain dicts and numbers, for ``MetricResult.details``."""
        per_rule = {
            outcome.rule_id: {
                "text": outcome.text,
                "unit": outcome.unit,
                "source": outcome.source,
                "checked": outcome.checked,
                "broken": outcome.broken,
                "missing": outcome.missing,
                "first_broken_rows": list(outcome.first_broken_rows),
            }
            for outcome in self.outcomes
        }
        return {
            "n_rows": self.n_rows,
            "broken_rows": self.broken_rows,
            "per_rule": per_rule,
            "skipped": dict(self.skipped),
        }


def evaluate_rules(frame: pd.DataFrame, rules: Sequence[Rule]) -> PlausibilityReport:
    """Check every row of ``frame`` against each rule whose columns are all in ``frame``.

    ``frame`` has at least one row and no repeated column names among the rule columns.
    ``rules`` are instances of the classes in :data:`ehrbench.datasets.rules.RULE_TYPES` with
    distinct ``rule_id`` values. The module docstring gives the rules of evaluation.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise ValueError("frame: the table has 0 rows; pass a table with at least one row")
    rules = check_rules(rules)

    outcomes = []
    skipped = {}
    any_broken = np.zeros(len(frame), dtype=bool)
    for rule in rules:
        absent = [name for name in rule.columns if name not in frame.columns]
        if absent:
            skipped[rule.rule_id] = f"columns not in the table: {absent}"
            continue
        repeated = [name for name in rule.columns if np.sum(frame.columns == name) > 1]
        if repeated:
            raise ValueError(f"frame: columns {repeated} of rule {rule.rule_id!r} occur more than once")

        broken, missing = _EVALUATORS[type(rule)](rule, frame)
        any_broken |= broken
        outcomes.append(
            RuleOutcome(
                rule_id=rule.rule_id,
                text=rule.text,
                unit=rule.unit,
                source=rule.source,
                checked=int((~missing).sum()),
                broken=int(broken.sum()),
                missing=int(missing.sum()),
                first_broken_rows=tuple(int(i) for i in np.flatnonzero(broken)[:ROWS_SHOWN]),
            )
        )
    return PlausibilityReport(len(frame), int(any_broken.sum()), tuple(outcomes), skipped)


def check_rules(rules: object) -> tuple[Rule, ...]:
    """Return ``rules`` as a tuple, or raise when an item is not a rule or an id repeats."""
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
        raise TypeError(f"rules: expected a sequence of rules, got {type(rules).__name__}")
    for position, rule in enumerate(rules):
        if not isinstance(rule, RULE_TYPES):
            raise TypeError(
                f"rules: item {position} is a {type(rule).__name__}, not one of "
                f"{[kind.__name__ for kind in RULE_TYPES]} from ehrbench.datasets.rules"
            )
    ids = [rule.rule_id for rule in rules]
    repeated = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
    if repeated:
        raise ValueError(f"rules: rule ids {repeated} occur more than once; give each rule its own id")
    return tuple(rules)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return the values as float64 and a mask of present values that are not numbers."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    not_number = np.isnan(numbers) & values.notna().to_numpy()
    return numbers, not_number


def _check_range(rule: RangeRule, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    numbers, not_number = _numbers(frame[rule.column])
    missing = np.isnan(numbers) & ~not_number

    # Comparisons with NaN are False, so missing values never count as outside, and the
    # bounds are finite, so infinite values always do.
    outside = (numbers < rule.low) | (numbers > rule.high)
    if rule.integer:
        finite = np.isfinite(numbers)
        outside |= finite & (np.mod(numbers, 1.0, where=finite, out=np.zeros_like(numbers)) != 0.0)
    return outside | not_number, missing


def _evaluate_condition(condition: Condition, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return where ``condition`` holds and where its value is present."""
    values = frame[condition.column]
    if condition.numeric:
        numbers, not_number = _numbers(values)
        present = ~np.isnan(numbers) | not_number
        holds = np.isin(numbers, np.asarray(condition.values, dtype=float))
    else:
        present = values.notna().to_numpy()
        holds = present & values.map(lambda value: str(value) in condition.values).to_numpy(dtype=bool)
    return holds, present


def _check_implication(rule: ImplicationRule, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    premise, premise_present = _evaluate_condition(rule.premise, frame)
    conclusion, conclusion_present = _evaluate_condition(rule.conclusion, frame)
    checked = premise_present & (~premise | conclusion_present)
    broken = premise & conclusion_present & ~conclusion
    return broken, ~checked


def _check_distinct(rule: DistinctRule, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    first, second = frame[rule.column_a], frame[rule.column_b]
    checked = (first.notna() & second.notna()).to_numpy()
    equal = first.to_numpy(dtype=object) == second.to_numpy(dtype=object)
    return checked & equal, ~checked


def _check_order(rule: OrderRule, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    first, first_not_number = _numbers(frame[rule.column_a])
    second, second_not_number = _numbers(frame[rule.column_b])
    not_number = first_not_number | second_not_number
    missing = (np.isnan(first) | np.isnan(second)) & ~not_number
    return (first > second) | not_number, missing


def _check_category(rule: CategoryRule, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    values = frame[rule.column]
    present = values.notna().to_numpy()
    known = set(rule.categories)
    unknown = values.map(lambda value: str(value) not in known).to_numpy(dtype=bool)
    return present & unknown, ~present


_EVALUATORS = {
    RangeRule: _check_range,
    ImplicationRule: _check_implication,
    DistinctRule: _check_distinct,
    OrderRule: _check_order,
    CategoryRule: _check_category,
}


class PlausibilityViolations(Metric):
    """Share of synthetic rows that break at least one applicable plausibility rule.

    Range [0, 1], lower is better. The rules are ``rules`` plus, when ``check_categories`` is
    true, one :class:`~ehrbench.datasets.rules.CategoryRule` per categorical schema column.
    Rules whose columns are not all in the schema are skipped and listed in
    ``details["skipped"]``. ``details["per_rule"]`` gives the counts of each applied rule
    (see :meth:`PlausibilityReport.as_details`), and ``details["real_share"]`` the same share
    on the real table for comparison. The result is unscored when no rule applies.

    Tables from :func:`ehrbench.parsing.validity.validate_answers` hold only values within the
    training range and categories. For them category rules never fire, and range rules fire
    only where the training range itself exceeds a bound (``pafi1``, ``alb1``, ``hema1`` and
    ``wtkilo1`` of RHC, ``urine`` of the eICU demo). The metric matters most for logical rules and for generators
    that bypass that validation.
    """

    name = "plausibility_violations"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0

    def __init__(self, rules: Sequence[Rule], check_categories: bool = True) -> None:
        self.rules = check_rules(rules)
        self.check_categories = bool(check_categories)

    @classmethod
    def for_dataset(cls, name: str, check_categories: bool = True) -> PlausibilityViolations:
        """Return the metric with the declared rules of dataset ``name`` ("rhc" or "eicu")."""
        return cls(rules_for_dataset(name), check_categories)

    def rules_for(self, schema: TableSchema) -> tuple[Rule, ...]:
        """Return the rules checked under ``schema``: the declared ones and the category rules."""
        extra = category_rules(schema) if self.check_categories else ()
        return check_rules(self.rules + extra)

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        rules = self.rules_for(schema)
        report = evaluate_rules(synthetic, rules)
        details = report.as_details()
        if not report.outcomes:
            return self.unscored(
                f"none of the {len(rules)} rules applies to the schema columns", **details
            )

        details["real_share"] = evaluate_rules(real, rules).share
        reason = ""
        if report.skipped:
            reason = f"{len(report.skipped)} rules skipped because their columns are not in the schema"
        return MetricResult(self.name, report.share, reason=reason, details=details)
