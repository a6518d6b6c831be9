"""Fairness: how evenly a synthetic table serves each demographic group.

A group is one value of one group column (RHC: ``race``, ``sex``; eICU: ``ethnicity``,
``gender``), such as ``race=black``. Groups are taken one column at a time.

- :func:`group_kl_divergence`: per group, the mean per-feature KL divergence
  KL(real group || synthetic group) of :class:`~ehrbench.metrics.kl_divergence.KLDivergence`
  over the other columns, as in Table 2 of Lin, Yu & Lee (CHIL 2025). The value is the largest
  per-group KL, the worst-served group. Range [0, inf), lower is better. It needs the group of
  each synthetic row: the group column in the synthetic table, or the group table that the
  generator returned beside it.
- :func:`group_auroc_gap`: per group, the AUROC of one model's predicted probabilities on the
  real test rows of that group. The value is the largest difference between the best and the
  worst group of one column. Range [0, 1], lower is better. It needs no group in the synthetic
  rows, because the groups are those of the real test rows.

A group with fewer real test rows than :data:`MIN_GROUP_REAL_ROWS`, or (AUROC only) fewer than
:data:`MIN_GROUP_EVENTS` rows of either outcome class, is reported in
``details["summary"]["too_few_rows"]`` and not scored. The groups are chosen on the real rows
alone, so a generator cannot improve its worst group by leaving a group out. A group with few
synthetic rows gets the large KL that few rows give. A group with none makes the KL criterion
unscored, and the reason names the group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ehrbench.metrics.base import MetricResult, find_table_problems
from ehrbench.metrics.kl_divergence import KLDivergence
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Real test rows a group needs to be scored.
MIN_GROUP_REAL_ROWS = 30

#: Real test rows of each outcome class a group needs for its AUROC.
MIN_GROUP_EVENTS = 5


def group_name(column: str, value: object) -> str:
    """Return the name of a group as reports show it: ``race=black``."""
    return f"{column}={value}"


def group_kl_divergence(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    synthetic_groups: pd.DataFrame,
    schema: TableSchema,
    group_columns: Sequence[str],
) -> MetricResult:
    """Return the largest per-group KL divergence of ``synthetic`` against ``real``.

    ``real`` contains the schema columns and every group column. ``synthetic`` contains the schema
    columns, and ``synthetic_groups`` the group columns with one row per synthetic row, matched
    by position. The KL is taken over the schema columns that are not group columns.
    ``details["summary"]`` holds the KL of every scored group and the row counts of the groups
    that were too small.

    An invalid ``synthetic`` table (see :mod:`ehrbench.metrics.base`) gives ``value=None`` and
    a reason. Raises TypeError or ValueError when ``synthetic_groups`` is not a DataFrame,
    lacks a group column or has another row count.
    """
    name = "group_kl_worst"
    problems = find_table_problems(synthetic, schema, schema.names, argument="synthetic")
    if problems:
        reason = "invalid synthetic table: " + "; ".join(problems)
        logger.warning("metric %s could not be scored: %s", name, reason)
        return MetricResult(name, None, reason=reason, details={"problems": problems})
    _check_synthetic_groups(synthetic_groups, group_columns, len(synthetic))

    scored_columns = [column for column in schema.feature_names if column not in group_columns]
    kl_schema = schema.select(scored_columns)
    groups: dict[str, float] = {}
    too_few: dict[str, int] = {}
    unscored: dict[str, str] = {}
    absent: list[str] = []
    for column in group_columns:
        for value in sorted(real[column].dropna().unique(), key=str):
            group = group_name(column, value)
            real_rows = real[real[column] == value]
            synthetic_rows = synthetic[(synthetic_groups[column] == value).to_numpy()]
            if len(real_rows) < MIN_GROUP_REAL_ROWS:
                too_few[group] = len(real_rows)
            elif len(synthetic_rows) == 0:
                absent.append(group)
            else:
                result = KLDivergence().compute(real_rows[kl_schema.names], synthetic_rows[kl_schema.names], kl_schema)
                if result.scored:
                    groups[group] = float(result.value)
                else:
                    unscored[group] = result.reason

    # Rows without a group value belong to no group; they are counted so that none is lost unseen.
    without_group = {
        column: {"real": int(real[column].isna().sum()), "synthetic": int(synthetic_groups[column].isna().sum())}
        for column in group_columns
    }
    summary: dict[str, Any] = {"groups": groups, "too_few_rows": too_few, "absent": absent, "without_group": without_group}
    details = {"summary": summary, "unscored": unscored, "columns": scored_columns}
    if absent:
        reason = f"the synthetic table has no row of the groups {absent}, which have enough real rows"
        return MetricResult(name, None, reason=reason, details=details)
    if not groups:
        return MetricResult(name, None, reason=_no_group_reason(too_few, unscored), details=details)
    worst = max(groups, key=groups.get)
    summary["worst_group"] = worst
    return MetricResult(name, groups[worst], details=details)


def _check_synthetic_groups(synthetic_groups: object, group_columns: Sequence[str], n_rows: int) -> None:
    if not isinstance(synthetic_groups, pd.DataFrame):
        raise TypeError(f"synthetic_groups: expected a pandas DataFrame, got {type(synthetic_groups).__name__}")
    missing = [column for column in group_columns if column not in synthetic_groups.columns]
    if missing:
        raise ValueError(
            f"synthetic_groups: missing the group columns {missing}; its columns are {list(synthetic_groups.columns)}"
        )
    if len(synthetic_groups) != n_rows:
        raise ValueError(
            f"synthetic_groups: expected one row per synthetic row ({n_rows}), got {len(synthetic_groups)} rows"
        )


def group_aurocs(
    labels: np.ndarray, probabilities: np.ndarray, real: pd.DataFrame, group_columns: Sequence[str]
) -> tuple[dict[str, float], dict[str, int]]:
    """Return the AUROC of each group with enough rows, and the row counts of the others.

    ``labels`` (0/1) and ``probabilities`` have one entry per row of ``real``, in its order.
    """
    if len(labels) != len(real) or len(probabilities) != len(real):
        raise ValueError(
            f"labels and probabilities: expected one value per row of real ({len(real)}), got "
            f"{len(labels)} labels and {len(probabilities)} probabilities"
        )
    aurocs: dict[str, float] = {}
    too_few: dict[str, int] = {}
    for column in group_columns:
        values = real[column].to_numpy(dtype=object)
        for value in sorted(real[column].dropna().unique(), key=str):
            member = values == value
            group = group_name(column, value)
            positives = int(labels[member].sum())
            negatives = int(member.sum()) - positives
            if member.sum() < MIN_GROUP_REAL_ROWS or min(positives, negatives) < MIN_GROUP_EVENTS:
                too_few[group] = int(member.sum())
            else:
                aurocs[group] = float(roc_auc_score(labels[member], probabilities[member]))
    return aurocs, too_few


def group_auroc_gap(
    labels: np.ndarray,
    probabilities: np.ndarray,
    real: pd.DataFrame,
    group_columns: Sequence[str],
    reference_probabilities: np.ndarray | None = None,
) -> MetricResult:
    """Return the largest best-minus-worst AUROC gap among the groups of one column.

    ``reference_probabilities`` (optional, TRTR) are scored the same way and reported in
    ``details["summary"]["reference_gaps"]`` for reading the gap against real data.
    """
    name = "group_auroc_gap"
    aurocs, too_few = group_aurocs(labels, probabilities, real, group_columns)
    gaps = _column_gaps(aurocs, group_columns)
    summary: dict[str, Any] = {"groups": aurocs, "gaps": gaps, "too_few_rows": too_few}
    if reference_probabilities is not None:
        reference, _ = group_aurocs(labels, reference_probabilities, real, group_columns)
        summary["reference_groups"] = reference
        summary["reference_gaps"] = _column_gaps(reference, group_columns)
    details = {"summary": summary}
    if not gaps:
        reason = "no group column has two groups with enough test rows: " + _describe(too_few)
        return MetricResult(name, None, reason=reason, details=details)
    return MetricResult(name, max(gaps.values()), details=details)


def _column_gaps(aurocs: dict[str, float], group_columns: Sequence[str]) -> dict[str, float]:
    gaps = {}
    for column in group_columns:
        values = [value for group, value in aurocs.items() if group.split("=", 1)[0] == column]
        if len(values) >= 2:
            gaps[column] = max(values) - min(values)
    return gaps


def _no_group_reason(too_few: dict[str, int], unscored: dict[str, str]) -> str:
    parts = []
    if too_few:
        parts.append("too few rows: " + _describe(too_few))
    if unscored:
        parts.append("KL could not be scored: " + "; ".join(f"{group}: {why}" for group, why in unscored.items()))
    return "no group could be scored (" + "; ".join(parts or ["no group values"]) + ")"


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{group} (n={count})" for group, count in counts.items()) or "no groups"
