"""Pairwise fidelity quantities of two tables, computed for many column pairs at once.

Two quantities are computed per unordered pair of columns:

- Correlation difference: ``|r_real - r_synthetic|`` of the Pearson correlations, by the
  rules of :class:`~ehrbench.metrics.correlation.CorrelationDifference` (pairwise complete
  finite rows, at least ``MIN_PAIRED_ROWS`` of them, no constant column). Range [0, 2],
  lower is better. SDMetrics' ``CorrelationSimilarity`` (Pearson) is ``1 - difference / 2``.
- Contingency difference: the total variation distance between the normalised contingency
  tables of the pair in the two tables. Every distinct value is a category, and a missing
  value is one more category. Range [0, 1], lower is better. SDMetrics'
  ``ContingencySimilarity`` (sdmetrics 0.32, no subsampling, no association threshold) is
  ``1 - difference``.

:func:`correlation_differences` and :func:`contingency_differences` give, per pair, the same
values as the one-pair functions (:func:`~ehrbench.metrics.correlation.pearson` and
:func:`contingency_difference`) up to floating-point rounding. They replace per-pair pandas
work by a few matrix products and one ``numpy.bincount`` per pair.

Inputs follow the conventions of :mod:`ehrbench.schema`: numeric and binary columns are
float64 with NaN for missing, categorical columns are object dtype holding ``str``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ehrbench.metrics.correlation import MIN_PAIRED_ROWS, pearson
from ehrbench.metrics.kl_divergence import numeric_cut_points

#: A pair is recomputed by :func:`~ehrbench.metrics.correlation.pearson` when the centred
#: sum of squares of a column on the pair's rows is below this fraction of its uncentred
#: sum of squares. Below that limit, the one-pass sums of :func:`correlation_differences`
#: would lose up to a factor ``1 / CONDITION_LIMIT`` more relative precision than the
#: per-pair computation. The tests compare the two within 1e-9.
CONDITION_LIMIT = 1e-2


@dataclass(frozen=True)
class CorrelationDifferences:
    """Per-pair correlation differences of two tables.

    ``per_pair`` maps ``"a|b"`` (schema order) to ``|r_real - r_synthetic|`` in [0, 2].
    ``skipped`` maps the other pairs to a reason that starts with ``real:`` or
    ``synthetic:``, worded as in :class:`~ehrbench.metrics.correlation.CorrelationDifference`.
    """

    per_pair: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def n_skipped_real(self) -> int:
        """Number of pairs skipped because of the real table."""
        return sum(reason.startswith("real:") for reason in self.skipped.values())


def correlation_differences(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str]
) -> CorrelationDifferences:
    """Return ``|r_real - r_synthetic|`` for every unordered pair of ``columns``.

    ``columns`` must be numeric columns of both frames. Pairs follow
    ``itertools.combinations(columns, 2)``. The values and skip reasons equal those of
    :class:`~ehrbench.metrics.correlation.CorrelationDifference` on the same columns.
    """
    tables = {"real": real, "synthetic": synthetic}
    _check_frames(tables, columns)
    _check_numeric(tables, columns)
    names = list(columns)
    r_real, real_reasons = _correlation_matrix(real[names].to_numpy(dtype=float))
    r_synthetic, synthetic_reasons = _correlation_matrix(synthetic[names].to_numpy(dtype=float))

    per_pair: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for i, j in itertools.combinations(range(len(names)), 2):
        key = f"{names[i]}|{names[j]}"
        if (i, j) in real_reasons:
            skipped[key] = f"real: {real_reasons[(i, j)]}"
        elif (i, j) in synthetic_reasons:
            skipped[key] = f"synthetic: {synthetic_reasons[(i, j)]}"
        else:
            per_pair[key] = float(abs(r_real[i, j] - r_synthetic[i, j]))
    return CorrelationDifferences(per_pair, skipped)


def _correlation_matrix(values: np.ndarray) -> tuple[np.ndarray, dict[tuple[int, int], str]]:
    """Return the (k, k) correlations of the columns of ``values`` and the reasons for NaN ones."""
    finite = np.isfinite(values)
    weights = finite.astype(float)
    n_finite = weights.sum(axis=0)

    # Centring each column on the mean of its finite values keeps the one-pass sums below
    # precise. Non-finite cells become 0, so they drop out of every product.
    with np.errstate(all="ignore"):
        centre = np.where(n_finite > 0, np.where(finite, values, 0.0).sum(axis=0) / n_finite, 0.0)
        centred = np.where(finite, values - centre, 0.0)

        # The products run on one BLAS thread. With OpenBLAS 0.3.31 on a loaded 2-core
        # machine, its threaded general product of a (47, 10000) by a (10000, 47)
        # matrix took 0.22 s against 2 ms on one thread.
        with threadpool_limits(limits=1, user_api="blas"):
            n_rows = weights.T @ weights
            sums = centred.T @ weights
            squares = (centred * centred).T @ weights
            products = centred.T @ centred

        # Entry [i, j] describes column i on the rows where both i and j are finite.
        spreads = squares - sums * sums / n_rows
        covariances = products - sums * sums.T / n_rows
        r = covariances / np.sqrt(spreads * spreads.T)

    well_conditioned = (
        np.isfinite(r)
        & (n_rows >= MIN_PAIRED_ROWS)
        & (spreads > CONDITION_LIMIT * squares)
        & (spreads.T > CONDITION_LIMIT * squares.T)
    )
    r = np.clip(r, -1.0, 1.0)

    # Pairs that are too short, constant, overflowing or ill-conditioned for the one-pass
    # formula are recomputed one at a time, which also gives the reason for a skipped pair.
    reasons = {}
    k = values.shape[1]
    for i, j in itertools.combinations(range(k), 2):
        if well_conditioned[i, j]:
            continue
        value, reason = pearson(values[:, i], values[:, j])
        if value is None:
            reasons[(i, j)] = reason
            value = np.nan
        r[i, j] = r[j, i] = value
    np.fill_diagonal(r, np.nan)
    return r, reasons


def contingency_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, column_a: str, column_b: str
) -> float:
    """Return the total variation distance of the contingency tables of two columns.

    Each table's counts of the value pairs ``(a, b)`` are divided by its row count, and the
    result is ``0.5 * sum |p_real - p_synthetic|`` over the pairs seen in either table.
    Missing values form one more category per column. Range [0, 1], lower is better:
    0 means identical joint frequencies, 1 means no value pair in common.
    """
    _check_frames({"real": real, "synthetic": synthetic}, [column_a, column_b])
    if column_a == column_b:
        raise ValueError(f"column_b: expected a column other than column_a, got {column_b!r} twice")

    pair = [column_a, column_b]
    real_frequencies = real.groupby(pair, dropna=False).size() / len(real)
    synthetic_frequencies = synthetic.groupby(pair, dropna=False).size() / len(synthetic)
    index = real_frequencies.index.union(synthetic_frequencies.index, sort=False)
    real_frequencies = real_frequencies.reindex(index, fill_value=0.0)
    synthetic_frequencies = synthetic_frequencies.reindex(index, fill_value=0.0)
    return _clip_unit(0.5 * np.abs(real_frequencies - synthetic_frequencies).sum())


def contingency_differences(
    real: pd.DataFrame, synthetic: pd.DataFrame, pairs: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """Return :func:`contingency_difference` for each ``(a, b)`` of ``pairs``, keyed ``"a|b"``.

    Each column is encoded once into integer codes shared by both tables, and each pair's
    contingency table is one ``numpy.bincount`` of the combined codes.
    """
    pairs = [tuple(pair) for pair in pairs]
    bad = [pair for pair in pairs if len(pair) != 2 or pair[0] == pair[1]]
    if bad:
        raise ValueError(f"pairs: expected (column_a, column_b) with two different columns, got {bad[:3]}")
    names = sorted({name for pair in pairs for name in pair})
    _check_frames({"real": real, "synthetic": synthetic}, names)

    codes = {name: _shared_codes(real[name], synthetic[name]) for name in names}
    differences = {}
    for first, second in pairs:
        real_a, synthetic_a, size_a = codes[first]
        real_b, synthetic_b, size_b = codes[second]
        n_cells = size_a * size_b
        real_counts = np.bincount(real_a * size_b + real_b, minlength=n_cells)
        synthetic_counts = np.bincount(synthetic_a * size_b + synthetic_b, minlength=n_cells)
        gap = real_counts / len(real) - synthetic_counts / len(synthetic)
        differences[f"{first}|{second}"] = _clip_unit(0.5 * np.abs(gap).sum())
    return differences


def _clip_unit(value: float) -> float:
    # Sums of frequencies can exceed 1 by a rounding error such as 2e-16.
    return float(min(max(value, 0.0), 1.0))


def _shared_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Encode two columns with one code per distinct value and the last code for missing."""
    combined = pd.concat([real, synthetic], ignore_index=True)
    codes, uniques = pd.factorize(combined, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes).astype(np.int64)
    return codes[: len(real)], codes[len(real) :], len(uniques) + 1


def bin_numeric_columns(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace ``columns`` of both tables by their decile bin of the real column.

    The bins are those of :mod:`ehrbench.metrics.kl_divergence` (cut points at the real
    deciles, outer bins open to +/-inf). A bin is stored as a float index from 0 to at most
    9 (ties in the real column merge bins), and a missing value stays NaN. Other columns are copied unchanged. The result feeds
    :func:`contingency_differences` for pairs of a numeric and a categorical column.
    """
    tables = {"real": real, "synthetic": synthetic}
    _check_frames(tables, columns)
    _check_numeric(tables, columns)
    real_binned = real.copy()
    synthetic_binned = synthetic.copy()
    for name in columns:
        cut_points = numeric_cut_points(real[name])
        real_binned[name] = _bin_index(real[name], cut_points)
        synthetic_binned[name] = _bin_index(synthetic[name], cut_points)
    return real_binned, synthetic_binned


def _bin_index(values: pd.Series, cut_points: np.ndarray) -> np.ndarray:
    array = values.to_numpy(dtype=float)
    bins = np.searchsorted(cut_points, array, side="right").astype(float)
    return np.where(np.isnan(array), np.nan, bins)


def _check_frames(tables: dict[str, object], columns: Sequence[str]) -> None:
    """Raise unless each table is a DataFrame with rows and exactly one of each of ``columns``."""
    for argument, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{argument}: expected a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            raise ValueError(f"{argument}: the table has 0 rows; pass a table with at least one row")

        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise KeyError(f"{argument}: missing the columns {missing}; it has {list(frame.columns)}")
        duplicated = sorted({name for name in columns if list(frame.columns).count(name) > 1})
        if duplicated:
            raise ValueError(f"{argument}: duplicate columns {duplicated}; rename them")


def _check_numeric(tables: dict[str, pd.DataFrame], columns: Sequence[str]) -> None:
    for argument, frame in tables.items():
        not_numeric = [name for name in columns if not pd.api.types.is_numeric_dtype(frame[name])]
        if not_numeric:
            raise TypeError(
                f"{argument}: columns {not_numeric} are not numeric; convert the table with "
                "ehrbench.schema.coerce_frame first"
            )
