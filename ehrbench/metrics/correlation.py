"""Pairwise correlation difference of the numeric and binary columns.

For every unordered pair of numeric or binary columns (label included), the Pearson
correlation is computed in each table on the rows where both values are finite (pairwise
complete observations, so +/-inf counts as missing). The metric is the mean of
``|r_real - r_synthetic|`` over the pairs that could be scored in both tables.

A pair is skipped when, in either table, it has fewer than :data:`MIN_PAIRED_ROWS` complete
rows, one of its columns is constant on those rows (the correlation is undefined), or the
correlation is not finite (values too large for float64). Skipped pairs are listed in
``details["skipped"]``. Pairs that fail in the real table are not the generator's fault
and are counted in ``details["n_skipped_real"]``. Pairs that fail only in the synthetic
table are counted in ``details["n_skipped_synthetic"]``.

Range [0, 2], lower is better.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ehrbench.metrics.base import Metric, MetricResult
from ehrbench.schema import TableSchema

#: Minimum number of rows with both values finite for a correlation to be computed.
MIN_PAIRED_ROWS = 10

#: Skipped pairs quoted in the reason, with why each was skipped.
PAIRS_SHOWN = 3


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float | None, str]:
    """Return the Pearson correlation of the rows where both arrays are finite.

    Returns ``(r, "")`` with ``r`` in [-1, 1], or ``(None, reason)`` when the correlation
    is undefined for the reasons listed in the module docstring.
    """
    complete = np.isfinite(x) & np.isfinite(y)
    n_rows = int(complete.sum())
    if n_rows < MIN_PAIRED_ROWS:
        return None, f"{n_rows} rows with both values, fewer than {MIN_PAIRED_ROWS}"

    x, y = x[complete], y[complete]
    if np.all(x == x[0]) or np.all(y == y[0]):
        return None, "a column is constant on the rows with both values"

    with np.errstate(all="ignore"):
        r = float(np.corrcoef(x, y)[0, 1])
    if not np.isfinite(r):
        return None, "the correlation is not finite"
    return float(np.clip(r, -1.0, 1.0)), ""


class CorrelationDifference(Metric):
    """Mean absolute difference of the Pearson correlations of numeric and binary columns.

    Range [0, 2], lower is better. ``details`` contains ``per_pair`` differences keyed
    ``"a|b"``, the ``skipped`` pairs with reasons, and the counts ``n_pairs``, ``n_used``,
    ``n_skipped_real`` and ``n_skipped_synthetic``.
    """

    name = "correlation_difference"
    goal = "minimize"
    min_value = 0.0
    max_value = 2.0
    kinds = ("numeric", "binary")

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        if len(columns) < 2:
            return self.unscored(
                f"correlations need two numeric or binary columns, the schema has {columns}"
            )

        real_arrays = {name: real[name].to_numpy(dtype=float) for name in columns}
        synthetic_arrays = {name: synthetic[name].to_numpy(dtype=float) for name in columns}
        per_pair: dict[str, float] = {}
        skipped: dict[str, str] = {}
        n_skipped_real = 0
        for first, second in itertools.combinations(columns, 2):
            key = f"{first}|{second}"
            r_real, real_reason = pearson(real_arrays[first], real_arrays[second])
            if r_real is None:
                skipped[key] = f"real: {real_reason}"
                n_skipped_real += 1
                continue

            r_synthetic, synthetic_reason = pearson(
                synthetic_arrays[first], synthetic_arrays[second]
            )
            # NOTE: skipping lowers no score, so a generator that makes a column constant
            # escapes the penalty for that column's pairs. Check n_skipped_synthetic.
            if r_synthetic is None:
                skipped[key] = f"synthetic: {synthetic_reason}"
                continue
            per_pair[key] = abs(r_real - r_synthetic)

        details = {
            "per_pair": per_pair,
            "skipped": skipped,
            "n_pairs": len(per_pair) + len(skipped),
            "n_used": len(per_pair),
            "n_skipped_real": n_skipped_real,
            "n_skipped_synthetic": len(skipped) - n_skipped_real,
        }
        examples = "; ".join(f"{key!r} ({why})" for key, why in list(skipped.items())[:PAIRS_SHOWN])
        if not per_pair:
            return self.unscored(f"all {len(skipped)} column pairs were skipped, e.g. {examples}", **details)

        reason = ""
        if skipped:
            reason = (
                f"skipped {n_skipped_real} pairs for the real table and "
                f"{len(skipped) - n_skipped_real} for the synthetic table, e.g. {examples}"
            )
        value = float(np.mean(list(per_pair.values())))
        return MetricResult(self.name, value, reason, details=details)
