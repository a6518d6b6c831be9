"""How the time of each criterion family grows with the number of synthetic rows.

Run with ``pytest perf/test_criteria_scaling.py --benchmark-only -p no:randomly``. The real
parts are the prepared RHC dataset (train 3,441, reference 1,147 and test 1,147 rows, 53
features and the label). Each synthetic table is drawn from the training part with replacement,
seeded by its row count. Its numeric values get Gaussian noise of :data:`NOISE_SCALE` standard
deviations of the column, are rounded in whole-number columns and are clipped to the schema's
range. So the rows are close to training rows but are not copies of them. Missing values stay
missing, and binary and categorical values are kept.

The tables have 1,000, 10,000 and 50,000 rows. :data:`MAX_ROWS_VARIABLE` sets the largest size
(``EHRBENCH_SCALING_MAX_ROWS=10000`` runs only the first two sizes).

Each family goes through the public API that :meth:`Evaluator.evaluate` calls, with
``n_bootstrap=200`` as in the benchmark:

- ``fidelity``: every metric of ``FIDELITY_METRICS``, through ``Metric.compute``;
- ``utility``: TSTR by ``fit_and_score``. TRTR trains on the real training part, so its time
  does not depend on the synthetic rows, and it is computed once before timing;
- ``utility_no_bootstrap``: the same fit with ``n_bootstrap=0``. The difference from
  ``utility`` is the bootstrap's time, which resamples the test part, not the synthetic rows;
- ``realism``, ``privacy``, ``diversity``, ``fairness``: the Evaluator methods of those names;
- ``cross_site``: ``cross_site_auroc_drop``, with the two sexes of the test part as hand-made
  target sites and the whole training part as the source site's training rows.

The tests assert only that every criterion was scored, never a time. ``extra_info`` of each
benchmark contains the fastest round in seconds and the row counts that the metrics report using
(several cap the rows they use). When the previous size of the same family ran in the same
session, it also contains the growth exponent log(t / t_previous) / log(n / n_previous) and the
seconds per 1,000 added rows. ``utility_no_bootstrap`` adds ``bootstrap_seconds``. An exponent up
to about 1.1 means the time grows at most linearly, with 0.1 left for the noise of a shared machine.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from ehrbench.criteria.evaluation import UTILITY_SEED, Evaluator
from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.generators.base import GenerationResult
from ehrbench.metrics import FIDELITY_METRICS, MetricResult, UtilityResult, fit_and_score
from ehrbench.metrics.cross_site import cross_site_auroc_drop
from ehrbench.parsing import ValidityRecord
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Environment variable that sets the largest synthetic table, in rows.
MAX_ROWS_VARIABLE = "EHRBENCH_SCALING_MAX_ROWS"

#: Largest synthetic table when :data:`MAX_ROWS_VARIABLE` is not set.
DEFAULT_MAX_ROWS = 50_000

#: Sizes measured below the largest one.
SMALL_ROW_COUNTS = (1_000, 10_000)

#: Bootstrap resamples of the utility intervals, as in the benchmark's Evaluator.
N_BOOTSTRAP = 200

#: Standard deviation of the noise added to numeric values, in standard deviations of the column.
NOISE_SCALE = 0.05

#: Column of the test part whose values serve as the target sites of the cross-site criterion.
SITE_COLUMN = "sex"

#: Rounds per benchmark up to :data:`FEW_ROUNDS_FROM_ROWS` rows, and from there on. The largest
#: tables take tens of seconds per round for the privacy family.
ROUNDS = 3
FEW_ROUNDS = 2
FEW_ROUNDS_FROM_ROWS = 20_000

#: Keys of ``MetricResult.details`` that state how many rows a metric used.
ROW_COUNT_KEYS = ("n_per_class", "n_members", "n_population", "n_reference", "n_train", "n_test", "n_synthetic")

#: Fastest round in seconds, by family and then by row count.
_FASTEST_SECONDS: dict[str, dict[int, float]] = {}


def largest_row_count() -> int:
    """Return the largest synthetic table size from :data:`MAX_ROWS_VARIABLE`, or the default."""
    text = os.environ.get(MAX_ROWS_VARIABLE, str(DEFAULT_MAX_ROWS))
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < SMALL_ROW_COUNTS[0]:
        raise ValueError(
            f"{MAX_ROWS_VARIABLE}: expected a whole number of rows >= {SMALL_ROW_COUNTS[0]}, got {text!r}; "
            f"unset it to measure up to {DEFAULT_MAX_ROWS} rows"
        )
    return value


def measured_row_counts(largest: int) -> tuple[int, ...]:
    """Return the sizes to measure: those of :data:`SMALL_ROW_COUNTS` up to ``largest``, and ``largest``."""
    return tuple(sorted({n for n in SMALL_ROW_COUNTS if n <= largest} | {largest}))


ROW_COUNTS = measured_row_counts(largest_row_count())


def perturbed_resample(source: pd.DataFrame, schema: TableSchema, n_rows: int, seed: int) -> pd.DataFrame:
    """Return ``n_rows`` rows of ``source`` drawn with replacement, with noisy numeric values.

    The module docstring describes the noise. The result has a fresh index and ``schema``'s
    columns and dtypes.
    """
    rng = np.random.default_rng(seed)
    rows = source[schema.names].iloc[rng.integers(0, len(source), n_rows)].reset_index(drop=True)

    for column in schema.columns:
        if column.kind != "numeric" or column.minimum is None:
            continue
        spread = float(np.nanstd(source[column.name].to_numpy(dtype=float)))
        values = rows[column.name].to_numpy(dtype=float) + rng.normal(0.0, NOISE_SCALE * spread, n_rows)
        if column.integer:
            values = np.round(values)
        # np.clip keeps NaN, so missing values stay missing.
        rows[column.name] = np.clip(values, column.minimum, column.maximum)
    return rows


@dataclass(frozen=True)
class ScalingCase:
    """One synthetic table and what the families need beside it: TSTR, TRTR and the target sites."""

    n_rows: int
    generation: GenerationResult
    tstr: UtilityResult
    trtr: UtilityResult
    targets: dict[str, pd.DataFrame]


def fidelity(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    schema = case.generation.schema
    real = evaluator.prepared.test[schema.names]
    return {metric.name: metric().compute(real, case.generation.synthetic, schema) for metric in FIDELITY_METRICS}


def utility(evaluator: Evaluator, case: ScalingCase, n_bootstrap: int = N_BOOTSTRAP) -> dict[str, MetricResult]:
    schema = case.generation.schema
    real = evaluator.prepared.test[schema.names]
    tstr = fit_and_score(case.generation.synthetic, real, schema, UTILITY_SEED, n_bootstrap)
    return {"tstr_auroc": tstr.auroc, "tstr_auprc": tstr.auprc}


def utility_no_bootstrap(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    return utility(evaluator, case, n_bootstrap=0)


def realism(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    return evaluator.realism(case.generation)


def privacy(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    return evaluator.privacy(case.generation)


def diversity(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    return evaluator.diversity(case.generation)


def fairness(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    return evaluator.fairness(case.generation, case.tstr, case.trtr)


def cross_site(evaluator: Evaluator, case: ScalingCase) -> dict[str, MetricResult]:
    prepared = evaluator.prepared
    result = cross_site_auroc_drop(
        case.generation.synthetic,
        prepared.train,
        case.targets,
        case.generation.schema,
        UTILITY_SEED,
        (SITE_COLUMN, "all"),
    )
    return {result.name: result}


#: The timed families, in the order they run for each size.
FAMILIES: dict[str, Callable[[Evaluator, ScalingCase], dict[str, MetricResult]]] = {
    "fidelity": fidelity,
    "utility": utility,
    "utility_no_bootstrap": utility_no_bootstrap,
    "realism": realism,
    "privacy": privacy,
    "diversity": diversity,
    "fairness": fairness,
    "cross_site": cross_site,
}


def rows_used(results: dict[str, MetricResult]) -> dict[str, dict[str, int]]:
    """Return the row counts that each result's details report, by criterion."""
    used = {}
    for name, result in results.items():
        counts = {key: result.details[key] for key in ROW_COUNT_KEYS if isinstance(result.details.get(key), int)}
        if counts:
            used[name] = counts
    return used


def growth_exponent(family: str, n_rows: int) -> tuple[int, float] | None:
    """Return the previous size of ``family`` and the exponent from it to ``n_rows``, if both ran."""
    seconds = _FASTEST_SECONDS.get(family, {})
    smaller = [n for n in seconds if n < n_rows]
    if n_rows not in seconds or not smaller:
        return None
    previous = max(smaller)
    return previous, math.log(seconds[n_rows] / seconds[previous]) / math.log(n_rows / previous)


def target_sites(test: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split the test part by :data:`SITE_COLUMN` into hand-made target sites, by value."""
    values = sorted(test[SITE_COLUMN].dropna().unique(), key=str)
    return {f"{SITE_COLUMN}={value}": test[test[SITE_COLUMN] == value].reset_index(drop=True) for value in values}


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def evaluator(rhc) -> Evaluator:
    evaluator = Evaluator(rhc, n_bootstrap=N_BOOTSTRAP)
    evaluator.trtr(tuple(rhc.schema.feature_names))
    return evaluator


@pytest.fixture(scope="module", params=ROW_COUNTS, ids=lambda n_rows: f"{n_rows}rows")
def case(request, evaluator) -> ScalingCase:
    prepared = evaluator.prepared
    schema = prepared.schema
    n_rows = request.param
    synthetic = perturbed_resample(prepared.train, schema, n_rows, seed=n_rows)
    validity = ValidityRecord(requested=n_rows, answers=1, failed_answers=0, parsed=n_rows, valid=n_rows)
    generation = GenerationResult("perturbed-resample", "none", schema, synthetic, validity)

    # TSTR is an input of the fairness family. Its own time is measured by the utility family.
    tstr = fit_and_score(synthetic, prepared.test[schema.names], schema, UTILITY_SEED, N_BOOTSTRAP)
    trtr = evaluator.trtr(tuple(schema.feature_names))
    return ScalingCase(n_rows, generation, tstr, trtr, target_sites(prepared.test))


@pytest.fixture(scope="module", autouse=True)
def log_growth_table():
    """Log the fastest round and the growth exponent of every family once all sizes ran."""
    yield
    for family, seconds in _FASTEST_SECONDS.items():
        for n_rows in sorted(seconds):
            growth = growth_exponent(family, n_rows)
            exponent = f"{growth[1]:.2f} from {growth[0]} rows" if growth else "n/a"
            logger.info("%-22s %6d rows: %8.3f s, growth exponent %s", family, n_rows, seconds[n_rows], exponent)


def record_timing(benchmark, family: str, n_rows: int, results: dict[str, MetricResult]) -> None:
    """Store the fastest round of ``family`` and write the growth figures into ``extra_info``."""
    fastest = benchmark.stats.stats.min
    _FASTEST_SECONDS.setdefault(family, {})[n_rows] = fastest
    benchmark.extra_info.update(family=family, n_rows=n_rows, fastest_seconds=round(fastest, 4))
    benchmark.extra_info["rows_used"] = rows_used(results)

    growth = growth_exponent(family, n_rows)
    if growth is not None:
        previous, exponent = growth
        added_seconds = fastest - _FASTEST_SECONDS[family][previous]
        benchmark.extra_info["growth_exponent"] = round(exponent, 3)
        benchmark.extra_info["growth_from_rows"] = previous
        benchmark.extra_info["seconds_per_1000_added_rows"] = round(1000 * added_seconds / (n_rows - previous), 4)

    if family == "utility_no_bootstrap" and n_rows in _FASTEST_SECONDS.get("utility", {}):
        benchmark.extra_info["bootstrap_seconds"] = round(_FASTEST_SECONDS["utility"][n_rows] - fastest, 4)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_time(benchmark, case, evaluator, family):
    benchmark.group = family
    rounds = ROUNDS if case.n_rows < FEW_ROUNDS_FROM_ROWS else FEW_ROUNDS

    results = benchmark.pedantic(FAMILIES[family], args=(evaluator, case), rounds=rounds, iterations=1)

    if benchmark.enabled:
        record_timing(benchmark, family, case.n_rows, results)
    unscored = {name: result.reason for name, result in results.items() if result.value is None}
    assert unscored == {}
