"""Diversity of a synthetic table: repeated rows, near duplicates and coverage of the real table.

Rows are compared by their normalised key, the same key that
:func:`ehrbench.parsing.validity.training_row_keys` uses to find copies of training rows:
numbers rounded to 6 significant digits, categories as str, missing values as None. Two rows
are exact duplicates when their keys over the scored columns are equal.

- :class:`DuplicateRowShare`: share of rows that repeat an earlier row. Range [0, 1), lower is
  better.
- :class:`NearDuplicateShare`: share of rows whose nearest other row is closer than the 5th
  percentile of the same distance among real rows. Range [0, 1], lower is better, and a table
  as diverse as the real one scores about 0.05.
- :class:`CategoryCoverage`: share of the real categories (and binary values) that occur in
  the synthetic column, averaged over columns. Range [0, 1], higher is better.
- :class:`RangeCoverage`: share of the real [1st, 99th] percentile interval that the synthetic
  [minimum, maximum] covers, averaged over numeric columns. Range [0, 1], higher is better.
- :class:`LateRepetition`: repeat share of the second half of the rows minus that of the first
  half. Range [-1, 1], lower is better, about 0 without a trend (see the class).

The row order matters only for :class:`LateRepetition`. It is the order of generation for
tables from :func:`ehrbench.parsing.validity.validate_answers`, which keeps the order of the
answers and of the rows within each answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from numbers import Integral

import numpy as np
import pandas as pd

from ehrbench.metrics.base import Metric, MetricResult, count_infinite, finite_values, order_by_content
from ehrbench.metrics.distance import fit_scales, nearest_distances
from ehrbench.parsing._values import category_key, number_key
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Percentiles of the real values that bound the interval :class:`RangeCoverage` measures.
COVERAGE_PERCENTILES = (1.0, 99.0)

#: Percentile of the real nearest-other-row distances below which a row is a near duplicate.
NEAR_DUPLICATE_PERCENTILE = 5.0

#: Maximum rows drawn from each table for the near-duplicate search. It bounds the quadratic
#: time of the search and keeps the two tables at equal size.
MAX_NEAR_DUPLICATE_ROWS = 1000

#: Minimum rows of a segment that :class:`LateRepetition` uses (two per half).
MIN_SEGMENT_ROWS = 4


def row_keys(frame: pd.DataFrame, schema: TableSchema, columns: Sequence[str]) -> list[tuple]:
    """Return the normalised key of every row of ``frame`` over ``columns``, in row order.

    ``frame`` follows :mod:`ehrbench.schema` (numbers as float, categories as str or NaN).
    """
    normalised = []
    for name in columns:
        if schema[name].kind == "categorical":
            normalised.append([category_key(value) for value in frame[name]])
        else:
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            normalised.append([number_key(value) for value in values])
    return list(zip(*normalised))


def count_repeats(keys: Sequence[tuple]) -> int:
    """Return how many keys equal an earlier key of ``keys``."""
    return len(keys) - len(set(keys))


class DuplicateRowShare(Metric):
    """Share of synthetic rows whose key repeats an earlier row's key, over all schema columns.

    Range [0, 1), lower is better. ``details`` contains ``n_rows``, ``n_unique_rows``,
    ``max_copies`` (rows of the most frequent key) and ``real_share``, the same share on the
    real table.
    """

    name = "duplicate_row_share"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0

    def score(
        self, real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, columns: list[str]
    ) -> MetricResult:
        keys = row_keys(synthetic, schema, columns)
        repeats = count_repeats(keys)
        real_keys = row_keys(real, schema, columns)
        details = {
            "n_rows": len(keys),
            "n_unique_rows": len(keys) - repeats,
            "max_copies": max(Counter(keys).values()),
            "real_share": count_repeats(real_keys) / len(real_keys),
        }
        return MetricResult(self.name, repeats / len(keys), details=details)


class NearDuplicateShare(Metric):
    """Share of synthetic rows that have a near duplicate among the other synthetic rows.

    Range [0, 1], lower is better. The distance is the mixed-type distance of
    :mod:`ehrbench.metrics.distance` with scales fitted on the real table. A synthetic row is a
    near duplicate when the distance to its nearest other synthetic row is at most the
    :data:`NEAR_DUPLICATE_PERCENTILE` percentile of the nearest-other-row distances of the real
    rows. Exact duplicates count too. Nearest-neighbour distances shrink as a table grows, so
    both tables are first reduced to the same number of rows, at most
    :data:`MAX_NEAR_DUPLICATE_ROWS`, by a draw seeded with ``seed``. Both tables need at least
    2 rows. A synthetic table as diverse as the real one scores about 0.05, or more when many
    real distances tie at the percentile.
    """

    name = "near_duplicate_share"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        self.seed = int(seed)

    def score(
        self, real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, columns: list[str]
    ) -> MetricResult:
        n_rows = min(len(real), len(synthetic), MAX_NEAR_DUPLICATE_ROWS)
        if n_rows < 2:
            return self.unscored(
                f"near duplicates need at least 2 rows in each table, got {len(real)} real "
                f"and {len(synthetic)} synthetic rows"
            )

        rng = np.random.default_rng(self.seed)
        real_sample = _draw_rows(real, n_rows, rng)
        synthetic_sample = _draw_rows(synthetic, n_rows, rng)
        scales = fit_scales(real, schema)
        real_nearest = nearest_distances(real_sample, real_sample, schema, scales, k=2)[:, 1]
        synthetic_nearest = nearest_distances(synthetic_sample, synthetic_sample, schema, scales, k=2)[:, 1]

        threshold = float(np.percentile(real_nearest, NEAR_DUPLICATE_PERCENTILE))
        details = {
            "n_rows_compared": n_rows,
            "threshold": threshold,
            "real_share": float(np.mean(real_nearest <= threshold)),
            "median_nearest_distance": float(np.median(synthetic_nearest)),
            "real_median_nearest_distance": float(np.median(real_nearest)),
        }
        return MetricResult(self.name, float(np.mean(synthetic_nearest <= threshold)), details=details)


def _draw_rows(frame: pd.DataFrame, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n_rows`` rows from ``frame`` sorted by content, so the draw ignores row order."""
    if len(frame) <= n_rows:
        return frame.reset_index(drop=True)
    positions = np.sort(rng.choice(len(frame), size=n_rows, replace=False))
    return order_by_content(frame).iloc[positions].reset_index(drop=True)


class CategoryCoverage(Metric):
    """Share of the real categories that occur in the synthetic column, averaged over columns.

    Range [0, 1], higher is better. Categorical and binary columns are scored, a binary column
    having the categories 0 and 1 where the real table uses them. Missing values are not a
    category. A column without a present real value is skipped and listed in
    ``details["skipped"]``. ``details["per_column"]`` gives each coverage and
    ``details["absent_categories"]`` the real categories that the synthetic column lacks.
    """

    name = "category_coverage"
    goal = "maximize"
    min_value = 0.0
    max_value = 1.0
    kinds = ("binary", "categorical")

    def score(
        self, real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, columns: list[str]
    ) -> MetricResult:
        per_column: dict[str, float] = {}
        absent: dict[str, list] = {}
        skipped: dict[str, str] = {}
        for name in columns:
            real_categories = set(real[name].dropna())
            if not real_categories:
                skipped[name] = "the real column has no present values"
                continue
            missing = real_categories - set(synthetic[name].dropna())
            per_column[name] = 1.0 - len(missing) / len(real_categories)
            if missing:
                absent[name] = sorted(missing, key=str)

        details = {"per_column": per_column, "absent_categories": absent, "skipped": skipped}
        if not per_column:
            return self.unscored("no real column has a present value", **details)
        return MetricResult(self.name, float(np.mean(list(per_column.values()))), details=details)


class RangeCoverage(Metric):
    """Share of the real [1st, 99th] percentile interval that the synthetic values span.

    Range [0, 1], higher is better. Per numeric column, the coverage is the length of the
    intersection of the real interval (numpy's linear percentiles of the finite real values)
    with the synthetic [minimum, maximum], divided by the length of the real interval. When
    the real interval is a single point, the coverage is 1 if the synthetic range contains it,
    else 0. A synthetic column without finite values covers nothing (coverage 0). A real column
    without finite values is skipped. ``details`` contains ``per_column`` coverages, the
    ``skipped`` columns, and per column the synthetic ``infinite_values`` left out, which the
    reason also names.
    """

    name = "range_coverage"
    goal = "maximize"
    min_value = 0.0
    max_value = 1.0
    kinds = ("numeric",)

    def score(
        self, real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, columns: list[str]
    ) -> MetricResult:
        per_column: dict[str, float] = {}
        skipped: dict[str, str] = {}
        infinite: dict[str, int] = {}
        for name in columns:
            real_values = finite_values(real[name])
            if real_values.size == 0:
                skipped[name] = "the real column has no finite values"
                continue
            synthetic_values = finite_values(synthetic[name])
            if count_infinite(synthetic[name]):
                infinite[name] = count_infinite(synthetic[name])
            low, high = np.percentile(real_values, COVERAGE_PERCENTILES)
            per_column[name] = _interval_coverage(float(low), float(high), synthetic_values)

        details = {"per_column": per_column, "skipped": skipped, "infinite_values": infinite}
        if not per_column:
            return self.unscored("no real numeric column has a finite value", **details)
        reason = f"left out infinite synthetic values: {infinite}" if infinite else ""
        return MetricResult(self.name, float(np.mean(list(per_column.values()))), reason, details=details)


def _interval_coverage(low: float, high: float, values: np.ndarray) -> float:
    """Return the share of [low, high] that lies within [min(values), max(values)]."""
    if values.size == 0:
        return 0.0
    minimum, maximum = float(values.min()), float(values.max())
    if high == low:
        return 1.0 if minimum <= low <= maximum else 0.0
    covered = min(high, maximum) - max(low, minimum)
    return max(0.0, covered) / (high - low)


class LateRepetition(Metric):
    """Repeat share in the second half of the rows minus the repeat share in the first half.

    A row repeats when its key equals the key of an earlier row of the same half. Repeats are
    counted within each half because then rows in random order give both halves the same
    expected share. Counting repeats of any earlier row would favour the second half, which has
    more rows before it. The value is
    about 0 without a trend, positive when rows repeat more late in the output (as LLMs tend
    to do late in a long answer), and negative when they repeat more early. Range [-1, 1],
    lower is better.

    ``segment_sizes`` splits the rows into consecutive segments, for example the valid rows of
    each answer, so the halves are those of each answer and not of the whole table. Repeats
    and rows are then summed over the segments. Without it, the whole table is one segment.
    Segments of fewer than :data:`MIN_SEGMENT_ROWS` rows are left out and counted in
    ``details``. The sizes must add up to the number of synthetic rows, otherwise the result
    is unscored.

    NOTE: a row of the second half that repeats a row of the first half is not counted.
    """

    name = "late_repetition"
    goal = "minimize"
    min_value = -1.0
    max_value = 1.0

    def __init__(self, segment_sizes: Sequence[int] | None = None) -> None:
        if segment_sizes is not None:
            if isinstance(segment_sizes, (str, bytes)) or not isinstance(segment_sizes, Sequence):
                raise TypeError(
                    f"segment_sizes: expected a sequence of ints, got {type(segment_sizes).__name__}"
                )
            invalid = [size for size in segment_sizes
                       if isinstance(size, bool) or not isinstance(size, Integral) or size < 0]
            if invalid:
                raise ValueError(f"segment_sizes: expected non-negative ints, got {invalid}")
            segment_sizes = tuple(int(size) for size in segment_sizes)
        self.segment_sizes = segment_sizes

    def score(
        self, real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, columns: list[str]
    ) -> MetricResult:
        sizes = self.segment_sizes or (len(synthetic),)
        if sum(sizes) != len(synthetic):
            return self.unscored(
                f"segment_sizes add up to {sum(sizes)} rows but the synthetic table has "
                f"{len(synthetic)}; pass the row count of each answer in table order"
            )

        keys = row_keys(synthetic, schema, columns)
        counts = {"first_rows": 0, "first_repeats": 0, "second_rows": 0, "second_repeats": 0}
        short_segments = 0
        start = 0
        for size in sizes:
            segment = keys[start:start + size]
            start += size
            if size < MIN_SEGMENT_ROWS:
                short_segments += 1
                continue
            middle = size // 2
            counts["first_rows"] += middle
            counts["first_repeats"] += count_repeats(segment[:middle])
            counts["second_rows"] += size - middle
            counts["second_repeats"] += count_repeats(segment[middle:])

        details = {**counts, "segments": len(sizes), "short_segments": short_segments}
        if counts["first_rows"] == 0:
            return self.unscored(
                f"no segment has at least {MIN_SEGMENT_ROWS} rows (segments: {len(sizes)})", **details
            )
        details["first_share"] = counts["first_repeats"] / counts["first_rows"]
        details["second_share"] = counts["second_repeats"] / counts["second_rows"]
        return MetricResult(self.name, details["second_share"] - details["first_share"], details=details)


#: Diversity metrics that need no constructor arguments.
DIVERSITY_METRICS: tuple[type[Metric], ...] = (
    DuplicateRowShare,
    NearDuplicateShare,
    CategoryCoverage,
    RangeCoverage,
    LateRepetition,
)
