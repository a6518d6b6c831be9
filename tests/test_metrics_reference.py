"""The fidelity and utility metrics checked against SDMetrics 0.32, scipy and scikit-learn.

Each equality holds within :data:`TOLERANCE` on data where the two definitions coincide.
The tests marked "documented difference" pin the cases where they do not, and by how much:

- KS statistic vs ``1 - KSComplement``: KSComplement rounds values to 14 decimals before
  ``ks_2samp``. Rounding merges values that differ only beyond the 14th decimal (the gap
  can reach 1.0), and values above about 1.8e294 overflow to inf. It also keeps +/-inf,
  which :class:`KSStatistic` leaves out. Both drop missing values.
- Total variation vs ``1 - TVComplement``: TVComplement drops missing values, and
  ehrbench counts them as one more category. With real and synthetic missing rates ``a``
  and ``b``, ehrbench's value lies in ``[(1 - a) * tv, (1 - a) * tv + |a - b|]`` with ``tv``
  SDMetrics' value, and equals ``(1 - a) * tv`` when ``a == b``. TVComplement also adds
  1e-6 to the real count of each of the ``k`` categories that only the synthetic column has.
  That moves its value by at most ``k * 1e-6 / (n + k * 1e-6)``, with ``n`` the real
  non-missing rows. TVComplement raises on a column without non-missing values.
- Correlation difference vs ``2 * (1 - CorrelationSimilarity)``: ehrbench skips pairs
  with fewer than ``MIN_PAIRED_ROWS`` complete rows, which SDMetrics scores. It treats
  +/-inf as missing, and SDMetrics then returns NaN.
- Contingency difference vs ``1 - ContingencySimilarity``: equal, missing values included.
- KL divergence and TSTR AUROC/AUPRC: equal to scipy and scikit-learn on the same counts
  and predictions.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import entropy, ks_2samp, mannwhitneyu
from sklearn.metrics import average_precision_score, roc_auc_score
from xgboost import XGBClassifier

pytest.importorskip("sdmetrics")

from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity  # noqa: E402
from sdmetrics.errors import ConstantInputError, IncomputableMetricError  # noqa: E402
# ColumnShapes is the QualityReport property that scores single columns. sdmetrics 0.32
# keeps it in a private module.
from sdmetrics.reports.single_table._properties import ColumnShapes  # noqa: E402
from sdmetrics.single_column import KSComplement, TVComplement  # noqa: E402

from ehrbench.datasets import get_dataset, prepare  # noqa: E402
from ehrbench.metrics import (  # noqa: E402
    CorrelationDifference,
    KLDivergence,
    KSStatistic,
    TotalVariation,
)
from ehrbench.metrics import pairwise, utility  # noqa: E402
from ehrbench.metrics.correlation import MIN_PAIRED_ROWS  # noqa: E402
from ehrbench.metrics.kl_divergence import N_BINS, SMOOTHING, column_kl_divergence  # noqa: E402
from ehrbench.metrics.pairwise import (  # noqa: E402
    bin_numeric_columns,
    contingency_difference,
    contingency_differences,
    correlation_differences,
)
from ehrbench.metrics.total_variation import total_variation  # noqa: E402
from ehrbench.schema import ColumnKind, TableSchema, coerce_frame, infer_schema  # noqa: E402

# ks_2samp warns when its exact p-value fails. Only its statistic is used here.
pytestmark = pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")

TOLERANCE = 1e-9

#: Pseudo-count that sdmetrics.utils.get_frequencies (0.32) adds to synthetic-only categories.
SDMETRICS_SMOOTHING = 1e-6

LABEL = "label"
MISSING = float("nan")
CATEGORIES = ("a", "b", "c", "d", "e")

#: Numbers with two decimals, which rounding to 14 decimals leaves unchanged, and a small
#: set of quarters, so that ties are common.
DECIMALS = st.one_of(
    st.integers(-100_000, 100_000).map(lambda i: i / 100),
    st.integers(-12, 12).map(lambda i: i / 4),
)


def numbers_with_missing() -> st.SearchStrategy:
    """Return lists of DECIMALS in which about one value in four is missing."""
    return st.lists(st.one_of(DECIMALS, DECIMALS, DECIMALS, st.just(MISSING)), min_size=1, max_size=40)


def categories(pool: tuple, missing: bool, max_size: int = 40) -> st.SearchStrategy:
    element = st.sampled_from(pool)
    if missing:
        element = st.one_of(element, element, st.just(MISSING))
    return st.lists(element, min_size=1, max_size=max_size)


def labelled(columns: dict[str, list], kinds: dict[str, ColumnKind]) -> pd.DataFrame:
    """Return ``columns`` as a table with schema dtypes and an alternating 0/1 label."""
    frame = pd.DataFrame(
        {
            name: pd.Series(values, dtype=object if kinds[name] == "categorical" else float)
            for name, values in columns.items()
        }
    )
    frame[LABEL] = (np.arange(len(frame)) % 2).astype(float)
    return frame


def schema_of(frame: pd.DataFrame, kinds: dict[str, ColumnKind]) -> TableSchema:
    # infer_schema tests whole numbers with np.mod, which warns on +/-inf.
    with np.errstate(invalid="ignore"):
        return infer_schema(frame, LABEL, {**kinds, LABEL: "binary"})


def missing_rate(values: pd.Series) -> float:
    return float(values.isna().mean())


def smoothing_gap_bound(real: pd.Series, synthetic: pd.Series) -> float:
    """Return the largest shift of TVComplement caused by its synthetic-only pseudo-counts."""
    real_present = real.dropna()
    n_only = len(set(synthetic.dropna()) - set(real_present))
    return n_only * SDMETRICS_SMOOTHING / (len(real_present) + n_only * SDMETRICS_SMOOTHING)


def sdmetrics_metadata(schema: TableSchema) -> dict:
    sdtypes = {"numeric": "numerical", "binary": "boolean", "categorical": "categorical"}
    return {"columns": {column.name: {"sdtype": sdtypes[column.kind]} for column in schema.columns}}


@pytest.fixture(scope="module")
def rhc():
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def rhc_pair(rhc):
    """The RHC test part as the real table and the reference part as the synthetic one."""
    return rhc.test, rhc.reference, rhc.schema


def names_of_kind(schema: TableSchema, *kinds: ColumnKind) -> list[str]:
    return [column.name for column in schema.columns if column.kind in kinds]


# KS statistic


@settings(max_examples=60, deadline=None)
@given(real=numbers_with_missing(), synthetic=numbers_with_missing())
def test_ks_equals_kscomplement(real, synthetic):
    assume(not all(math.isnan(value) for value in real))
    assume(not all(math.isnan(value) for value in synthetic))
    kinds: dict[str, ColumnKind] = {"x": "numeric"}
    real_frame = labelled({"x": real}, kinds)
    synthetic_frame = labelled({"x": synthetic}, kinds)

    result = KSStatistic().compute(real_frame, synthetic_frame, schema_of(real_frame, kinds))
    ours = result.details["per_column"]["x"]

    reference = 1 - KSComplement.compute(real_frame["x"], synthetic_frame["x"])
    assert ours == pytest.approx(reference, abs=TOLERANCE)
    scipy_value = ks_2samp(real_frame["x"].dropna(), synthetic_frame["x"].dropna()).statistic
    assert ours == pytest.approx(scipy_value, abs=TOLERANCE)


def test_ks_rhc_columns_equal_kscomplement(rhc_pair):
    real, synthetic, schema = rhc_pair
    per_column = KSStatistic().compute(real, synthetic, schema).details["per_column"]
    numeric = names_of_kind(schema, "numeric")
    assert sorted(per_column) == sorted(numeric)

    for name in numeric:
        reference = 1 - KSComplement.compute(real[name], synthetic[name])
        assert per_column[name] == pytest.approx(reference, abs=TOLERANCE), name


def test_ks_rounding_merges_values():
    """Documented difference: 0.1 + 0.2 and 0.3 become equal after rounding to 14 decimals."""
    real = pd.Series([0.1 + 0.2] * 5)
    synthetic = pd.Series([0.3] * 5)

    assert ks_2samp(real, synthetic).statistic == 1.0
    assert 1 - KSComplement.compute(real, synthetic) == 0.0


def test_ks_huge_values_overflow_in_kscomplement():
    """Documented difference: rounding sends finite values above about 1.8e294 to inf."""
    real = pd.Series([1e300, 2e300, 3e300])
    synthetic = pd.Series([4e300, 5e300, 6e300])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = 1 - KSComplement.compute(real, synthetic)
    assert ks_2samp(real, synthetic).statistic == 1.0
    assert reference == 0.0


def test_ks_infinite_synthetic_values():
    """Documented difference: KSStatistic leaves +inf out, KSComplement keeps it."""
    kinds: dict[str, ColumnKind] = {"x": "numeric"}
    real = labelled({"x": [1.0, 2.0, 3.0, 4.0] * 2}, kinds)
    synthetic = labelled({"x": [1.0, 2.0, 3.0, 4.0] + [math.inf] * 4}, kinds)

    result = KSStatistic().compute(real, synthetic, schema_of(real, kinds))
    assert result.details["per_column"]["x"] == 0.0
    assert result.details["infinite_values"] == {"x": 4}
    assert 1 - KSComplement.compute(real["x"], synthetic["x"]) == pytest.approx(0.5)


# Total variation


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["categorical", "binary"]))
def test_tv_equals_tvcomplement_without_missing(data, kind):
    pool = CATEGORIES if kind == "categorical" else (0.0, 1.0)
    real = data.draw(categories(pool, missing=False), label="real")
    seen = tuple(sorted(set(real)))
    synthetic = data.draw(categories(seen, missing=False), label="synthetic")
    kinds: dict[str, ColumnKind] = {"x": kind}
    real_frame = labelled({"x": real}, kinds)
    synthetic_frame = labelled({"x": synthetic}, kinds)

    result = TotalVariation().compute(real_frame, synthetic_frame, schema_of(real_frame, kinds))
    reference = 1 - TVComplement.compute(real_frame["x"], synthetic_frame["x"])
    assert result.details["per_column"]["x"] == pytest.approx(reference, abs=TOLERANCE)


@settings(max_examples=60, deadline=None)
@given(
    real=categories(CATEGORIES[:3], missing=False),
    synthetic=categories(CATEGORIES, missing=False),
)
def test_tv_smoothing_gap_is_bounded(real, synthetic):
    """Documented difference: TVComplement's pseudo-counts for synthetic-only categories."""
    real_series = pd.Series(real, dtype=object)
    synthetic_series = pd.Series(synthetic, dtype=object)

    ours = total_variation(real_series, synthetic_series)
    reference = 1 - TVComplement.compute(real_series, synthetic_series)
    bound = smoothing_gap_bound(real_series, synthetic_series)
    assert abs(ours - reference) <= bound + TOLERANCE


@pytest.mark.parametrize("n_rows", [1, 1000])
def test_tv_smoothing_gap_reaches_bound(n_rows):
    """Documented difference: disjoint columns put the gap exactly at its bound."""
    real = pd.Series(["a"] * n_rows, dtype=object)
    synthetic = pd.Series(["b"] * n_rows, dtype=object)

    ours = total_variation(real, synthetic)
    reference = 1 - TVComplement.compute(real, synthetic)
    assert ours == 1.0
    expected_gap = SDMETRICS_SMOOTHING / (n_rows + SDMETRICS_SMOOTHING)
    assert ours - reference == pytest.approx(expected_gap, rel=1e-6)
    assert ours - reference == pytest.approx(smoothing_gap_bound(real, synthetic), rel=1e-6)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_tv_missing_values_bounds(data):
    """Documented difference: missing values are a category in ehrbench, dropped in SDMetrics."""
    real = pd.Series(data.draw(categories(CATEGORIES, missing=True), label="real"), dtype=object)
    seen = tuple(sorted(set(real.dropna())))
    assume(seen)
    synthetic = pd.Series(data.draw(categories(seen, missing=True), label="synthetic"), dtype=object)
    assume(synthetic.notna().any())

    ours = total_variation(real, synthetic)
    reference = 1 - TVComplement.compute(real, synthetic)
    real_missing = missing_rate(real)
    synthetic_missing = missing_rate(synthetic)
    assert ours >= (1 - real_missing) * reference - TOLERANCE
    assert ours <= (1 - real_missing) * reference + abs(real_missing - synthetic_missing) + TOLERANCE


def test_tv_equal_missing_rates_scale_tvcomplement():
    real = pd.Series(["a", "b", MISSING, MISSING], dtype=object)
    synthetic = pd.Series(["a", "a", MISSING, MISSING], dtype=object)

    reference = 1 - TVComplement.compute(real, synthetic)
    assert reference == pytest.approx(0.5)
    assert total_variation(real, synthetic) == pytest.approx((1 - 0.5) * reference, abs=TOLERANCE)


def test_tv_all_missing_column():
    """Documented difference: TVComplement raises, ehrbench scores the missing category."""
    real = pd.Series([MISSING] * 4, dtype=object)
    synthetic = pd.Series(["a", "b", MISSING, MISSING], dtype=object)

    assert total_variation(real, synthetic) == pytest.approx(0.5)
    with pytest.raises(IncomputableMetricError):
        TVComplement.compute(real, synthetic)


def test_tv_rhc_columns_match_tvcomplement(rhc_pair):
    real, synthetic, schema = rhc_pair
    per_column = TotalVariation().compute(real, synthetic, schema).details["per_column"]
    discrete = names_of_kind(schema, "binary", "categorical")
    assert sorted(per_column) == sorted(discrete)

    for name in discrete:
        reference = 1 - TVComplement.compute(real[name], synthetic[name])
        if real[name].isna().any() or synthetic[name].isna().any():
            real_missing = missing_rate(real[name])
            gap = abs(real_missing - missing_rate(synthetic[name]))
            assert per_column[name] >= (1 - real_missing) * reference - TOLERANCE, name
            assert per_column[name] <= (1 - real_missing) * reference + gap + TOLERANCE, name
        else:
            bound = smoothing_gap_bound(real[name], synthetic[name])
            assert abs(per_column[name] - reference) <= bound + TOLERANCE, name


def test_column_shapes_property_matches(rhc_pair):
    """SDMetrics' Column Shapes details equal 1 - ehrbench per column, cat2 (missing) aside."""
    real, synthetic, schema = rhc_pair
    shapes = ColumnShapes()
    shapes.get_score(real, synthetic, sdmetrics_metadata(schema))
    scores = dict(zip(shapes.details["Column"], shapes.details["Score"]))
    ks = KSStatistic().compute(real, synthetic, schema).details["per_column"]
    tv = TotalVariation().compute(real, synthetic, schema).details["per_column"]
    assert sorted(scores) == sorted(schema.names)

    for name in names_of_kind(schema, "numeric"):
        assert ks[name] == pytest.approx(1 - scores[name], abs=TOLERANCE), name

    discrete = names_of_kind(schema, "binary", "categorical")
    with_missing = [name for name in discrete if real[name].isna().any()]
    assert with_missing == ["cat2"]
    for name in discrete:
        if name in with_missing:
            continue
        bound = smoothing_gap_bound(real[name], synthetic[name])
        assert abs(tv[name] - (1 - scores[name])) <= bound + TOLERANCE, name


# Pearson correlation difference


def correlation_rows(min_size: int) -> st.SearchStrategy:
    value = st.one_of(DECIMALS, DECIMALS, DECIMALS, st.just(MISSING))
    return st.lists(st.tuples(value, value), min_size=min_size, max_size=40)


def pair_frame(rows: list[tuple[float, float]]) -> pd.DataFrame:
    kinds: dict[str, ColumnKind] = {"x": "numeric", "y": "numeric"}
    return labelled({"x": [row[0] for row in rows], "y": [row[1] for row in rows]}, kinds)


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float | None:
    """Return SDMetrics' Pearson CorrelationSimilarity of x and y, None when it raises.

    It raises ConstantInputError for a constant column and, through ``scipy.stats.pearsonr``,
    ValueError for fewer than 2 complete rows.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(CorrelationSimilarity.compute(real[["x", "y"]], synthetic[["x", "y"]]))
    except (ConstantInputError, ValueError):
        return None


@settings(max_examples=80, deadline=None)
@given(real=correlation_rows(min_size=8), synthetic=correlation_rows(min_size=8))
def test_correlation_equals_correlation_similarity(real, synthetic):
    real_frame, synthetic_frame = pair_frame(real), pair_frame(synthetic)
    kinds: dict[str, ColumnKind] = {"x": "numeric", "y": "numeric"}
    schema = schema_of(real_frame, kinds)
    details = CorrelationDifference().compute(real_frame, synthetic_frame, schema).details
    similarity = correlation_similarity(real_frame, synthetic_frame)

    if "x|y" in details["per_pair"]:
        assert similarity is not None and not math.isnan(similarity)
        assert details["per_pair"]["x|y"] == pytest.approx(2 * (1 - similarity), abs=TOLERANCE)
    elif "constant" in details["skipped"]["x|y"]:
        assert similarity is None or math.isnan(similarity)
    else:
        # Documented difference: fewer than MIN_PAIRED_ROWS complete rows, see the next test.
        assert f"fewer than {MIN_PAIRED_ROWS}" in details["skipped"]["x|y"]


def test_correlation_few_rows_scored_only_by_sdmetrics():
    """Documented difference: SDMetrics scores a pair on 5 complete rows, ehrbench skips it."""
    real = pair_frame([(1.0, 2.0), (2.0, 1.0), (3.0, 5.0), (4.0, 3.0), (5.0, 6.0)])
    synthetic = pair_frame([(1.0, 1.0), (2.0, 2.0), (3.0, 2.0), (4.0, 5.0), (5.0, 4.0)])
    kinds: dict[str, ColumnKind] = {"x": "numeric", "y": "numeric"}

    details = CorrelationDifference().compute(real, synthetic, schema_of(real, kinds)).details
    assert "x|y" in details["skipped"]
    similarity = correlation_similarity(real, synthetic)
    r_real = np.corrcoef(real["x"], real["y"])[0, 1]
    r_synthetic = np.corrcoef(synthetic["x"], synthetic["y"])[0, 1]
    assert similarity == pytest.approx(1 - abs(r_real - r_synthetic) / 2, abs=TOLERANCE)


def test_correlation_infinite_value_is_missing_only_in_ehrbench():
    """Documented difference: ehrbench drops a row with inf, SDMetrics returns NaN."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    real = pair_frame(list(zip(x, x + rng.normal(size=30))))
    synthetic = pair_frame(list(zip(x, x + rng.normal(size=30))))
    synthetic.loc[0, "x"] = math.inf
    kinds: dict[str, ColumnKind] = {"x": "numeric", "y": "numeric"}

    details = CorrelationDifference().compute(real, synthetic, schema_of(real, kinds)).details
    finite = synthetic.iloc[1:]
    expected = abs(np.corrcoef(real["x"], real["y"])[0, 1] - np.corrcoef(finite["x"], finite["y"])[0, 1])
    assert details["per_pair"]["x|y"] == pytest.approx(expected, abs=TOLERANCE)
    assert math.isnan(correlation_similarity(real, synthetic))


def test_correlation_rhc_numeric_pairs(rhc_pair):
    real, synthetic, schema = rhc_pair
    details = CorrelationDifference().compute(real, synthetic, schema).details
    numeric = names_of_kind(schema, "numeric")
    pairs = list(itertools.combinations(numeric, 2))
    assert len(pairs) == 231

    for first, second in pairs:
        similarity = CorrelationSimilarity.compute(real[[first, second]], synthetic[[first, second]])
        ours = details["per_pair"][f"{first}|{second}"]
        assert ours == pytest.approx(2 * (1 - similarity), abs=TOLERANCE), (first, second)


# Vectorised correlation differences


EXTREME = st.one_of(
    DECIMALS,
    DECIMALS.map(lambda value: 1e8 + value / 1000),
    st.sampled_from([MISSING, math.inf, -math.inf, 0.0, 1e200, 1e300]),
)


@settings(max_examples=80, deadline=None)
@given(
    real=st.lists(st.tuples(EXTREME, EXTREME, EXTREME), min_size=1, max_size=40),
    synthetic=st.lists(st.tuples(EXTREME, EXTREME, EXTREME), min_size=1, max_size=40),
)
def test_vectorised_correlation_equals_per_pair(real, synthetic):
    kinds: dict[str, ColumnKind] = {"x": "numeric", "y": "numeric", "z": "numeric"}
    real_frame = labelled({name: [row[i] for row in real] for i, name in enumerate("xyz")}, kinds)
    synthetic_frame = labelled({name: [row[i] for row in synthetic] for i, name in enumerate("xyz")}, kinds)
    schema = schema_of(real_frame, kinds)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = CorrelationDifference().compute(real_frame, synthetic_frame, schema).details
    vectorised = correlation_differences(real_frame, synthetic_frame, schema.names)

    assert vectorised.skipped == reference["skipped"]
    assert vectorised.n_skipped_real == reference["n_skipped_real"]
    assert sorted(vectorised.per_pair) == sorted(reference["per_pair"])
    for key, value in reference["per_pair"].items():
        assert vectorised.per_pair[key] == pytest.approx(value, abs=TOLERANCE), key


def test_vectorised_correlation_ill_conditioned_column(monkeypatch):
    """A column far from its mean on a pair's rows goes through the per-pair fallback."""
    fallback_calls = []
    per_pair_pearson = pairwise.pearson

    def counting_pearson(x: np.ndarray, y: np.ndarray) -> tuple[float | None, str]:
        fallback_calls.append(len(x))
        return per_pair_pearson(x, y)

    monkeypatch.setattr(pairwise, "pearson", counting_pearson)
    rng = np.random.default_rng(5)
    n_rows = 200
    offset = np.where(np.arange(n_rows) < 100, 0.0, 1e9)
    frame = pd.DataFrame({"x": offset + rng.normal(size=n_rows), "y": rng.normal(size=n_rows)})
    frame.loc[:99, "y"] = np.nan
    other = pd.DataFrame({"x": rng.normal(size=n_rows), "y": rng.normal(size=n_rows)})

    r_real = np.corrcoef(frame["x"][100:], frame["y"][100:])[0, 1]
    r_other = np.corrcoef(other["x"], other["y"])[0, 1]
    result = correlation_differences(frame, other, ["x", "y"])
    assert result.per_pair["x|y"] == pytest.approx(abs(r_real - r_other), abs=TOLERANCE)
    assert fallback_calls == [n_rows]


def test_vectorised_correlation_rhc_resample(rhc):
    full = coerce_frame(rhc.dataset.load_frame(), rhc.schema)
    rng = np.random.default_rng(11)
    real = full.iloc[rng.integers(0, len(full), 3000)].reset_index(drop=True)
    synthetic = full.iloc[rng.integers(0, len(full), 3000)].reset_index(drop=True)
    columns = names_of_kind(rhc.schema, "numeric", "binary")

    reference = CorrelationDifference().compute(real, synthetic, rhc.schema).details
    vectorised = correlation_differences(real, synthetic, columns)
    assert len(vectorised.per_pair) + len(vectorised.skipped) == 1081
    assert vectorised.skipped == reference["skipped"]
    gaps = [abs(vectorised.per_pair[key] - value) for key, value in reference["per_pair"].items()]
    assert max(gaps) <= TOLERANCE


def test_correlation_differences_rejects_text_column():
    frame = pd.DataFrame({"x": [1.0, 2.0], "group": ["a", "b"]})
    with pytest.raises(TypeError, match=r"real: columns \['group'\] are not numeric"):
        correlation_differences(frame, frame, ["x", "group"])


# Contingency difference


def contingency_rows(pool_a: tuple, pool_b: tuple) -> st.SearchStrategy:
    first = st.one_of(st.sampled_from(pool_a), st.sampled_from(pool_a), st.just(MISSING))
    second = st.one_of(st.sampled_from(pool_b), st.sampled_from(pool_b), st.just(MISSING))
    return st.lists(st.tuples(first, second), min_size=1, max_size=40)


def contingency_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": pd.Series([row[0] for row in rows], dtype=object),
            "b": pd.Series([row[1] for row in rows], dtype=float),
        }
    )


@settings(max_examples=80, deadline=None)
@given(
    real=contingency_rows(CATEGORIES[:3], (0.0, 1.0)),
    synthetic=contingency_rows(CATEGORIES, (0.0, 1.0)),
)
def test_contingency_equals_contingency_similarity(real, synthetic):
    real_frame, synthetic_frame = contingency_frame(real), contingency_frame(synthetic)

    ours = contingency_difference(real_frame, synthetic_frame, "a", "b")
    vectorised = contingency_differences(real_frame, synthetic_frame, [("a", "b")])
    reference = 1 - ContingencySimilarity.compute(real_frame, synthetic_frame)
    assert ours == pytest.approx(reference, abs=TOLERANCE)
    assert vectorised == {"a|b": pytest.approx(ours, abs=TOLERANCE)}
    assert 0.0 <= ours <= 1.0


def test_contingency_identical_and_disjoint():
    frame = contingency_frame([("a", 0.0), ("b", 1.0), (MISSING, 1.0)])
    other = contingency_frame([("c", 0.0), ("d", 1.0)])

    assert contingency_difference(frame, frame, "a", "b") == 0.0
    assert contingency_difference(frame, other, "a", "b") == 1.0


def test_contingency_rhc_pairs(rhc_pair):
    real, synthetic, schema = rhc_pair
    categorical = names_of_kind(schema, "categorical")
    discrete = names_of_kind(schema, "binary", "categorical")
    pairs = [pair for pair in itertools.combinations(discrete, 2) if set(pair) & set(categorical)]
    assert len(pairs) == 196

    vectorised = contingency_differences(real, synthetic, pairs)
    for first, second in pairs:
        reference = 1 - ContingencySimilarity.compute(real[[first, second]], synthetic[[first, second]])
        assert vectorised[f"{first}|{second}"] == pytest.approx(reference, abs=TOLERANCE), (first, second)


def test_contingency_vectorised_rhc_all_pairs(rhc_pair):
    """The vectorised form equals the groupby form on every pair, numeric ones binned."""
    real, synthetic, schema = rhc_pair
    real_binned, synthetic_binned = bin_numeric_columns(real, synthetic, names_of_kind(schema, "numeric"))
    pairs = list(itertools.combinations(schema.names, 2))

    vectorised = contingency_differences(real_binned, synthetic_binned, pairs)
    assert len(vectorised) == 1431
    for first, second in pairs:
        one_pair = contingency_difference(real_binned, synthetic_binned, first, second)
        assert vectorised[f"{first}|{second}"] == pytest.approx(one_pair, abs=TOLERANCE), (first, second)


def test_bin_numeric_columns_uses_kl_bins():
    real = pd.DataFrame({"x": np.arange(1.0, 101.0)})
    synthetic = pd.DataFrame({"x": [-math.inf, 0.0, 50.5, 1000.0, math.inf, MISSING]})

    real_binned, synthetic_binned = bin_numeric_columns(real, synthetic, ["x"])
    assert np.bincount(real_binned["x"].astype(int)).tolist() == [10] * N_BINS
    assert synthetic_binned["x"].tolist()[:5] == [0.0, 0.0, 5.0, 9.0, 9.0]
    assert math.isnan(synthetic_binned["x"].iloc[5])


@pytest.mark.parametrize(
    ("pairs", "error", "message"),
    [
        ([("a", "a")], ValueError, "two different columns"),
        ([("a", "missing")], KeyError, r"missing the columns \['missing'\]"),
    ],
)
def test_contingency_differences_rejects_bad_pairs(pairs, error, message):
    frame = contingency_frame([("a", 0.0)])
    with pytest.raises(error, match=message):
        contingency_differences(frame, frame, pairs)


def test_contingency_difference_rejects_empty_table():
    frame = contingency_frame([("a", 0.0)])
    with pytest.raises(ValueError, match="synthetic: the table has 0 rows"):
        contingency_difference(frame, frame.iloc[:0], "a", "b")


# KL divergence


def binned_counts(real: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Count ``values`` in bins cut at the real deciles, written out bin by bin."""
    finite = real[np.isfinite(real)]
    cut_points = np.unique(np.quantile(finite, np.arange(1, N_BINS) / N_BINS)) if finite.size else []
    edges = [-math.inf, *cut_points, math.inf]
    present = values[~np.isnan(values)]
    counts = [int(np.sum((present >= low) & (present < high))) for low, high in zip(edges, edges[1:])]
    counts[-1] += int(np.sum(present == math.inf))
    return np.array([*counts, int(np.isnan(values).sum())])


def category_counts(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    real_counter = Counter(real.dropna())
    synthetic_counter = Counter(synthetic.dropna())
    keys = sorted(set(real_counter) | set(synthetic_counter))
    real_counts = [real_counter[key] for key in keys] + [int(real.isna().sum())]
    synthetic_counts = [synthetic_counter[key] for key in keys] + [int(synthetic.isna().sum())]
    return np.array(real_counts), np.array(synthetic_counts)


NUMBERS_WITH_INF = st.one_of(DECIMALS, DECIMALS, st.sampled_from([MISSING, math.inf, -math.inf]))


@settings(max_examples=60, deadline=None)
@given(
    real=st.lists(NUMBERS_WITH_INF, min_size=1, max_size=40),
    synthetic=st.lists(NUMBERS_WITH_INF, min_size=1, max_size=40),
)
def test_kl_numeric_equals_scipy_entropy(real, synthetic):
    real_array, synthetic_array = np.array(real), np.array(synthetic)

    ours = column_kl_divergence(pd.Series(real_array), pd.Series(synthetic_array), "numeric")
    expected = entropy(
        binned_counts(real_array, real_array) + SMOOTHING,
        binned_counts(real_array, synthetic_array) + SMOOTHING,
    )
    assert ours == pytest.approx(expected, abs=TOLERANCE)


@settings(max_examples=60, deadline=None)
@given(real=categories(CATEGORIES[:3], missing=True), synthetic=categories(CATEGORIES, missing=True))
def test_kl_categorical_equals_scipy_entropy(real, synthetic):
    real_series = pd.Series(real, dtype=object)
    synthetic_series = pd.Series(synthetic, dtype=object)

    ours = column_kl_divergence(real_series, synthetic_series, "categorical")
    real_counts, synthetic_counts = category_counts(real_series, synthetic_series)
    assert ours == pytest.approx(entropy(real_counts + SMOOTHING, synthetic_counts + SMOOTHING), abs=TOLERANCE)


def test_kl_rhc_columns_equal_scipy_entropy(rhc_pair):
    real, synthetic, schema = rhc_pair
    per_column = KLDivergence().compute(real, synthetic, schema).details["per_column"]
    assert sorted(per_column) == sorted(schema.names)

    for column in schema.columns:
        if column.kind == "numeric":
            real_values = real[column.name].to_numpy(dtype=float)
            real_counts = binned_counts(real_values, real_values)
            synthetic_counts = binned_counts(real_values, synthetic[column.name].to_numpy(dtype=float))
        else:
            real_counts, synthetic_counts = category_counts(real[column.name], synthetic[column.name])
        expected = entropy(real_counts + SMOOTHING, synthetic_counts + SMOOTHING)
        assert per_column[column.name] == pytest.approx(expected, abs=TOLERANCE), column.name


# Utility: AUROC and AUPRC


def average_precision_by_steps(labels: np.ndarray, scores: np.ndarray) -> float:
    """Return sum over distinct thresholds of (recall step) * precision, from the definition."""
    total = 0.0
    previous_recall = 0.0
    n_positive = labels.sum()
    for threshold in np.unique(scores)[::-1]:
        selected = scores >= threshold
        true_positives = labels[selected].sum()
        recall = true_positives / n_positive
        total += (recall - previous_recall) * true_positives / selected.sum()
        previous_recall = recall
    return float(total)


def test_utility_equals_sklearn_on_same_predictions(rhc):
    train, test, schema = rhc.reference, rhc.test, rhc.schema
    result = utility.fit_and_score(train, test, schema, seed=7, n_bootstrap=0)

    labels = train[schema.label].to_numpy(dtype=int)
    train_features, _ = utility.build_features(train, schema)
    test_features, _ = utility.build_features(test, schema)
    model = XGBClassifier(
        n_estimators=utility.N_ESTIMATORS,
        max_depth=utility.MAX_DEPTH,
        learning_rate=utility.LEARNING_RATE,
        tree_method="hist",
        enable_categorical=True,
        n_jobs=1,
        random_state=7,
    )
    model.fit(train_features, labels)
    probabilities = model.predict_proba(test_features)[:, 1]
    test_labels = test[schema.label].to_numpy(dtype=int)

    assert result.auroc.value == pytest.approx(roc_auc_score(test_labels, probabilities), abs=TOLERANCE)
    assert result.auprc.value == pytest.approx(average_precision_score(test_labels, probabilities), abs=TOLERANCE)

    positives = probabilities[test_labels == 1]
    negatives = probabilities[test_labels == 0]
    u_statistic = mannwhitneyu(positives, negatives).statistic
    assert result.auroc.value == pytest.approx(u_statistic / (positives.size * negatives.size), abs=TOLERANCE)
    assert result.auprc.value == pytest.approx(average_precision_by_steps(test_labels, probabilities), abs=TOLERANCE)
