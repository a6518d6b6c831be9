"""Tests of the diversity metrics: duplicates, near duplicates, coverage and late repetition."""

from __future__ import annotations

import pandas as pd
import pytest

from ehrbench.datasets import EICU_DIR_VARIABLE, get_dataset, prepare, resolve_eicu_dir
from ehrbench.datasets.base import PreparedDataset
from ehrbench.metrics.diversity import (
    DIVERSITY_METRICS,
    MIN_SEGMENT_ROWS,
    CategoryCoverage,
    DuplicateRowShare,
    LateRepetition,
    NearDuplicateShare,
    RangeCoverage,
    count_repeats,
    row_keys,
)
from ehrbench.parsing.validity import training_row_keys
from ehrbench.schema import ColumnKind, TableSchema, infer_schema

NAN = float("nan")
INF = float("inf")

KINDS: dict[str, ColumnKind] = {"x": "numeric", "flag": "binary", "group": "categorical", "label": "binary"}


def make_frame(rows: list[tuple]) -> pd.DataFrame:
    """Return rows of (x, flag, group, label) with the dtypes of ehrbench.schema."""
    frame = pd.DataFrame(rows, columns=list(KINDS))
    frame["group"] = frame["group"].astype(object)
    return frame


REAL_ROWS = [(float(x), float(x % 2), "abcd"[x % 4], float(x % 3 == 0)) for x in range(101)]


@pytest.fixture(scope="module")
def schema() -> TableSchema:
    return infer_schema(make_frame(REAL_ROWS), "label", KINDS)


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return make_frame(REAL_ROWS)


# Row keys and exact duplicates.


def test_row_keys_match_training_keys(schema: TableSchema, real: pd.DataFrame) -> None:
    frame = make_frame([(1.0, 0.0, "a", 0.0), (1.0000001, 0.0, "a", 0.0), (NAN, NAN, NAN, 1.0)])
    keys = row_keys(frame, schema, schema.names)
    assert keys[0] == keys[1]
    assert keys[2] == (None, None, None, 1.0)
    assert set(keys) == training_row_keys(frame, schema)


def test_duplicates_counted_exactly(schema: TableSchema, real: pd.DataFrame) -> None:
    a, b, c = (1.0, 0.0, "a", 0.0), (2.0, 1.0, "b", 1.0), (3.0, 0.0, "c", 0.0)
    result = DuplicateRowShare().compute(real, make_frame([a, a, b, a, c, b]), schema)
    assert result.value == pytest.approx(3 / 6)
    assert result.details["n_unique_rows"] == 3
    assert result.details["max_copies"] == 3
    assert result.details["real_share"] == 0.0


def test_duplicates_after_rounding(schema: TableSchema, real: pd.DataFrame) -> None:
    rows = [(12.3456781, 0.0, "a", 0.0), (12.3456789, 0.0, "a", 0.0), (12.34568, 0.0, "a", 0.0)]
    assert DuplicateRowShare().compute(real, make_frame(rows), schema).value == pytest.approx(2 / 3)


def test_duplicates_none_when_distinct(schema: TableSchema, real: pd.DataFrame) -> None:
    rows = [(12.3456, 0.0, "a", 0.0), (12.3457, 0.0, "a", 0.0), (12.3456, 0.0, "b", 0.0)]
    assert DuplicateRowShare().compute(real, make_frame(rows), schema).value == 0.0


def test_missing_values_are_equal_keys(schema: TableSchema, real: pd.DataFrame) -> None:
    rows = [(NAN, 0.0, NAN, 0.0), (NAN, 0.0, NAN, 0.0)]
    assert DuplicateRowShare().compute(real, make_frame(rows), schema).value == 0.5


def test_count_repeats() -> None:
    assert count_repeats([]) == 0
    assert count_repeats([(1,), (1,), (2,), (1,)]) == 2


# Near duplicates.


def test_near_duplicates_of_one_row(schema: TableSchema, real: pd.DataFrame) -> None:
    synthetic = make_frame([(50.0, 1.0, "a", 0.0)] * 20)
    result = NearDuplicateShare().compute(real, synthetic, schema)
    assert result.value == 1.0
    assert result.details["n_rows_compared"] == 20


def test_near_duplicates_real_against_itself(schema: TableSchema, real: pd.DataFrame) -> None:
    result = NearDuplicateShare().compute(real, real, schema)
    assert result.value == result.details["real_share"]
    assert result.value < 0.2


def test_near_duplicates_seeded_draw(schema: TableSchema, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ehrbench.metrics.diversity.MAX_NEAR_DUPLICATE_ROWS", 30)
    frame = make_frame(REAL_ROWS)
    first = NearDuplicateShare(seed=3).compute(frame, frame, schema)
    second = NearDuplicateShare(seed=3).compute(frame, frame, schema)
    assert first.details["n_rows_compared"] == 30
    assert first == second


def test_near_duplicates_need_two_rows(schema: TableSchema, real: pd.DataFrame) -> None:
    result = NearDuplicateShare().compute(real, make_frame([(1.0, 0.0, "a", 0.0)]), schema)
    assert result.value is None
    assert "at least 2 rows" in result.reason


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_near_duplicates_bad_seed(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        NearDuplicateShare(seed=seed)


# Coverage.


def test_category_coverage_by_hand(schema: TableSchema, real: pd.DataFrame) -> None:
    synthetic = make_frame([(1.0, 0.0, "a", 0.0), (2.0, 0.0, "b", 1.0), (3.0, 0.0, NAN, 0.0)])
    result = CategoryCoverage().compute(real, synthetic, schema)
    assert result.details["per_column"] == {"flag": 0.5, "group": 0.5, "label": 1.0}
    assert result.value == pytest.approx(2 / 3)
    assert result.details["absent_categories"] == {"flag": [1.0], "group": ["c", "d"]}


def test_category_coverage_skips_empty_real(schema: TableSchema) -> None:
    real = make_frame([(1.0, NAN, "a", 0.0), (2.0, NAN, "b", 1.0)])
    result = CategoryCoverage().compute(real, real, schema)
    assert "flag" in result.details["skipped"]
    assert result.value == 1.0


def test_range_coverage_by_hand(schema: TableSchema, real: pd.DataFrame) -> None:
    # Real x is 0..100, so its [1st, 99th] percentiles are [1, 99].
    synthetic = make_frame([(0.0, 0.0, "a", 0.0), (50.0, 1.0, "b", 1.0)])
    result = RangeCoverage().compute(real, synthetic, schema)
    assert result.value == pytest.approx(49 / 98)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([NAN, NAN], 0.0),
        ([200.0, 300.0], 0.0),
        ([-INF, 10.0, 20.0], 10 / 98),
        ([-5.0, 500.0], 1.0),
        ([42.0, 42.0], 0.0),
    ],
)
def test_range_coverage_cases(schema: TableSchema, real: pd.DataFrame, values: list, expected: float) -> None:
    synthetic = make_frame([(value, 0.0, "a", 0.0) for value in values])
    result = RangeCoverage().compute(real, synthetic, schema)
    assert result.value == pytest.approx(expected)


def test_range_coverage_single_point(schema: TableSchema) -> None:
    real = make_frame([(7.0, 0.0, "a", 0.0)] * 10)
    inside = make_frame([(6.0, 0.0, "a", 0.0), (8.0, 0.0, "a", 0.0)])
    outside = make_frame([(8.0, 0.0, "a", 0.0), (9.0, 0.0, "a", 0.0)])
    assert RangeCoverage().compute(real, inside, schema).value == 1.0
    assert RangeCoverage().compute(real, outside, schema).value == 0.0


def test_range_coverage_counts_infinite(schema: TableSchema, real: pd.DataFrame) -> None:
    synthetic = make_frame([(INF, 0.0, "a", 0.0), (5.0, 0.0, "a", 0.0)])
    assert RangeCoverage().compute(real, synthetic, schema).details["infinite_values"] == {"x": 1}


# Late repetition.


def rows_from_labels(labels: str) -> pd.DataFrame:
    """Return one row per letter; equal letters give equal rows."""
    return make_frame([(float(ord(letter)), 0.0, "a", 0.0) for letter in labels])


def test_late_repetition_by_hand(schema: TableSchema, real: pd.DataFrame) -> None:
    # First half "abcd": no repeat. Second half "eeef": 2 repeats of 4 rows.
    result = LateRepetition().compute(real, rows_from_labels("abcdeeef"), schema)
    assert result.details["first_share"] == 0.0
    assert result.details["second_share"] == 0.5
    assert result.value == 0.5


def test_late_repetition_early_negative(schema: TableSchema, real: pd.DataFrame) -> None:
    result = LateRepetition().compute(real, rows_from_labels("aaabcdef"), schema)
    assert result.value == -0.5


def test_late_repetition_ignores_cross_half(schema: TableSchema, real: pd.DataFrame) -> None:
    assert LateRepetition().compute(real, rows_from_labels("abcdabcd"), schema).value == 0.0


def test_late_repetition_segments(schema: TableSchema, real: pd.DataFrame) -> None:
    # Segment "abcc" has halves "ab" and "cc" (1 repeat). Segment "xy" is short. Segment
    # "defgghhh" has halves "defg" and "ghhh" (2 repeats).
    metric = LateRepetition(segment_sizes=[4, 2, 8])
    result = metric.compute(real, rows_from_labels("abccxydefgghhh"), schema)
    assert result.details["short_segments"] == 1
    assert result.details["first_rows"] == 6
    assert result.details["second_repeats"] == 3
    assert result.value == pytest.approx(3 / 6)


def test_late_repetition_size_mismatch(schema: TableSchema, real: pd.DataFrame) -> None:
    result = LateRepetition(segment_sizes=[4, 4]).compute(real, rows_from_labels("abcdefg"), schema)
    assert result.value is None
    assert "add up to 8" in result.reason


def test_late_repetition_too_short(schema: TableSchema, real: pd.DataFrame) -> None:
    result = LateRepetition().compute(real, rows_from_labels("a" * (MIN_SEGMENT_ROWS - 1)), schema)
    assert result.value is None
    assert f"at least {MIN_SEGMENT_ROWS} rows" in result.reason


@pytest.mark.parametrize(
    ("sizes", "error"),
    [("44", TypeError), (5, TypeError), ([4, -1], ValueError), ([2.0], ValueError)],
)
def test_late_repetition_bad_sizes(sizes: object, error: type) -> None:
    with pytest.raises(error, match="segment_sizes"):
        LateRepetition(segment_sizes=sizes)


# Inputs every diversity metric shares.


@pytest.mark.parametrize("metric_class", DIVERSITY_METRICS)
@pytest.mark.parametrize(
    ("synthetic", "expected"),
    [
        (None, "NoneType"),
        (pd.DataFrame(columns=list(KINDS)), "0 rows"),
        (make_frame([(1.0, 0.0, "a", 0.0)]).drop(columns=["x"]), "missing the columns ['x']"),
        (make_frame([(1.0, 2.0, "a", 0.0)]), "other than 0 and 1"),
    ],
)
def test_bad_synthetic_unscored(
    schema: TableSchema, real: pd.DataFrame, metric_class: type, synthetic: object, expected: str
) -> None:
    result = metric_class().compute(real, synthetic, schema)
    assert result.value is None
    assert expected in result.reason


@pytest.mark.parametrize("metric_class", DIVERSITY_METRICS)
def test_bad_real_raises(schema: TableSchema, metric_class: type) -> None:
    with pytest.raises(TypeError, match="real"):
        metric_class().compute([1, 2], make_frame(REAL_ROWS), schema)


@pytest.mark.parametrize("metric_class", DIVERSITY_METRICS)
def test_range_and_goal_declared(metric_class: type) -> None:
    assert metric_class.goal in ("minimize", "maximize")
    assert metric_class.min_value < metric_class.max_value


# Real tables against themselves.


def check_real_against_itself(prepared: PreparedDataset) -> None:
    test = prepared.test
    assert CategoryCoverage().compute(test, test, prepared.schema).value == 1.0
    assert RangeCoverage().compute(test, test, prepared.schema).value == 1.0
    duplicates = DuplicateRowShare().compute(test, test, prepared.schema)
    assert duplicates.value == duplicates.details["real_share"]
    assert duplicates.value < 0.01
    late = LateRepetition().compute(test, test, prepared.schema)
    assert abs(late.value) < 0.01


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


def test_rhc_real_against_itself(rhc: PreparedDataset) -> None:
    check_real_against_itself(rhc)


@pytest.mark.eicu
def test_eicu_real_against_itself(request: pytest.FixtureRequest) -> None:
    folder = resolve_eicu_dir(request.config.getoption("--eicu-dir", default=None))
    if folder is None:
        pytest.skip(f"set {EICU_DIR_VARIABLE} or --eicu-dir to an eICU-CRD folder to run this test")
    if not folder.is_dir():
        pytest.skip(f"eICU-CRD folder {str(folder)!r} from {EICU_DIR_VARIABLE} does not exist")
    check_real_against_itself(prepare(get_dataset("eicu", folder)))


def test_rhc_coverage_of_narrow_table(rhc: PreparedDataset) -> None:
    narrow = rhc.test.head(20)
    coverage = RangeCoverage().compute(rhc.test, narrow, rhc.schema)
    assert 0.0 < coverage.value < 1.0
    assert min(coverage.details["per_column"].values()) < 1.0


def test_rhc_near_duplicates_of_copies(rhc: PreparedDataset) -> None:
    copies = pd.concat([rhc.test.head(100)] * 2, ignore_index=True)
    result = NearDuplicateShare().compute(rhc.test, copies, rhc.schema)
    assert result.value == 1.0
    assert result.details["real_share"] < 0.2
