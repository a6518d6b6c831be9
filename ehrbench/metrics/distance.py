"""A mixed-type, Gower-style distance between table rows, and nearest-neighbour search under it.

The distance of two rows is the mean over the schema columns (the label included) of a
per-column distance in [0, 1], so it lies in [0, 1] and is symmetric:

- numeric: ``min(|a - b| / scale, 1)``, where ``scale`` is the interquartile range of the
  column's finite values on the training part (:func:`fit_scales`);
- binary and categorical: 0 when the values are equal, else 1. A category that the other
  table never uses is simply unequal to every value;
- missing values (NaN): 0 when both values are missing, 1 when only one is.

Why the interquartile range and not the range that Gower (1971, Biometrics 27:857-871)
used: lab values are heavy-tailed,
and a range scale lets the few extreme rows shrink the differences of all other rows. On the
training part of RHC the range is 93 times the interquartile range for bilirubin, 31 times for
albumin and 16 times for the white blood cell count. Scaled by their range, such columns
barely change which record is nearest. With the interquartile range every numeric column
resolves differences within the bulk of its values. Differences above one interquartile range
all count as 1 (the clip), which costs nothing for nearest-neighbour distances, because
neighbours are close.

Special cases of a numeric column:

- interquartile range 0 (about half of the values or more are equal): the range is the scale;
- range 0 or no finite training value: the scale is 0, and the column counts exact equality
  like a categorical column;
- +inf and -inf (possible in synthetic tables): equal infinities have distance 0, any other
  pair with an infinity has distance 1.

Memory and time: :func:`nearest_distances` computes blocks of at most :data:`BLOCK_CELLS`
distances (query rows x pool rows) at once, so it needs a few float64 arrays of that size on
top of the encoded tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ehrbench.metrics.base import check_schema, coerce_columns, find_table_problems
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Distances computed at once in one block. 2**17 float64 values are 1 MiB, so memory stays
#: bounded whatever the table sizes.
BLOCK_CELLS = 2**17

#: Quantiles whose difference is the scale of a numeric column.
SCALE_QUANTILES = (0.25, 0.75)

#: Code of a missing value in exact-match columns, equal only to itself.
_MISSING_CODE = -1

#: Code of a query value that the pool never uses, equal to no pool value.
_UNKNOWN_CODE = -2


def fit_scales(train: pd.DataFrame, schema: TableSchema) -> dict[str, float]:
    """Return the scale of every numeric column of ``schema``, fitted on ``train``.

    The scale is the interquartile range of the column's finite values (numpy's linear
    quantiles), or the range when the interquartile range is 0, or 0.0 when the range is 0 or
    the column has no finite value. A scale of 0.0 makes the column count exact equality.
    ``train`` must be a valid table of ``schema`` (see :mod:`ehrbench.metrics.base`).
    """
    check_schema(schema)
    frame = _check_table(train, schema, "train")

    scales = {}
    for column in schema.columns:
        if column.kind != "numeric":
            continue
        values = frame[column.name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        scale = 0.0
        if values.size:
            low, high = np.quantile(values, SCALE_QUANTILES)
            scale = float(high - low) or float(values.max() - values.min())
        scales[column.name] = scale
    return scales


def pairwise_distances(
    left: pd.DataFrame, right: pd.DataFrame, schema: TableSchema, scales: dict[str, float]
) -> np.ndarray:
    """Return the distance of every row of ``left`` to every row of ``right``.

    Shape (len(left), len(right)), values in [0, 1]. The whole matrix is kept in memory (8
    bytes per pair), so use :func:`nearest_distances` for large tables.
    """
    check_schema(schema)
    _check_scales(scales, schema)
    pool = _encode_pool(_check_table(right, schema, "right"), schema, scales)
    queries = _encode_queries(_check_table(left, schema, "left"), pool, schema, scales)

    distances = np.empty((queries.n_rows, pool.n_rows))
    scratch = _Scratch.allocate(queries.n_rows, pool.n_rows)
    _fill_block(queries, slice(0, queries.n_rows), pool, distances, scratch)
    return distances


def nearest_distances(
    queries: pd.DataFrame,
    pool: pd.DataFrame,
    schema: TableSchema,
    scales: dict[str, float],
    k: int = 2,
) -> np.ndarray:
    """Return the distances of each query row to its ``k`` nearest rows of ``pool``.

    Shape (len(queries), k), each row sorted ascending, values in [0, 1]. Column 0 is the
    distance to the closest pool row. ``scales`` comes from :func:`fit_scales`. Both tables
    must be valid tables of ``schema`` with at least one row, and ``k`` must be between 1 and
    len(pool). The queries are processed in blocks of :data:`BLOCK_CELLS` distances.
    """
    check_schema(schema)
    _check_scales(scales, schema)
    pool_frame = _check_table(pool, schema, "pool")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(pool_frame):
        raise ValueError(f"k: expected an integer from 1 to len(pool) = {len(pool_frame)}, got {k!r}")

    encoded_pool = _encode_pool(pool_frame, schema, scales)
    encoded_queries = _encode_queries(_check_table(queries, schema, "queries"), encoded_pool, schema, scales)
    n_pool = encoded_pool.n_rows
    rows_per_block = max(1, BLOCK_CELLS // n_pool)
    block = np.empty((rows_per_block, n_pool))
    scratch = _Scratch.allocate(rows_per_block, n_pool)

    nearest = np.empty((encoded_queries.n_rows, k))
    for start in range(0, encoded_queries.n_rows, rows_per_block):
        rows = slice(start, min(start + rows_per_block, encoded_queries.n_rows))
        n_rows = rows.stop - rows.start
        distances = block[:n_rows]
        _fill_block(encoded_queries, rows, encoded_pool, distances, scratch)
        if k < n_pool:
            distances = np.partition(distances, k - 1, axis=1)[:, :k]
        nearest[rows] = np.sort(distances, axis=1)[:, :k]
    return nearest


@dataclass(frozen=True)
class _Encoded:
    """One table as arrays with one row per column (contiguous along table rows).

    ``numeric`` contains the scaled values of the numeric columns with a positive scale.
    ``codes`` contains integer codes of the binary, categorical and zero-scale numeric
    columns. ``missing``, ``positive`` and ``negative`` mark NaN, +inf and -inf in ``numeric``.
    """

    numeric: np.ndarray
    codes: np.ndarray
    missing: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    vocabularies: tuple[pd.Index, ...]
    n_columns: int
    n_rows: int


@dataclass(frozen=True)
class _Scratch:
    """Work arrays of one block: float distances of one column and their mismatch flags."""

    values: np.ndarray
    flags: np.ndarray

    @classmethod
    def allocate(cls, n_rows: int, n_pool: int) -> _Scratch:
        return cls(np.empty((n_rows, n_pool)), np.empty((n_rows, n_pool), dtype=bool))


def _check_table(frame: object, schema: TableSchema, argument: str) -> pd.DataFrame:
    problems = find_table_problems(frame, schema, schema.names, argument=argument)
    if problems:
        raise ValueError(
            f"{argument}: invalid table: {'; '.join(problems)}. Pass a table with the schema's "
            "columns and dtypes (ehrbench.schema.coerce_frame)"
        )
    return coerce_columns(frame, schema, schema.names)


def _check_scales(scales: object, schema: TableSchema) -> None:
    if not isinstance(scales, dict):
        raise TypeError(f"scales: expected a dict from fit_scales, got {type(scales).__name__}")
    numeric = [column.name for column in schema.columns if column.kind == "numeric"]
    missing = [name for name in numeric if name not in scales]
    if missing:
        raise ValueError(f"scales: no scale for the numeric columns {missing}. Use fit_scales(train, schema)")
    invalid = {name: scales[name] for name in numeric if not (np.isfinite(scales[name]) and scales[name] >= 0)}
    if invalid:
        raise ValueError(f"scales: expected finite values >= 0, got {invalid}. Use fit_scales(train, schema)")


def _split_columns(schema: TableSchema, scales: dict[str, float]) -> tuple[list[str], list[str]]:
    """Return the columns compared by scaled difference and those compared by equality."""
    scaled = [c.name for c in schema.columns if c.kind == "numeric" and scales[c.name] > 0]
    exact = [c.name for c in schema.columns if c.name not in scaled]
    return scaled, exact


def _encode_pool(frame: pd.DataFrame, schema: TableSchema, scales: dict[str, float]) -> _Encoded:
    _, exact = _split_columns(schema, scales)
    vocabularies = tuple(pd.Index(frame[name].dropna().unique()) for name in exact)
    return _encode(frame, schema, scales, vocabularies)


def _encode_queries(
    frame: pd.DataFrame, pool: _Encoded, schema: TableSchema, scales: dict[str, float]
) -> _Encoded:
    return _encode(frame, schema, scales, pool.vocabularies)


def _encode(
    frame: pd.DataFrame,
    schema: TableSchema,
    scales: dict[str, float],
    vocabularies: tuple[pd.Index, ...],
) -> _Encoded:
    scaled, exact = _split_columns(schema, scales)
    n_rows = len(frame)

    numeric = np.empty((len(scaled), n_rows))
    for position, name in enumerate(scaled):
        with np.errstate(over="ignore"):
            numeric[position] = frame[name].to_numpy(dtype=float) / scales[name]

    codes = np.empty((len(exact), n_rows), dtype=np.int64)
    for position, (name, vocabulary) in enumerate(zip(exact, vocabularies)):
        values = frame[name]
        column_codes = vocabulary.get_indexer(values)
        column_codes[column_codes < 0] = _UNKNOWN_CODE
        column_codes[values.isna().to_numpy()] = _MISSING_CODE
        codes[position] = column_codes

    return _Encoded(
        numeric=numeric,
        codes=codes,
        missing=np.isnan(numeric),
        positive=np.isposinf(numeric),
        negative=np.isneginf(numeric),
        vocabularies=vocabularies,
        n_columns=len(schema.columns),
        n_rows=n_rows,
    )


def _fill_block(
    queries: _Encoded, rows: slice, pool: _Encoded, out: np.ndarray, scratch: _Scratch
) -> None:
    """Write the distances of query ``rows`` to every pool row into ``out``."""
    # TODO: the pool's missing and infinite marks are scanned again for every block. A pool of
    # 50,000 rows leaves 2 query rows per block, so computing the marks once per call saves time.
    n_rows = rows.stop - rows.start
    values = scratch.values[:n_rows]
    flags = scratch.flags[:n_rows]
    out[:] = 0.0

    for position in range(queries.numeric.shape[0]):
        query_column = queries.numeric[position, rows]
        with np.errstate(invalid="ignore"):
            np.subtract(query_column[:, None], pool.numeric[position][None, :], out=values)
        np.abs(values, out=values)
        np.minimum(values, 1.0, out=values)
        _fix_non_finite(queries, rows, pool, position, values)
        out += values

    for position in range(queries.codes.shape[0]):
        np.not_equal(queries.codes[position, rows][:, None], pool.codes[position][None, :], out=flags)
        out += flags

    out /= queries.n_columns


def _fix_non_finite(
    queries: _Encoded, rows: slice, pool: _Encoded, position: int, values: np.ndarray
) -> None:
    """Apply the missing-value and infinity rules to one numeric column of a block.

    The arithmetic leaves NaN in every pair with a missing value and in pairs of equal
    infinities. Those become 1, and then pairs of two missing values or of equal infinities
    become 0.
    """
    marks = (queries.missing, queries.positive, queries.negative)
    pool_marks = (pool.missing, pool.positive, pool.negative)
    if not any(mark[position, rows].any() or pool_mark[position].any() for mark, pool_mark in zip(marks, pool_marks)):
        return

    np.nan_to_num(values, copy=False, nan=1.0)
    for mark, pool_mark in zip(marks, pool_marks):
        query_rows = np.flatnonzero(mark[position, rows])
        pool_rows = np.flatnonzero(pool_mark[position])
        if query_rows.size and pool_rows.size:
            values[np.ix_(query_rows, pool_rows)] = 0.0
