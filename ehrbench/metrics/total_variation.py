"""Total variation distance of the categorical and binary columns.

For one column with category frequencies ``p`` (real) and ``q`` (synthetic)::

    TV = 0.5 * sum over categories c of |p(c) - q(c)|

The categories are those seen in either table, and missing values count as one more
category, so a generator that leaves a column empty is scored by how often the real column
is missing. Frequencies are relative to all rows of each table. The metric is the mean of TV
over the categorical and binary columns, label included.

Range [0, 1], lower is better: 0 means identical frequencies, 1 means no category in common.

Relation to SDMetrics: its ``TVComplement`` (sdmetrics/single_column/statistical/
tv_complement.py) returns ``1 - TV`` but drops missing values first, and it adds 1e-6 to the
real count of every category that only the synthetic column has. So ``1 - TotalVariation``
equals the mean TVComplement only when neither table has missing values in these columns,
and then up to about 1e-6 per synthetic-only category.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ehrbench.metrics.base import Metric, MetricResult
from ehrbench.schema import TableSchema


def count_categories(real: pd.Series, synthetic: pd.Series) -> tuple[list, np.ndarray, np.ndarray]:
    """Count each category of two columns, with missing values as the last category.

    Returns the category labels (the sorted categories seen in either column, then None for
    missing) and two integer arrays of counts aligned with them. The missing category is
    always present, with a count of 0 when neither column has missing values.
    """
    real_counts = real.value_counts(dropna=True)
    synthetic_counts = synthetic.value_counts(dropna=True)
    categories = sorted(set(real_counts.index) | set(synthetic_counts.index))

    real_array = np.append(
        real_counts.reindex(categories, fill_value=0).to_numpy(dtype=np.int64),
        int(real.isna().sum()),
    )
    synthetic_array = np.append(
        synthetic_counts.reindex(categories, fill_value=0).to_numpy(dtype=np.int64),
        int(synthetic.isna().sum()),
    )
    return [*categories, None], real_array, synthetic_array


def total_variation(real: pd.Series, synthetic: pd.Series) -> float:
    """Return the total variation distance of the category frequencies of two columns.

    Both columns must be non-empty. The result lies in [0, 1].
    """
    _, real_counts, synthetic_counts = count_categories(real, synthetic)
    real_frequencies = real_counts / real_counts.sum()
    synthetic_frequencies = synthetic_counts / synthetic_counts.sum()
    return float(0.5 * np.abs(real_frequencies - synthetic_frequencies).sum())


class TotalVariation(Metric):
    """Mean total variation distance of the categorical and binary columns.

    Range [0, 1], lower is better. ``details["per_column"]`` maps each column to its distance.
    """

    name = "total_variation"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0
    kinds = ("binary", "categorical")

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        per_column = {name: total_variation(real[name], synthetic[name]) for name in columns}
        value = float(np.mean(list(per_column.values())))
        return MetricResult(
            self.name,
            value,
            details={"per_column": per_column, "n_columns": len(per_column)},
        )
