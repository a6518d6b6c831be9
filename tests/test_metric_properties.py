"""Property tests of every ehrbench metric on small generated tables.

Each metric is checked, where the property applies, for four properties:

1. identical tables get the perfect score;
2. scores stay in the documented range ``[min_value, max_value]``;
3. symmetric metrics give the same value with the tables swapped;
4. the row order of the tables does not change the score (within :data:`TOLERANCE`).

A comment at each metric states which property does not apply and why. Fixed examples keep
three cases these properties found: the row order changed NearDuplicateShare (for tables of
unequal size) and DetectionAUROC, and the detectability of DetectionAUROC was close to 1 for
identical tables. The generated tables
have 2 to 4 columns (1 to 3 features of any kind plus a binary label) and follow
:mod:`ehrbench.schema`. Columns are varied, limited to two values, constant or all missing,
with or without missing values, and rows may repeat. Synthetic tables may also contain +/-inf
and a category that the real table never uses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ehrbench.datasets.rules import (
    Condition,
    DistinctRule,
    ImplicationRule,
    OrderRule,
    RangeRule,
    Rule,
)
from ehrbench.metrics import FIDELITY_METRICS, TSTRAUPRC, TSTRAUROC, MetricResult, fit_and_score
from ehrbench.metrics.correlation import CorrelationDifference
from ehrbench.metrics.detection import MIN_ROWS as DETECTION_MIN_ROWS
from ehrbench.metrics.detection import DetectionAUROC
from ehrbench.metrics.diversity import (
    CategoryCoverage,
    DuplicateRowShare,
    LateRepetition,
    NearDuplicateShare,
    RangeCoverage,
)
from ehrbench.metrics.kl_divergence import KLDivergence
from ehrbench.metrics.ks_statistic import KSStatistic
from ehrbench.metrics.plausibility import PlausibilityViolations
from ehrbench.metrics.privacy import (
    DCR,
    MIN_SYNTHETIC_ROWS,
    NNDR,
    ClosestRecordResult,
    DensityAttackAUROC,
    DistanceAttackAUROC,
    ExactCopyRate,
    MembershipInferenceResult,
    NearCopyRate,
    closest_record_metrics,
    membership_inference,
)
from ehrbench.metrics.total_variation import TotalVariation
from ehrbench.schema import ColumnKind, TableSchema, infer_schema

# ks_2samp warns when its exact p-value fails. Only its statistic is used.
pytestmark = pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")

NAN = float("nan")
INF = float("inf")

#: Largest difference allowed between two scores that the properties call equal.
TOLERANCE = 1e-12

#: Bootstrap resamples in the utility tests, fewer than the default to keep them fast.
UTILITY_BOOTSTRAP = 20

KINDS: tuple[ColumnKind, ...] = ("numeric", "binary", "categorical")

#: Numbers with two decimals in [-10, 10] and a few quarters, so that ties are common.
NUMBERS = st.one_of(
    st.integers(-1000, 1000).map(lambda i: i / 100),
    st.sampled_from([-1.0, 0.0, 0.25, 2.5]),
)

#: A category that no real table uses.
UNSEEN_CATEGORY = "unseen"

#: Source text of the plausibility rules declared in this file.
RULE_SOURCE = "rule declared by the property tests"

# The fidelity, diversity, plausibility and privacy metrics take milliseconds per example.
# Detection and utility train XGBoost (detection 5 times per call), so they get few examples.
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Shrinking is off for the slow tests because it would run for minutes. A failure shows the
# example as drawn.
SLOW = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)


@dataclass(frozen=True)
class Layout:
    """Column names per kind (one per possible column of that kind), label name and categories.

    Numeric values are drawn from :data:`NUMBERS` and then mapped to ``value * scale + offset``.
    """

    names: dict[ColumnKind, tuple[str, ...]]
    label: str
    categories: tuple[str, ...]
    scale: float = 1.0
    offset: float = 0.0


GENERIC = Layout(
    names={
        "numeric": ("x0", "x1", "x2"),
        "binary": ("flag0", "flag1", "flag2"),
        "categorical": ("group0", "group1", "group2"),
    },
    label="label",
    categories=("a", "b", "c", "d"),
)

#: Column names and categories of RHC that its declared plausibility rules use. The numeric
#: values span [-60, 140], so the range rules of age, scoma1 and temp1 fire on some rows.
RHC = Layout(
    names={
        "numeric": ("age", "scoma1", "temp1"),
        "binary": ("malighx", "dnr1", "cardiohx"),
        "categorical": ("ca", "cat1", "cat2"),
    },
    label="death",
    categories=("No", "Yes", "Metastatic", "CHF"),
    scale=10.0,
    offset=40.0,
)


# Strategies.


@st.composite
def column_kinds(draw: st.DrawFn, layout: Layout = GENERIC) -> dict[str, ColumnKind]:
    """Draw 1 to 3 feature columns of any kind, named from ``layout``, plus the binary label."""
    drawn = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    kinds: dict[str, ColumnKind] = {}
    for kind in drawn:
        used = sum(1 for other in kinds.values() if other == kind)
        kinds[layout.names[kind][used]] = kind
    kinds[layout.label] = "binary"
    return kinds


@st.composite
def column_values(
    draw: st.DrawFn, kind: ColumnKind, n_rows: int, layout: Layout, synthetic: bool
) -> list:
    """Draw the values of one column: varied, two values, constant or all missing."""
    if kind == "numeric":
        present = NUMBERS.map(lambda value: value * layout.scale + layout.offset)
        if synthetic:
            present = st.one_of(present, present, present, st.sampled_from([INF, -INF]))
    elif kind == "binary":
        present = st.sampled_from([0.0, 1.0])
    else:
        pool = layout.categories + ((UNSEEN_CATEGORY,) if synthetic else ())
        present = st.sampled_from(pool)

    shape = draw(st.sampled_from(("varied", "varied", "two values", "constant", "missing")))
    if shape == "missing":
        return [NAN] * n_rows
    if shape == "two values":
        present = st.sampled_from(draw(st.lists(present, min_size=2, max_size=2)))
    elif shape == "constant":
        present = st.just(draw(present))

    if draw(st.booleans()):
        present = st.one_of(present, present, present, st.just(NAN))
    return draw(st.lists(present, min_size=n_rows, max_size=n_rows))


@st.composite
def tables(
    draw: st.DrawFn,
    kinds: dict[str, ColumnKind],
    min_rows: int,
    max_rows: int,
    layout: Layout = GENERIC,
    synthetic: bool = False,
) -> pd.DataFrame:
    """Draw a table of ``kinds`` with the dtypes of :mod:`ehrbench.schema`.

    About half of the tables repeat rows: they are drawn with replacement from their first
    half. Only synthetic tables contain +/-inf and :data:`UNSEEN_CATEGORY`.
    """
    n_rows = draw(st.integers(min_rows, max_rows))
    columns = {}
    for name, kind in kinds.items():
        values = draw(column_values(kind, n_rows, layout, synthetic))
        columns[name] = pd.Series(values, dtype=object if kind == "categorical" else float)
    frame = pd.DataFrame(columns)

    if draw(st.booleans()):
        positions = draw(st.lists(st.integers(0, max(0, n_rows // 2 - 1)), min_size=n_rows, max_size=n_rows))
        frame = frame.iloc[positions].reset_index(drop=True)
    return frame


def schema_of(real: pd.DataFrame, kinds: dict[str, ColumnKind], label: str) -> TableSchema:
    """Infer the schema from the real table, as a prepared dataset does from its training part."""
    return infer_schema(real, label, kinds)


@st.composite
def table_pairs(
    draw: st.DrawFn,
    min_rows: int = 10,
    max_rows: int = 60,
    layout: Layout = GENERIC,
    complete_real_label: bool = False,
    equal_rows: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    """Draw a real table, a synthetic table of the same columns and the schema of the real one.

    With ``complete_real_label`` the real label alternates 0, 1, 0, ..., as the utility metric
    requires of its test part. With ``equal_rows`` both tables have the same number of rows.
    """
    kinds = draw(column_kinds(layout))
    if equal_rows:
        min_rows = max_rows = draw(st.integers(min_rows, max_rows))
    real = draw(tables(kinds, min_rows, max_rows, layout))
    synthetic = draw(tables(kinds, min_rows, max_rows, layout, synthetic=True))
    if complete_real_label:
        real[layout.label] = (np.arange(len(real)) % 2).astype(float)
    return real, synthetic, schema_of(real, kinds, layout.label)


@st.composite
def privacy_parts(
    draw: st.DrawFn,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    """Draw the train, reference and test parts, a synthetic table and the schema of train."""
    kinds = draw(column_kinds())
    train = draw(tables(kinds, 10, 40))
    reference = draw(tables(kinds, 2, 40))
    test = draw(tables(kinds, 2, 40))
    synthetic = draw(tables(kinds, MIN_SYNTHETIC_ROWS, 40, synthetic=True))
    return train, reference, test, synthetic, schema_of(train, kinds, GENERIC.label)


SEEDS = st.integers(0, 2**32 - 1)


# Helpers.


def shuffle_rows(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Return the rows of ``frame`` in a random order, with a new RangeIndex."""
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True)


def assert_close(first: float | None, second: float | None, description: str) -> None:
    """Assert that two optional scores are both None or differ by at most TOLERANCE."""
    if first is None or second is None:
        assert first is None, f"{description}: {first} != {second}"
        assert second is None, f"{description}: {first} != {second}"
        return
    assert abs(first - second) <= TOLERANCE, f"{description}: {first} != {second}"


def assert_same_result(first: MetricResult, second: MetricResult) -> None:
    """Assert equal scored status, value and interval bounds of two results."""
    assert first.scored == second.scored, f"{first.name}: {first.reason!r} vs {second.reason!r}"
    assert_close(first.value, second.value, f"{first.name} value")
    assert_close(first.low, second.low, f"{first.name} low")
    assert_close(first.high, second.high, f"{first.name} high")


def assert_in_range(result: MetricResult, minimum: float, maximum: float) -> None:
    """Assert that a scored result lies in [minimum, maximum] and an unscored one has a reason."""
    if not result.scored:
        assert result.reason, f"{result.name} is unscored without a reason"
        return
    assert minimum <= result.value <= maximum, f"{result.name} = {result.value} outside [{minimum}, {maximum}]"
    for bound in (result.low, result.high):
        if bound is not None:
            assert minimum <= bound <= maximum, f"{result.name} bound {bound} outside [{minimum}, {maximum}]"
    if result.low is not None and result.high is not None:
        assert result.low <= result.high, f"{result.name}: low {result.low} > high {result.high}"


def has_finite_numbers(frame: pd.DataFrame, schema: TableSchema) -> bool:
    """Return True when some numeric column of ``frame`` has a finite value."""
    numeric = [column.name for column in schema.columns if column.kind == "numeric"]
    return bool(np.isfinite(frame[numeric].to_numpy(dtype=float)).any())


def has_present_categories(frame: pd.DataFrame, schema: TableSchema) -> bool:
    """Return True when some binary or categorical column of ``frame`` has a present value."""
    names = [column.name for column in schema.columns if column.kind != "numeric"]
    return bool(frame[names].notna().to_numpy().any())


def generic_rules() -> tuple[Rule, ...]:
    """Return range, order, distinct and implication rules over the columns of GENERIC.

    The rules name every possible column, so each generated table applies some of them. The
    range rule of the label applies to every table, so the metric is always scored.
    """
    numeric = GENERIC.names["numeric"]
    binary = GENERIC.names["binary"]
    categorical = GENERIC.names["categorical"]
    rules: list[Rule] = [RangeRule("range.label", GENERIC.label, 0.0, 1.0, "", RULE_SOURCE)]
    for position, name in enumerate(numeric):
        rules.append(RangeRule(f"range.{name}", name, -5.0, 5.0, "", RULE_SOURCE, integer=position == 1))
    for first, second in itertools.combinations(numeric, 2):
        rules.append(OrderRule(f"order.{first}.{second}", first, second, "", RULE_SOURCE))
    for first, second in itertools.combinations(categorical, 2):
        rules.append(DistinctRule(f"distinct.{first}.{second}", first, second, RULE_SOURCE))
    for flag in binary:
        rules.append(
            ImplicationRule(
                f"implies.{flag}.label", Condition(flag, (1.0,)), Condition(GENERIC.label, (1.0,)), RULE_SOURCE
            )
        )
        for group in categorical:
            rules.append(
                ImplicationRule(
                    f"implies.{flag}.{group}", Condition(flag, (1.0,)), Condition(group, ("a", "b")), RULE_SOURCE
                )
            )
            rules.append(
                ImplicationRule(
                    f"implies.{group}.{flag}", Condition(group, ("c",)), Condition(flag, (0.0,)), RULE_SOURCE
                )
            )
    return tuple(rules)


GENERIC_RULES = generic_rules()


# Fidelity metrics: KL divergence, KS statistic, total variation, correlation difference.


@pytest.mark.parametrize("metric_class", FIDELITY_METRICS, ids=lambda metric_class: metric_class.name)
@FAST
@given(pair=table_pairs())
def test_fidelity_identical_tables_score_zero(metric_class, pair) -> None:
    real, _, schema = pair
    result = metric_class().compute(real, real.copy(), schema)

    if metric_class in (KLDivergence, TotalVariation):
        # Both score every column of their kinds, and the label is always a binary column.
        assert result.scored, result.reason
    if metric_class is KSStatistic:
        assert result.scored == has_finite_numbers(real, schema), result.reason
    # CorrelationDifference is unscored when every pair is skipped (fewer than 10 complete
    # rows, a constant column, or a single numeric or binary column).
    if result.scored:
        assert result.value == 0.0


@pytest.mark.parametrize("metric_class", FIDELITY_METRICS, ids=lambda metric_class: metric_class.name)
@FAST
@given(pair=table_pairs())
def test_fidelity_scores_in_range(metric_class, pair) -> None:
    real, synthetic, schema = pair
    metric = metric_class()
    assert_in_range(metric.compute(real, synthetic, schema), metric.min_value, metric.max_value)


# KL(real || synthetic) is not symmetric: the bins come from the real column, and the
# divergence itself weighs the two distributions differently.
@pytest.mark.parametrize(
    "metric_class", [KSStatistic, TotalVariation, CorrelationDifference], ids=lambda metric_class: metric_class.name
)
@FAST
@given(pair=table_pairs())
def test_fidelity_symmetric_metrics(metric_class, pair) -> None:
    real, synthetic, schema = pair
    forward = metric_class().compute(real, synthetic, schema)
    backward = metric_class().compute(synthetic, real, schema)

    if metric_class is KSStatistic:
        # KS skips a column without finite real values but is unscored for a column without
        # finite synthetic values, so only the values of two scored results must agree.
        if forward.scored and backward.scored:
            assert_close(forward.value, backward.value, "ks_statistic swapped")
        return
    assert_same_result(forward, backward)


@pytest.mark.parametrize("metric_class", FIDELITY_METRICS, ids=lambda metric_class: metric_class.name)
@FAST
@given(pair=table_pairs(), seed=SEEDS)
def test_fidelity_row_order(metric_class, pair, seed) -> None:
    real, synthetic, schema = pair
    original = metric_class().compute(real, synthetic, schema)
    shuffled = metric_class().compute(shuffle_rows(real, seed), shuffle_rows(synthetic, seed + 1), schema)
    assert_same_result(original, shuffled)


# Detection AUROC.
# Symmetry does not apply: swapping the tables swaps the classes, the stacking order and the
# cross-validation folds, so the value is not exactly 1 - AUROC.


@SLOW
@given(pair=table_pairs(min_rows=DETECTION_MIN_ROWS))
def test_detection_identical_tables_not_above_chance(pair) -> None:
    # Identical tables do not score 0.5 but at most about 0.5. Each real row has a twin of
    # the other class, and when the twin is in the training folds the model learns it, so
    # the row is predicted as the wrong class. DetectionAUROC(seed=0) on 200 tables drawn by
    # table_pairs measured a median of 0.24 and a maximum of 0.5, so 0.55 leaves a margin.
    # details["detectability"] is therefore not checked here (see the next test).
    real, _, schema = pair
    result = DetectionAUROC(seed=0).compute(real, real.copy(), schema)
    assert result.scored, result.reason
    assert result.value <= 0.55


def test_detection_identical_tables_detectability() -> None:
    real = pd.DataFrame({"x": np.arange(40, dtype=float), "label": (np.arange(40) % 2).astype(float)})
    schema = infer_schema(real, "label", {"x": "numeric", "label": "binary"})
    result = DetectionAUROC(seed=0).compute(real, real.copy(), schema)
    assert result.details["detectability"] <= 0.6


@SLOW
@given(pair=table_pairs(min_rows=DETECTION_MIN_ROWS))
def test_detection_scores_in_range(pair) -> None:
    real, synthetic, schema = pair
    result = DetectionAUROC(seed=0).compute(real, synthetic, schema)
    assert_in_range(result, DetectionAUROC.min_value, DetectionAUROC.max_value)
    if result.scored:
        assert 0.5 <= result.details["detectability"] <= 1.0


@SLOW
@given(pair=table_pairs(min_rows=DETECTION_MIN_ROWS))
def test_detection_repeatable(pair) -> None:
    # The row order property does not hold (see the next test). What the module docstring
    # promises is that the same inputs and seed give the same value.
    real, synthetic, schema = pair
    first = DetectionAUROC(seed=0).compute(real, synthetic, schema)
    second = DetectionAUROC(seed=0).compute(real.copy(), synthetic.copy(), schema)
    assert_same_result(first, second)


def test_detection_row_order() -> None:
    positions = np.arange(DETECTION_MIN_ROWS, dtype=float)
    labels = positions % 2
    real = pd.DataFrame({"x": positions, "label": labels})
    schema = infer_schema(real, "label", {"x": "numeric", "label": "binary"})
    synthetic = pd.DataFrame({"x": positions + 5.5, "label": labels})
    reversed_synthetic = synthetic.iloc[::-1].reset_index(drop=True)

    original = DetectionAUROC(seed=0).compute(real, synthetic, schema)
    reordered = DetectionAUROC(seed=0).compute(real, reversed_synthetic, schema)
    assert_same_result(original, reordered)


# Plausibility violations.
# Identical tables: the metric has no perfect score of its own. It scores the synthetic table
# alone, so with synthetic == real it equals details["real_share"]. By the same reasoning,
# swapping the tables swaps value and real_share.


@FAST
@given(pair=table_pairs())
def test_plausibility_identical_tables_match_real(pair) -> None:
    real, _, schema = pair
    result = PlausibilityViolations(GENERIC_RULES).compute(real, real.copy(), schema)
    assert result.scored, result.reason
    assert result.value == result.details["real_share"]


@FAST
@given(pair=table_pairs())
def test_plausibility_scores_in_range(pair) -> None:
    real, synthetic, schema = pair
    result = PlausibilityViolations(GENERIC_RULES).compute(real, synthetic, schema)
    assert_in_range(result, PlausibilityViolations.min_value, PlausibilityViolations.max_value)
    assert 0.0 <= result.details["real_share"] <= 1.0


@FAST
@given(pair=table_pairs())
def test_plausibility_swap_exchanges_real_share(pair) -> None:
    real, synthetic, schema = pair
    forward = PlausibilityViolations(GENERIC_RULES).compute(real, synthetic, schema)
    backward = PlausibilityViolations(GENERIC_RULES).compute(synthetic, real, schema)
    assert forward.value == backward.details["real_share"]
    assert backward.value == forward.details["real_share"]


@FAST
@given(pair=table_pairs(), seed=SEEDS)
def test_plausibility_row_order(pair, seed) -> None:
    real, synthetic, schema = pair
    metric = PlausibilityViolations(GENERIC_RULES)
    original = metric.compute(real, synthetic, schema)
    shuffled = metric.compute(shuffle_rows(real, seed), shuffle_rows(synthetic, seed + 1), schema)
    assert_same_result(original, shuffled)
    assert original.details["real_share"] == shuffled.details["real_share"]


@FAST
@given(pair=table_pairs(layout=RHC), seed=SEEDS)
def test_plausibility_rhc_rules(pair, seed) -> None:
    real, synthetic, schema = pair
    metric = PlausibilityViolations.for_dataset("rhc")
    result = metric.compute(real, synthetic, schema)
    identical = metric.compute(real, real.copy(), schema)
    shuffled = metric.compute(shuffle_rows(real, seed), shuffle_rows(synthetic, seed + 1), schema)

    assert_in_range(result, metric.min_value, metric.max_value)
    assert_same_result(result, shuffled)
    # A table whose features are all binary applies no RHC rule (malighx occurs only in rules
    # together with ca), and then the metric is unscored.
    if identical.scored:
        assert identical.value == identical.details["real_share"]


# Diversity metrics. Symmetry does not apply to them: each scores the synthetic table and uses
# the real one only as a baseline (duplicates, near duplicates) or as the target that the
# synthetic table should cover (coverage). Swapping the tables of DuplicateRowShare exchanges
# value and real_share, as for plausibility.


def distinct_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the first occurrence of each row.

    The generated values have at most 4 significant digits, so rows that pandas finds distinct
    also have distinct row keys (which round to 6 significant digits).
    """
    return frame.drop_duplicates(ignore_index=True)


@FAST
@given(pair=table_pairs())
def test_duplicate_share_distinct_rows_zero(pair) -> None:
    real, _, schema = pair
    distinct = distinct_rows(real)
    result = DuplicateRowShare().compute(real, distinct, schema)
    assert result.scored, result.reason
    assert result.value == 0.0


@FAST
@given(pair=table_pairs())
def test_duplicate_share_in_range(pair) -> None:
    # The documented range is [0, 1): at least the first row of a table is not a repeat.
    real, synthetic, schema = pair
    result = DuplicateRowShare().compute(real, synthetic, schema)
    assert result.scored, result.reason
    assert 0.0 <= result.value < 1.0
    assert 0.0 <= result.details["real_share"] < 1.0


@FAST
@given(pair=table_pairs())
def test_duplicate_share_swap_exchanges_real_share(pair) -> None:
    real, synthetic, schema = pair
    forward = DuplicateRowShare().compute(real, synthetic, schema)
    backward = DuplicateRowShare().compute(synthetic, real, schema)
    assert forward.value == backward.details["real_share"]
    assert backward.value == forward.details["real_share"]


@FAST
@given(pair=table_pairs())
def test_near_duplicate_identical_tables_match_real(pair) -> None:
    # Like plausibility, the metric has no perfect score of its own: a table equal to the real
    # one has its real_share, about 0.05 or more when distances tie at the threshold.
    real, _, schema = pair
    result = NearDuplicateShare(seed=0).compute(real, real.copy(), schema)
    assert result.scored, result.reason
    assert result.value == result.details["real_share"]


@pytest.mark.parametrize(
    "metric_class", [DuplicateRowShare, CategoryCoverage, RangeCoverage], ids=lambda metric_class: metric_class.name
)
@FAST
@given(pair=table_pairs(), seed=SEEDS)
def test_diversity_row_order(metric_class, pair, seed) -> None:
    # LateRepetition is left out: it compares the first and the second half of the rows, so
    # the row order matters by design. NearDuplicateShare has its own tests below.
    real, synthetic, schema = pair
    original = metric_class().compute(real, synthetic, schema)
    shuffled = metric_class().compute(shuffle_rows(real, seed), shuffle_rows(synthetic, seed + 1), schema)
    assert_same_result(original, shuffled)


@FAST
@given(pair=table_pairs(equal_rows=True), seed=SEEDS)
def test_near_duplicate_row_order_equal_sizes(pair, seed) -> None:
    # With equal row counts (at most MAX_NEAR_DUPLICATE_ROWS) no rows are drawn.
    real, synthetic, schema = pair
    original = NearDuplicateShare(seed=0).compute(real, synthetic, schema)
    shuffled = NearDuplicateShare(seed=0).compute(shuffle_rows(real, seed), shuffle_rows(synthetic, seed + 1), schema)
    assert_same_result(original, shuffled)


def test_near_duplicate_row_order_unequal_sizes() -> None:
    # The seed-0 draw keeps synthetic rows 1 to 4 of 6. Moving the last row to the front puts
    # both rows with x = 0 into the draw, and they are near duplicates of each other.
    real = pd.DataFrame({"x": [0.0, 10.0, 20.0, 30.0], "label": [0.0] * 4})
    schema = infer_schema(real, "label", {"x": "numeric", "label": "binary"})
    synthetic = pd.DataFrame({"x": [0.0, 0.0, 100.0, 200.0, 300.0, 400.0], "label": [0.0] * 6})
    moved = synthetic.iloc[[5, 0, 1, 2, 3, 4]].reset_index(drop=True)

    original = NearDuplicateShare(seed=0).compute(real, synthetic, schema)
    reordered = NearDuplicateShare(seed=0).compute(real, moved, schema)
    assert original.value == reordered.value


@pytest.mark.parametrize(
    "metric_class",
    [NearDuplicateShare, CategoryCoverage, RangeCoverage, LateRepetition],
    ids=lambda metric_class: metric_class.name,
)
@FAST
@given(pair=table_pairs())
def test_diversity_scores_in_range(metric_class, pair) -> None:
    real, synthetic, schema = pair
    metric = metric_class()
    assert_in_range(metric.compute(real, synthetic, schema), metric.min_value, metric.max_value)


@FAST
@given(pair=table_pairs())
def test_category_coverage_identical_tables_one(pair) -> None:
    real, _, schema = pair
    result = CategoryCoverage().compute(real, real.copy(), schema)
    assert result.scored == has_present_categories(real, schema), result.reason
    if result.scored:
        assert result.value == 1.0


@FAST
@given(pair=table_pairs())
def test_range_coverage_identical_tables_one(pair) -> None:
    real, _, schema = pair
    result = RangeCoverage().compute(real, real.copy(), schema)
    assert result.scored == has_finite_numbers(real, schema), result.reason
    if result.scored:
        assert result.value == 1.0


@FAST
@given(pair=table_pairs())
def test_late_repetition_distinct_rows_zero(pair) -> None:
    # LateRepetition scores repeats within the synthetic table only, so "identical tables"
    # does not apply. A table without repeated rows scores exactly 0.
    real, _, schema = pair
    result = LateRepetition().compute(real, distinct_rows(real), schema)
    if result.scored:
        assert result.value == 0.0


@FAST
@given(pair=table_pairs(), data=st.data())
def test_late_repetition_segments_in_range(pair, data) -> None:
    real, synthetic, schema = pair
    cuts = sorted(data.draw(st.lists(st.integers(0, len(synthetic)), max_size=4), label="cuts"))
    sizes = np.diff([0, *cuts, len(synthetic)]).tolist()
    result = LateRepetition(segment_sizes=sizes).compute(real, synthetic, schema)
    assert_in_range(result, LateRepetition.min_value, LateRepetition.max_value)


# Privacy metrics. Symmetry does not apply: train, reference, test and synthetic play
# different roles.


def closest_record_results(result: ClosestRecordResult) -> dict[str, MetricResult]:
    return {
        DCR.name: result.dcr_ratio,
        NNDR.name: result.nndr_ratio,
        ExactCopyRate.name: result.exact_copy_rate,
        NearCopyRate.name: result.near_copy_rate,
    }


def attack_results(result: MembershipInferenceResult) -> dict[str, MetricResult]:
    return {DistanceAttackAUROC.name: result.distance_attack, DensityAttackAUROC.name: result.density_attack}


@FAST
@given(parts=privacy_parts())
def test_closest_record_synthetic_equals_train(parts) -> None:
    train, reference, _, _, schema = parts
    result = closest_record_metrics(train, reference, train.copy(), schema)

    assert result.exact_copy_rate.value == 1.0
    # The ratios are unscored when the median of the reference rows is 0.
    if result.dcr_ratio.scored:
        assert result.dcr_ratio.value == 0.0
    else:
        assert result.dcr_ratio.details["reference_median"] == 0.0
    # NNDR of a row with two training rows at distance 0 is 1, so the ratio is 0 only when
    # the training rows are distinct.
    if result.nndr_ratio.scored and not train.duplicated().any():
        assert result.nndr_ratio.value == 0.0
    # A synthetic row is a near copy when its DCR (here 0) is below the threshold.
    expected_near = 1.0 if result.near_copy_rate.details["threshold"] > 0.0 else 0.0
    assert result.near_copy_rate.value == expected_near


@FAST
@given(parts=privacy_parts())
def test_membership_synthetic_equals_train(parts) -> None:
    # Every member is at distance 0 from the synthetic table, so the distance attack ranks
    # no non-member above a member. The density attack has no such bound.
    train, reference, test, _, schema = parts
    result = membership_inference(train, test, train.copy(), schema, 0, reference=reference)
    distance = result.distance_attack

    # roc_auc_score sums trapezoids, so 1.0 can come out as 0.9999999999999999.
    assert distance.value >= 0.5 - TOLERANCE
    train_rows = set(train.astype(object).where(train.notna(), None).itertuples(index=False))
    test_rows = set(test.astype(object).where(test.notna(), None).itertuples(index=False))
    if not train_rows & test_rows:
        assert distance.value == pytest.approx(1.0, abs=TOLERANCE)
        assert distance.details["advantage"] == pytest.approx(1.0, abs=TOLERANCE)


@FAST
@given(parts=privacy_parts())
def test_privacy_scores_in_range(parts) -> None:
    train, reference, test, synthetic, schema = parts
    closest = closest_record_results(closest_record_metrics(train, reference, synthetic, schema))
    attacks = attack_results(membership_inference(train, test, synthetic, schema, 0, reference=reference))
    metric_classes = {
        metric_class.name: metric_class
        for metric_class in (DCR, NNDR, ExactCopyRate, NearCopyRate, DistanceAttackAUROC, DensityAttackAUROC)
    }

    for name, result in {**closest, **attacks}.items():
        assert_in_range(result, metric_classes[name].min_value, metric_classes[name].max_value)
    for result in attacks.values():
        assert result.scored, result.reason
        assert 0.0 <= result.details["advantage"] <= 1.0
        assert result.low <= result.value
        assert result.value <= result.high


@FAST
@given(parts=privacy_parts(), seed=SEEDS)
def test_privacy_row_order(parts, seed) -> None:
    train, reference, test, synthetic, schema = parts
    shuffled_train, shuffled_reference, shuffled_test, shuffled_synthetic = (
        shuffle_rows(frame, seed + offset) for offset, frame in enumerate(parts[:4])
    )

    original = {
        **closest_record_results(closest_record_metrics(train, reference, synthetic, schema)),
        **attack_results(membership_inference(train, test, synthetic, schema, 0, reference=reference)),
    }
    reordered = {
        **closest_record_results(
            closest_record_metrics(shuffled_train, shuffled_reference, shuffled_synthetic, schema)
        ),
        **attack_results(
            membership_inference(
                shuffled_train, shuffled_test, shuffled_synthetic, schema, 0, reference=shuffled_reference
            )
        ),
    }
    for name, result in original.items():
        assert_same_result(result, reordered[name])
    for name in (DistanceAttackAUROC.name, DensityAttackAUROC.name):
        assert_close(original[name].details["advantage"], reordered[name].details["advantage"], f"{name} advantage")


# Utility (TSTR AUROC and AUPRC through fit_and_score). Identical tables do not apply: training
# on the test part itself bounds neither score, because rows with equal features may have
# different labels and XGBoost with fixed hyperparameters need not fit every training row.
# Symmetry does not apply either, because train and test play different roles and only the
# test part needs both classes.


@SLOW
@given(pair=table_pairs(complete_real_label=True))
def test_utility_scores_in_range(pair) -> None:
    real, synthetic, schema = pair
    result = fit_and_score(synthetic, real, schema, seed=0, n_bootstrap=UTILITY_BOOTSTRAP)
    assert_in_range(result.auroc, TSTRAUROC.min_value, TSTRAUROC.max_value)
    assert_in_range(result.auprc, TSTRAUPRC.min_value, TSTRAUPRC.max_value)
    assert result.auroc.scored == result.auprc.scored


@SLOW
@given(pair=table_pairs(complete_real_label=True), seed=SEEDS)
def test_utility_row_order(pair, seed) -> None:
    # Only the point values are compared: the bootstrap draws test rows by position, so the
    # intervals depend on the row order by design.
    real, synthetic, schema = pair
    original = fit_and_score(synthetic, real, schema, seed=0, n_bootstrap=0)
    shuffled = fit_and_score(shuffle_rows(synthetic, seed), shuffle_rows(real, seed + 1), schema, seed=0, n_bootstrap=0)
    assert original.scored == shuffled.scored
    assert_close(original.auroc.value, shuffled.auroc.value, "auroc")
    assert_close(original.auprc.value, shuffled.auprc.value, "auprc")
