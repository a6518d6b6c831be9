"""Mean per-column Kullback-Leibler divergence KL(real || synthetic).

Estimator, per column:

1. Bins.

   - Numeric columns: the cut points are the distinct quantiles of the real column's finite
     values at levels 0.1, 0.2, ..., 0.9 (``numpy.quantile``, linear interpolation). Each
     bin is ``[c_i, c_i+1)`` with ``c_0 = -inf`` and a last edge of ``+inf``, so every
     synthetic value falls in some bin. There are at most 10 bins, and each contains about
     10% of the real values when the column has no ties. +inf counts into the last bin
     and -inf into the first one. Ties merge cut points: a real column whose values are all ``c``
     gets the two bins ``(-inf, c)`` and ``[c, +inf)``. A real column without finite values
     gets one bin for all numbers.
   - Binary and categorical columns: one bin per category seen in either table.
   - Every column has one more bin for missing values, even when neither table has any.

2. Smoothing: 0.5 is added to the count of every bin of both tables, so that no synthetic
   bin has probability 0 and the divergence stays finite.

3. Divergence: ``scipy.stats.entropy(p, q)`` with ``p`` the smoothed real counts and ``q``
   the smoothed synthetic counts (entropy normalises both), in nats.

The metric is the mean over all schema columns, label included. Range [0, inf), lower is
better. Identical tables score exactly 0. Tables with the same frequencies but different row
counts score slightly above 0 because the smoothing weighs more in the smaller table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import entropy

from ehrbench.metrics.base import Metric, MetricResult, count_infinite
from ehrbench.metrics.total_variation import count_categories
from ehrbench.schema import ColumnKind, TableSchema

#: Maximum number of bins of a numeric column (without the missing bin).
N_BINS = 10

#: Pseudo-count added to every bin of both tables before normalising.
SMOOTHING = 0.5


def numeric_cut_points(real: pd.Series) -> np.ndarray:
    """Return the distinct real quantiles at levels 1/N_BINS, ..., (N_BINS - 1)/N_BINS.

    Quantiles are taken over the finite values. The array is empty when there are none.
    """
    values = real.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.empty(0)
    levels = np.arange(1, N_BINS) / N_BINS
    return np.unique(np.quantile(values, levels))


def count_numeric_bins(values: pd.Series, cut_points: np.ndarray) -> np.ndarray:
    """Count the values of a float column in the bins of ``cut_points``, missing bin last.

    Returns ``len(cut_points) + 2`` counts. Bin ``i`` contains the values ``v`` with
    ``cut_points[i-1] <= v < cut_points[i]``, where +/-inf fall into the outer bins.
    """
    array = values.to_numpy(dtype=float)
    missing = np.isnan(array)
    bins = np.searchsorted(cut_points, array[~missing], side="right")
    counts = np.bincount(bins, minlength=len(cut_points) + 1)
    return np.append(counts, int(missing.sum()))


def column_kl_divergence(real: pd.Series, synthetic: pd.Series, kind: ColumnKind) -> float:
    """Return KL(real || synthetic) of one column in nats, by the estimator of this module.

    ``real`` and ``synthetic`` must follow the dtype conventions of :mod:`ehrbench.schema`
    for ``kind``. Either may be empty of values, but not of rows.
    """
    if kind == "numeric":
        cut_points = numeric_cut_points(real)
        real_counts = count_numeric_bins(real, cut_points)
        synthetic_counts = count_numeric_bins(synthetic, cut_points)
    else:
        _, real_counts, synthetic_counts = count_categories(real, synthetic)

    return float(entropy(real_counts + SMOOTHING, synthetic_counts + SMOOTHING))


class KLDivergence(Metric):
    """Mean per-column KL(real || synthetic) over all schema columns, in nats.

    Range [0, inf), lower is better. ``details["per_column"]`` maps each column to its
    divergence, and ``details["infinite_values"]`` counts +/-inf synthetic values per column
    (they are scored in the outer bins, see the module docstring).
    """

    name = "kl_divergence"
    goal = "minimize"
    min_value = 0.0
    max_value = float("inf")
    kinds = ("numeric", "binary", "categorical")

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        per_column = {}
        infinite_values = {}
        for name in columns:
            kind = schema[name].kind
            per_column[name] = column_kl_divergence(real[name], synthetic[name], kind)
            if kind == "numeric" and count_infinite(synthetic[name]):
                infinite_values[name] = count_infinite(synthetic[name])

        value = float(np.mean(list(per_column.values())))
        details = {
            "per_column": per_column,
            "n_columns": len(per_column),
            "infinite_values": infinite_values,
        }
        return MetricResult(self.name, value, details=details)
