"""Mean two-sample Kolmogorov-Smirnov statistic of the numeric columns.

Per numeric column, the statistic is ``scipy.stats.ks_2samp(real, synthetic).statistic`` on
the finite values of each table: the maximum distance between the two empirical cumulative
distribution functions. It is computed with ``method="asymp"``: the statistic does not depend on
the method, and the exact p-value that scipy otherwise computes below 10,000 values is not used. Missing values and +/-inf are left out and counted in ``details``,
and the reason of a scored result names the columns with infinite values. Missingness itself
is scored by :class:`~ehrbench.metrics.kl_divergence.KLDivergence`.

Range [0, 1], lower is better. The metric is ``1 - KSComplement`` of SDMetrics
(sdmetrics/single_column/statistical/kscomplement.py) averaged over the same columns. The
two agree as long as no synthetic value is infinite, because KSComplement drops only
missing values. It also rounds values to 14 decimals, which can change ties.

Column rules: a column without finite real values is skipped and listed in
``details["skipped"]``. A column without finite synthetic values makes the whole metric
unscored (``value=None``), because averaging over the remaining columns would reward a
generator for leaving a column empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ehrbench.metrics.base import Metric, MetricResult, count_infinite, finite_values
from ehrbench.schema import TableSchema


class KSStatistic(Metric):
    """Mean Kolmogorov-Smirnov statistic over the numeric columns.

    Range [0, 1], lower is better. ``details`` contains ``per_column`` statistics, the
    ``skipped`` columns with reasons and, per column, the synthetic values left out because
    they were ``missing_values`` or ``infinite_values``.
    """

    name = "ks_statistic"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0
    kinds = ("numeric",)

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        per_column: dict[str, float] = {}
        skipped: dict[str, str] = {}
        unscored: dict[str, str] = {}
        for name in columns:
            real_values = finite_values(real[name])
            synthetic_values = finite_values(synthetic[name])
            if real_values.size == 0:
                skipped[name] = "the real column has no finite values"
            elif synthetic_values.size == 0:
                unscored[name] = "the synthetic column has no finite values"
            else:
                # Only the statistic is used; the asymptotic p-value divides by zero for tiny samples.
                with np.errstate(divide="ignore", invalid="ignore"):
                    per_column[name] = float(ks_2samp(real_values, synthetic_values, method="asymp").statistic)

        details = {
            "per_column": per_column,
            "n_columns": len(per_column),
            "skipped": {**skipped, **unscored},
            "missing_values": _count_nonzero(synthetic[columns].isna().sum()),
            "infinite_values": _count_nonzero(
                pd.Series({name: count_infinite(synthetic[name]) for name in columns})
            ),
        }

        if unscored:
            reason = "; ".join(f"column {name!r}: {text}" for name, text in unscored.items())
            return self.unscored(reason, **details)
        if not per_column:
            return self.unscored("no numeric column has finite real values", **details)

        notes = []
        if skipped:
            notes.append(f"skipped columns without finite real values: {sorted(skipped)}")
        if details["infinite_values"]:
            notes.append(f"left out infinite synthetic values: {details['infinite_values']}")
        reason = "; ".join(notes)
        value = float(np.mean(list(per_column.values())))
        return MetricResult(self.name, value, reason, details=details)


def _count_nonzero(counts: pd.Series) -> dict[str, int]:
    return {str(name): int(count) for name, count in counts.items() if count}
