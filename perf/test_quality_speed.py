"""Speed of ehrbench's fidelity quantities against SDMetrics' single-table QualityReport.

Run with ``pytest perf/test_quality_speed.py --benchmark-only``. Both sides score the same
two tables, drawn from the 5,735 RHC rows with replacement and a different seed each. Each
table has all 54 columns (22 numeric, 25 binary with the label, 7 categorical), and the
benchmarks run at 10,000 and at 50,000 rows.

- SDMetrics: ``QualityReport().generate(real, synthetic, metadata, verbose=False)`` with
  binary columns declared ``boolean``. It scores KSComplement or TVComplement per column.
  Per pair of the 1,431 column pairs, it scores CorrelationSimilarity (two numerical
  columns) or ContingencySimilarity (all other pairs, with each table's numerical columns
  cut into 10 equal-width bins of their own). Its default thresholds make it compute the
  real Cramer's V of every contingency pair as well.
- ehrbench, on tables that are already checked and converted to the schema dtypes:
  ``KSStatistic.score`` and ``TotalVariation.score`` per column,
  :func:`correlation_differences` on the 1,081 pairs of numeric and binary columns, and
  :func:`contingency_differences` on the 350 pairs that contain a categorical column, with
  numeric columns binned at the real deciles. These also cover all 1,431 pairs.
- ehrbench through the public ``Metric.compute`` of the two column metrics, which checks
  and converts both tables on every call, plus the same pairwise functions.

The target is ehrbench's computation at most :data:`MAX_TIME_RATIO` of QualityReport's mean
time. The ehrbench benchmarks check or record that ratio when the QualityReport benchmark of
the same size ran before them.
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sdmetrics")

with warnings.catch_warnings():
    # sdmetrics 0.32 marks the single-table report as deprecated when it is imported.
    warnings.simplefilter("ignore", FutureWarning)
    from sdmetrics.reports.single_table import QualityReport

from ehrbench.datasets import get_dataset, prepare  # noqa: E402
from ehrbench.metrics import KSStatistic, TotalVariation  # noqa: E402
from ehrbench.metrics.pairwise import (  # noqa: E402
    bin_numeric_columns,
    contingency_differences,
    correlation_differences,
)
from ehrbench.schema import TableSchema, coerce_frame  # noqa: E402

logger = logging.getLogger(__name__)

ROW_COUNTS = (10_000, 50_000)

#: Largest accepted ratio of ehrbench's mean time to QualityReport's mean time.
MAX_TIME_RATIO = 0.1

#: Rounds per benchmark. QualityReport takes seconds per round, so it gets few.
QUALITY_REPORT_ROUNDS = 2
EHRBENCH_ROUNDS = 5

#: Mean seconds per round of the QualityReport benchmark, by row count.
_QUALITY_REPORT_SECONDS: dict[int, float] = {}

_SDTYPES = {"numeric": "numerical", "binary": "boolean", "categorical": "categorical"}


def resample(frame: pd.DataFrame, n_rows: int, seed: int) -> pd.DataFrame:
    """Return ``n_rows`` rows of ``frame`` drawn with replacement, with a fresh index."""
    rows = np.random.default_rng(seed).integers(0, len(frame), n_rows)
    return frame.iloc[rows].reset_index(drop=True)


def names_of_kind(schema: TableSchema, *kinds: str) -> list[str]:
    return [column.name for column in schema.columns if column.kind in kinds]


def pairwise_quantities(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema
) -> dict[str, dict[str, float] | dict[str, str]]:
    """Compute the correlation and contingency differences of all 1,431 column pairs."""
    correlation = correlation_differences(real, synthetic, names_of_kind(schema, "numeric", "binary"))

    categorical = set(names_of_kind(schema, "categorical"))
    pairs = [pair for pair in itertools.combinations(schema.names, 2) if categorical & set(pair)]
    real_binned, synthetic_binned = bin_numeric_columns(real, synthetic, names_of_kind(schema, "numeric"))
    contingency = contingency_differences(real_binned, synthetic_binned, pairs)
    return {
        "correlation": correlation.per_pair,
        "correlation_skipped": correlation.skipped,
        "contingency": contingency,
    }


def ehrbench_quantities(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> dict:
    """Compute the quantities QualityReport scores, on checked tables with schema dtypes."""
    numeric = names_of_kind(schema, "numeric")
    discrete = names_of_kind(schema, "binary", "categorical")
    return {
        "ks": KSStatistic().score(real, synthetic, schema, numeric).details["per_column"],
        "tv": TotalVariation().score(real, synthetic, schema, discrete).details["per_column"],
        **pairwise_quantities(real, synthetic, schema),
    }


def ehrbench_metrics(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> dict:
    """Compute the same quantities through ``Metric.compute``, with its checks and conversion."""
    return {
        "ks": KSStatistic().compute(real, synthetic, schema).details["per_column"],
        "tv": TotalVariation().compute(real, synthetic, schema).details["per_column"],
        **pairwise_quantities(real, synthetic, schema),
    }


def check_counts(quantities: dict) -> None:
    assert len(quantities["ks"]) + len(quantities["tv"]) == 54
    n_correlation_pairs = len(quantities["correlation"]) + len(quantities["correlation_skipped"])
    assert n_correlation_pairs == 1081
    assert len(quantities["contingency"]) == 350


def ratio_to_quality_report(benchmark, n_rows: int) -> float | None:
    """Return ehrbench's mean time over QualityReport's, or None when that did not run."""
    quality_report_seconds = _QUALITY_REPORT_SECONDS.get(n_rows)
    if quality_report_seconds is None:
        return None
    ratio = benchmark.stats.stats.mean / quality_report_seconds
    benchmark.extra_info["ratio_to_quality_report"] = round(ratio, 4)
    logger.info("%d rows: %s takes %.3f of QualityReport's time", n_rows, benchmark.name, ratio)
    return ratio


@pytest.fixture(scope="module")
def rhc_table() -> tuple[pd.DataFrame, TableSchema]:
    prepared = prepare(get_dataset("rhc"))
    return coerce_frame(prepared.dataset.load_frame(), prepared.schema), prepared.schema


@pytest.fixture(scope="module", params=ROW_COUNTS, ids=lambda n_rows: f"{n_rows}rows")
def tables(request, rhc_table) -> tuple[pd.DataFrame, pd.DataFrame, TableSchema, int]:
    full, schema = rhc_table
    n_rows = request.param
    return resample(full, n_rows, seed=n_rows), resample(full, n_rows, seed=n_rows + 1), schema, n_rows


def test_quality_report(benchmark, tables):
    real, synthetic, schema, n_rows = tables
    metadata = {"columns": {column.name: {"sdtype": _SDTYPES[column.kind]} for column in schema.columns}}
    benchmark.group = f"{n_rows} rows x {len(schema.names)} columns"

    def generate() -> QualityReport:
        report = QualityReport()
        report.generate(real, synthetic, metadata, verbose=False)
        return report

    report = benchmark.pedantic(generate, rounds=QUALITY_REPORT_ROUNDS, iterations=1)
    _QUALITY_REPORT_SECONDS[n_rows] = benchmark.stats.stats.mean

    assert len(report.get_details("Column Shapes")) == 54
    assert len(report.get_details("Column Pair Trends")) == 1431
    assert 0.0 <= report.get_score() <= 1.0


def test_ehrbench_quantities(benchmark, tables):
    real, synthetic, schema, n_rows = tables
    benchmark.group = f"{n_rows} rows x {len(schema.names)} columns"

    quantities = benchmark.pedantic(
        ehrbench_quantities, args=(real, synthetic, schema), rounds=EHRBENCH_ROUNDS, iterations=1
    )

    check_counts(quantities)
    ratio = ratio_to_quality_report(benchmark, n_rows)
    if ratio is None:
        pytest.skip(f"test_quality_report did not run for {n_rows} rows, so the ratio is unchecked")
    assert ratio <= MAX_TIME_RATIO


def test_ehrbench_metrics_compute(benchmark, tables):
    """The public path. Its ratio is recorded in extra_info and not checked against the target."""
    real, synthetic, schema, n_rows = tables
    benchmark.group = f"{n_rows} rows x {len(schema.names)} columns"

    quantities = benchmark.pedantic(
        ehrbench_metrics, args=(real, synthetic, schema), rounds=EHRBENCH_ROUNDS, iterations=1
    )

    check_counts(quantities)
    ratio_to_quality_report(benchmark, n_rows)
