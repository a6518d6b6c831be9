"""Tests of the mixed-type distance and the privacy metrics (DCR, NNDR, copy rates, attacks)."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehrbench.datasets import get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics import distance
from ehrbench.metrics.distance import fit_scales, nearest_distances, pairwise_distances
from ehrbench.metrics.privacy import (
    DCR,
    MIN_SYNTHETIC_ROWS,
    NNDR,
    PRIVACY_METRICS,
    DistanceAttackAUROC,
    closest_record_metrics,
    membership_inference,
)
from ehrbench.schema import ColumnKind, TableSchema, coerce_frame, infer_schema

NAN = float("nan")
INF = float("inf")

KINDS: dict[str, ColumnKind] = {"x": "numeric", "flag": "binary", "group": "categorical", "label": "binary"}


def make_frame(rows: list[tuple], schema: TableSchema | None = None) -> pd.DataFrame:
    """Return rows of (x, flag, group, label) with the dtypes of ehrbench.schema."""
    frame = pd.DataFrame(rows, columns=list(KINDS))
    frame["group"] = frame["group"].astype(object)
    return coerce_frame(frame, schema) if schema is not None else frame


@pytest.fixture(scope="module")
def tiny_schema() -> TableSchema:
    train = make_frame([(0.0, 0.0, "a", 0.0), (10.0, 1.0, "b", 1.0), (20.0, 0.0, "a", 0.0),
                        (30.0, 1.0, "b", 1.0), (40.0, 0.0, "a", 0.0)])
    return infer_schema(train, "label", KINDS)


def brute_force_distance(left: pd.Series, right: pd.Series, schema: TableSchema, scales: dict[str, float]) -> float:
    """Return the distance of two rows by the definition, one column at a time."""
    total = 0.0
    for column in schema.columns:
        a, b = left[column.name], right[column.name]
        a_missing, b_missing = pd.isna(a), pd.isna(b)
        if a_missing or b_missing:
            part = 0.0 if a_missing and b_missing else 1.0
        elif a == b:
            part = 0.0
        elif column.kind == "numeric" and scales[column.name] > 0:
            part = min(abs(a - b) / scales[column.name], 1.0)
        else:
            part = 1.0
        total += part
    return total / len(schema.columns)


# Distance.


def test_fit_scales_interquartile_range(tiny_schema):
    train = make_frame([(float(value), 0.0, "a", 0.0) for value in (0, 10, 20, 30, 40)], tiny_schema)
    assert fit_scales(train, tiny_schema) == {"x": 20.0}


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0.0, 0.0, 0.0, 0.0, 10.0], 10.0), ([3.0, 3.0, 3.0], 0.0), ([NAN, NAN], 0.0), ([1.0, 1.0, 1.0, 1.0, NAN, 5.0], 4.0)],
)
def test_fit_scales_fallbacks(tiny_schema, values, expected):
    train = make_frame([(value, 0.0, "a", 0.0) for value in values], tiny_schema)
    assert fit_scales(train, tiny_schema)["x"] == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ((0.0, 1.0, "a", 0.0), (0.0, 1.0, "a", 0.0), 0.0),
        ((0.0, 1.0, "a", 0.0), (10.0, 1.0, "a", 0.0), 0.5 / 4),
        ((0.0, 1.0, "a", 0.0), (50.0, 1.0, "a", 0.0), 1.0 / 4),
        ((0.0, 1.0, "a", 0.0), (-5.0, 0.0, "a", 0.0), (0.25 + 1.0) / 4),
        ((0.0, 1.0, "a", 0.0), (0.0, 1.0, "b", 1.0), 2.0 / 4),
        ((NAN, 1.0, "a", 0.0), (NAN, 1.0, "a", 0.0), 0.0),
        ((NAN, 1.0, "a", 0.0), (5.0, 1.0, "a", 0.0), 1.0 / 4),
        ((0.0, NAN, NAN, 0.0), (0.0, NAN, NAN, 0.0), 0.0),
        ((0.0, NAN, NAN, 0.0), (0.0, 1.0, "a", 0.0), 2.0 / 4),
        ((0.0, 1.0, "z", 0.0), (0.0, 1.0, "a", 0.0), 1.0 / 4),
        ((INF, 1.0, "a", 0.0), (INF, 1.0, "a", 0.0), 0.0),
        ((INF, 1.0, "a", 0.0), (-INF, 1.0, "a", 0.0), 1.0 / 4),
        ((INF, 1.0, "a", 0.0), (3.0, 1.0, "a", 0.0), 1.0 / 4),
        ((INF, 1.0, "a", 0.0), (NAN, 1.0, "a", 0.0), 1.0 / 4),
        ((NAN, 0.0, NAN, 1.0), (50.0, 1.0, "b", 0.0), 1.0),
    ],
)
def test_distance_by_hand(tiny_schema, left, right, expected):
    scales = {"x": 20.0}
    value = pairwise_distances(make_frame([left], tiny_schema), make_frame([right], tiny_schema), tiny_schema, scales)
    assert value.shape == (1, 1)
    assert value[0, 0] == pytest.approx(expected, abs=1e-12)


def test_zero_scale_counts_equality(tiny_schema):
    left = make_frame([(5.0, 1.0, "a", 0.0)], tiny_schema)
    right = make_frame([(5.0, 1.0, "a", 0.0), (5.001, 1.0, "a", 0.0), (NAN, 1.0, "a", 0.0)], tiny_schema)
    values = pairwise_distances(left, right, tiny_schema, {"x": 0.0})
    np.testing.assert_array_equal(values, [[0.0, 0.25, 0.25]])


def random_table(rng: np.random.Generator, n_rows: int, schema: TableSchema) -> pd.DataFrame:
    """Return a random table of the tiny schema with missing values and unseen categories."""
    x = rng.normal(20.0, 15.0, n_rows)
    x[rng.random(n_rows) < 0.2] = np.nan
    flag = rng.integers(0, 2, n_rows).astype(float)
    flag[rng.random(n_rows) < 0.1] = np.nan
    group = rng.choice(["a", "b", "c", None], n_rows)
    label = rng.integers(0, 2, n_rows).astype(float)
    return make_frame(list(zip(x, flag, group, label)), schema)


@pytest.mark.parametrize("seed", range(5))
def test_distance_symmetric_and_in_range(tiny_schema, seed):
    rng = np.random.default_rng(seed)
    left = random_table(rng, 30, tiny_schema)
    right = random_table(rng, 20, tiny_schema)
    forward = pairwise_distances(left, right, tiny_schema, {"x": 20.0})
    backward = pairwise_distances(right, left, tiny_schema, {"x": 20.0})
    np.testing.assert_array_equal(forward, backward.T)
    assert forward.min() >= 0.0
    assert forward.max() <= 1.0
    np.testing.assert_array_equal(np.diag(pairwise_distances(left, left, tiny_schema, {"x": 20.0})), 0.0)


numbers = st.one_of(
    st.floats(-50.0, 50.0, allow_nan=False),
    st.sampled_from([NAN, INF, -INF, 0.0, 10.0]),
)
rows = st.tuples(numbers, st.sampled_from([0.0, 1.0, NAN]), st.sampled_from(["a", "b", "c", None]), st.sampled_from([0.0, 1.0]))


@settings(max_examples=60, deadline=None)
@given(
    queries=st.lists(rows, min_size=1, max_size=6),
    pool=st.lists(rows, min_size=1, max_size=9),
    scale=st.sampled_from([0.0, 0.5, 3.0, 20.0]),
    block_cells=st.sampled_from([1, 7, 2**17]),
    data=st.data(),
)
def test_nearest_matches_brute_force(tiny_schema, queries, pool, scale, block_cells, data):
    k = data.draw(st.integers(1, len(pool)))
    scales = {"x": scale}
    query_frame = make_frame(queries, tiny_schema)
    pool_frame = make_frame(pool, tiny_schema)
    with mock.patch.object(distance, "BLOCK_CELLS", block_cells):
        nearest = nearest_distances(query_frame, pool_frame, tiny_schema, scales, k=k)

    expected = [
        sorted(brute_force_distance(query, other, tiny_schema, scales) for _, other in pool_frame.iterrows())[:k]
        for _, query in query_frame.iterrows()
    ]
    assert nearest.shape == (len(queries), k)
    np.testing.assert_allclose(nearest, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [0, -1, 4, True, 1.5])
def test_nearest_rejects_bad_k(tiny_schema, k):
    table = make_frame([(0.0, 1.0, "a", 0.0)] * 3, tiny_schema)
    with pytest.raises(ValueError, match="k: expected an integer from 1 to len"):
        nearest_distances(table, table, tiny_schema, {"x": 1.0}, k=k)


@pytest.mark.parametrize(
    ("scales", "error", "message"),
    [
        ([1.0], TypeError, "scales: expected a dict"),
        ({}, ValueError, "no scale for the numeric columns"),
        ({"x": -1.0}, ValueError, "expected finite values >= 0"),
        ({"x": NAN}, ValueError, "expected finite values >= 0"),
    ],
)
def test_nearest_rejects_bad_scales(tiny_schema, scales, error, message):
    table = make_frame([(0.0, 1.0, "a", 0.0)] * 3, tiny_schema)
    with pytest.raises(error, match=message):
        nearest_distances(table, table, tiny_schema, scales)


def test_nearest_rejects_bad_tables(tiny_schema):
    table = make_frame([(0.0, 1.0, "a", 0.0)] * 3, tiny_schema)
    with pytest.raises(ValueError, match="queries: invalid table: queries is a list"):
        nearest_distances([1, 2], table, tiny_schema, {"x": 1.0})
    with pytest.raises(ValueError, match="pool: invalid table: pool is missing the columns"):
        nearest_distances(table, table.drop(columns="x"), tiny_schema, {"x": 1.0})
    with pytest.raises(TypeError, match="schema: expected an ehrbench.schema.TableSchema"):
        nearest_distances(table, table, "schema", {"x": 1.0})


# Privacy metrics on small constructed tables.


def test_reference_equal_to_train_leaves_dcr_unscored():
    kinds: dict[str, ColumnKind] = {"group": "categorical", "label": "binary"}
    train = pd.DataFrame({"group": ["a", "b"] * 10, "label": [0.0, 1.0] * 10})
    train["group"] = train["group"].astype(object)
    schema = infer_schema(train, "label", kinds)
    synthetic = train.iloc[:MIN_SYNTHETIC_ROWS].reset_index(drop=True)

    result = closest_record_metrics(train, train.iloc[:6], synthetic, schema)
    assert result.dcr_ratio.value is None
    assert "median of the reference rows is 0" in result.dcr_ratio.reason
    assert result.exact_copy_rate.value == 1.0
    assert result.exact_copy_rate.details["reference_rate"] == 1.0
    assert result.nndr_ratio.value == 1.0


@pytest.mark.parametrize(
    ("synthetic", "reason"),
    [
        ("rows", "invalid synthetic table: synthetic is a str"),
        ("empty", "synthetic has 0 rows"),
        ("short", f"fewer than {MIN_SYNTHETIC_ROWS}"),
        ("no_column", "synthetic is missing the columns ['x']"),
        ("text_in_number", "column 'x' contains 1 values that are not numbers"),
    ],
)
def test_bad_synthetic_unscored(tiny_schema, synthetic, reason):
    rng = np.random.default_rng(0)
    train = random_table(rng, 40, tiny_schema)
    real = random_table(rng, 20, tiny_schema)
    good = random_table(rng, 12, tiny_schema)
    tables = {
        "rows": "rows",
        "empty": good.iloc[:0],
        "short": good.iloc[: MIN_SYNTHETIC_ROWS - 1],
        "no_column": good.drop(columns="x"),
        "text_in_number": good.astype({"x": object}).assign(x=["high"] + list(good["x"].iloc[1:])),
    }
    closest = closest_record_metrics(train, real, tables[synthetic], tiny_schema)
    attacks = membership_inference(train, real, tables[synthetic], tiny_schema, 0, reference=real)
    for result in (*vars(closest).values(), *vars(attacks).values()):
        assert result.value is None
        assert reason in result.reason


def test_bad_real_parts_raise(tiny_schema):
    rng = np.random.default_rng(0)
    train = random_table(rng, 40, tiny_schema)
    synthetic = random_table(rng, 12, tiny_schema)
    with pytest.raises(TypeError, match="reference: expected a pandas DataFrame"):
        closest_record_metrics(train, "reference", synthetic, tiny_schema)
    with pytest.raises(ValueError, match="train: expected at least 2 rows, got 1"):
        closest_record_metrics(train.iloc[:1], train, synthetic, tiny_schema)
    with pytest.raises(ValueError, match="test: invalid real table"):
        membership_inference(train, train.drop(columns="label"), synthetic, tiny_schema, 0, reference=train)
    with pytest.raises(ValueError, match="seed: expected an integer >= 0"):
        membership_inference(train, train, synthetic, tiny_schema, -1, reference=train)
    with pytest.raises(TypeError, match="schema: expected"):
        closest_record_metrics(train, train, synthetic, None)
    with pytest.raises(ValueError, match="test: invalid real table"):
        DCR().compute(train, train, train.assign(flag=2.0), synthetic, tiny_schema)


# Privacy metrics on RHC with constructed generators.


@pytest.fixture(scope="module")
def rhc():
    prepared = prepare(get_dataset("rhc"))
    subset = build_subsets(prepared, sizes=(10,))[0]
    schema = prepared.schema.select(list(subset.features))
    names = schema.names
    return prepared, schema, prepared.train[names], prepared.reference[names], prepared.test[names]


def evaluate_all(rhc, synthetic, seed=0):
    _, schema, train, reference, test = rhc
    closest = closest_record_metrics(train, reference, synthetic, schema, seed)
    attacks = membership_inference(train, test, synthetic, schema, seed, reference=reference)
    return closest, attacks


@pytest.fixture(scope="module")
def training_copy(rhc):
    return evaluate_all(rhc, rhc[2])


@pytest.fixture(scope="module")
def holdout(rhc):
    prepared, schema = rhc[0], rhc[1]
    synthetic = generate_reference("real-holdout", prepared, schema, 1000, 0).synthetic
    return synthetic, evaluate_all(rhc, synthetic)


def test_training_copy_is_caught(training_copy):
    closest, attacks = training_copy
    assert closest.exact_copy_rate.value == 1.0
    assert closest.near_copy_rate.value == 1.0
    assert closest.dcr_ratio.value == 0.0
    assert closest.nndr_ratio.value == 0.0
    assert attacks.distance_attack.value > 0.95
    assert attacks.density_attack.value > 0.95
    assert attacks.distance_attack.details["advantage"] > 0.9


def test_holdout_rows_look_private(holdout):
    _, (closest, attacks) = holdout
    assert closest.dcr_ratio.value == pytest.approx(1.0, abs=0.1)
    assert closest.nndr_ratio.value == pytest.approx(1.0, abs=0.1)
    assert closest.dcr_ratio.low <= closest.dcr_ratio.value <= closest.dcr_ratio.high
    assert closest.near_copy_rate.value <= 0.1
    assert closest.exact_copy_rate.value <= 0.1
    for attack in (attacks.distance_attack, attacks.density_attack):
        assert attack.value == pytest.approx(0.5, abs=0.1)
        assert attack.low <= attack.value <= attack.high
        assert attack.details["n_members"] == 1147
        assert attack.details["n_non_members"] == 1147


def test_independent_marginals_far_from_training(rhc):
    prepared, schema = rhc[0], rhc[1]
    synthetic = generate_reference("independent-marginals", prepared, schema, 1000, 0).synthetic
    closest, attacks = evaluate_all(rhc, synthetic)
    assert closest.dcr_ratio.value > 1.5
    assert attacks.distance_attack.value == pytest.approx(0.5, abs=0.1)


def test_row_order_does_not_matter(rhc, holdout):
    synthetic, (closest, attacks) = holdout
    prepared, schema, train, reference, test = rhc
    rng = np.random.default_rng(7)
    shuffled = [frame.iloc[rng.permutation(len(frame))].reset_index(drop=True) for frame in (train, reference, test, synthetic)]
    shuffled_closest = closest_record_metrics(shuffled[0], shuffled[1], shuffled[3], schema)
    shuffled_attacks = membership_inference(shuffled[0], shuffled[2], shuffled[3], schema, 0, reference=shuffled[1])
    for before, after in zip((*vars(closest).values(), *vars(attacks).values()),
                             (*vars(shuffled_closest).values(), *vars(shuffled_attacks).values())):
        assert (after.name, after.value, after.low, after.high) == (before.name, before.value, before.low, before.high)


def test_metric_classes_match_functions(rhc, holdout):
    synthetic, (closest, attacks) = holdout
    _, schema, train, reference, test = rhc
    assert DCR().compute(train, reference, test, synthetic, schema) == closest.dcr_ratio
    assert NNDR().compute(train, reference, test, synthetic, schema) == closest.nndr_ratio
    assert DistanceAttackAUROC().compute(train, reference, test, synthetic, schema) == attacks.distance_attack
    for metric in PRIVACY_METRICS:
        assert metric.goal in ("minimize", "maximize")
        assert metric.min_value == 0.0
        assert metric.max_value in (1.0, math.inf)
    assert [metric.name for metric in PRIVACY_METRICS] == [
        "dcr_ratio", "nndr_ratio", "exact_copy_rate", "near_copy_rate", "mia_distance_auroc", "mia_density_auroc"
    ]
