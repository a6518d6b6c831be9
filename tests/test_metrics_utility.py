"""Tests of the TSTR and TRTR utility metrics (XGBoost, AUROC and AUPRC)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from xgboost import XGBClassifier

from ehrbench.datasets import get_dataset, prepare
from ehrbench.metrics import TSTRAUPRC, TSTRAUROC, fit_and_score
from ehrbench.metrics import utility
from ehrbench.metrics.utility import MIN_TRAIN_ROWS, build_features
from ehrbench.schema import TableSchema, infer_schema

KINDS = {
    "x": "numeric",
    "noise": "numeric",
    "flag": "binary",
    "group": "categorical",
    "label": "binary",
}


def make_problem(n_rows: int, seed: int, shuffle_labels: bool = False) -> pd.DataFrame:
    """Return a table whose label depends on ``x`` and ``group`` through a logistic model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n_rows)
    group = rng.choice(["a", "b", "c"], n_rows)
    logit = 2.5 * x + np.where(group == "a", 1.5, 0.0) - 0.5
    label = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(float)
    if shuffle_labels:
        label = rng.permutation(label)
    frame = pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(0.0, 1.0, n_rows),
            "flag": rng.integers(0, 2, n_rows).astype(float),
            "group": group.astype(object),
            "label": label,
        }
    )
    frame.loc[::10, "noise"] = np.nan
    return frame


@pytest.fixture(scope="module")
def problem() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    train = make_problem(300, seed=0)
    test = make_problem(300, seed=1)
    return train, test, infer_schema(train, "label", KINDS)


@pytest.fixture(scope="module")
def learned(problem):
    train, test, schema = problem
    return fit_and_score(train, test, schema, seed=0, n_bootstrap=100)


def test_learnable_problem_high_auroc(learned):
    assert learned.scored
    assert learned.auroc.value > 0.8
    assert learned.auprc.value > 0.7
    assert learned.details["n_train"] == 300
    assert learned.details["n_test"] == 300


def test_shuffled_labels_near_chance(problem):
    _, test, schema = problem
    shuffled = make_problem(300, seed=0, shuffle_labels=True)
    result = fit_and_score(shuffled, test, schema, seed=0, n_bootstrap=0)
    positive_rate = test["label"].mean()
    assert abs(result.auroc.value - 0.5) < 0.1
    assert abs(result.auprc.value - positive_rate) < 0.1


def test_intervals_contain_point_estimate(learned):
    for metric in (learned.auroc, learned.auprc):
        assert metric.low is not None
        assert metric.low <= metric.value <= metric.high
        assert 0.0 <= metric.low < metric.high <= 1.0
    assert learned.details["n_bootstrap"] == 100
    assert learned.details["bootstrap_skipped"] == 0


def test_reproducible_across_calls(problem, learned):
    train, test, schema = problem
    again = fit_and_score(train, test, schema, seed=0, n_bootstrap=100)
    assert again.auroc.value == learned.auroc.value
    assert again.auprc.value == learned.auprc.value
    assert (again.auroc.low, again.auroc.high) == (learned.auroc.low, learned.auroc.high)
    assert (again.auprc.low, again.auprc.high) == (learned.auprc.low, learned.auprc.high)


def test_scores_match_sklearn_on_same_model(problem):
    train, test, schema = problem
    result = fit_and_score(train, test, schema, seed=0, n_bootstrap=0)
    model = XGBClassifier(
        n_estimators=utility.N_ESTIMATORS,
        max_depth=utility.MAX_DEPTH,
        learning_rate=utility.LEARNING_RATE,
        tree_method="hist",
        enable_categorical=True,
        n_jobs=1,
        random_state=0,
    )
    model.fit(build_features(train, schema)[0], train["label"].astype(int))
    probabilities = model.predict_proba(build_features(test, schema)[0])[:, 1]
    assert result.auroc.value == roc_auc_score(test["label"], probabilities)
    assert result.auprc.value == average_precision_score(test["label"], probabilities)
    assert result.auroc.low is None
    assert result.auroc.high is None


def test_single_class_training_unscored(problem):
    train, test, schema = problem
    result = fit_and_score(train.assign(label=1.0), test, schema, seed=0)
    for metric in (result.auroc, result.auprc):
        assert metric.value is None
        assert "single class 1.0" in metric.reason


def test_too_few_training_rows_unscored(problem):
    train, test, schema = problem
    result = fit_and_score(train.iloc[: MIN_TRAIN_ROWS - 1], test, schema, seed=0)
    assert result.auroc.value is None
    assert f"{MIN_TRAIN_ROWS - 1} labelled rows, fewer than {MIN_TRAIN_ROWS}" in result.auroc.reason


def test_unlabelled_rows_dropped_and_counted(problem):
    train, test, schema = problem
    unlabelled = train.copy()
    unlabelled.loc[:9, "label"] = np.nan
    result = fit_and_score(unlabelled, test, schema, seed=0, n_bootstrap=0)
    assert result.scored
    assert result.details["dropped_unlabelled"] == 10
    assert result.details["n_train"] == 290


def test_no_usable_features_unscored(problem):
    train, test, schema = problem
    constant = train.assign(x=1.0, noise=np.nan, flag=0.0, group="a")
    result = fit_and_score(constant, test, schema, seed=0)
    assert result.auroc.value is None
    assert result.auroc.reason == "no training feature has two distinct values"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda frame: frame.drop(columns=["x"]), "train is missing the columns ['x']"),
        (lambda frame: frame.assign(x="high"), "values that are not numbers"),
        (lambda frame: frame.iloc[0:0], "train has 0 rows"),
        (lambda frame: frame.assign(label=2.0), "values other than 0 and 1"),
    ],
    ids=["missing_column", "strings", "zero_rows", "label_two"],
)
def test_invalid_training_table_unscored(problem, change, expected):
    train, test, schema = problem
    result = fit_and_score(change(train), test, schema, seed=0)
    assert result.auroc.value is None
    assert result.auroc.reason.startswith("invalid training table")
    assert expected in result.auroc.reason


def test_unknown_categories_and_infinite_values_counted(problem):
    train, test, schema = problem
    odd = train.copy()
    odd.loc[:4, "group"] = "unknown"
    odd.loc[:2, "x"] = np.inf
    odd.loc[3, "x"] = 1e300
    result = fit_and_score(odd, test, schema, seed=0, n_bootstrap=0)
    assert result.scored
    assert result.details["train_replaced_by_missing"] == {"x": 4, "group": 5}
    assert result.details["test_replaced_by_missing"] == {}


def test_build_features_categorical_dtype(problem):
    train, _, schema = problem
    unknown_first = train.assign(group=["z"] + list(train["group"][1:]))
    features, replaced = build_features(unknown_first, schema)
    assert list(features.columns) == schema.feature_names
    assert list(features["group"].cat.categories) == ["a", "b", "c"]
    assert replaced == {"group": 1}


def test_invalid_test_part_raises(problem):
    train, test, schema = problem
    with pytest.raises(ValueError, match="test: label 'label' has a single class"):
        fit_and_score(train, test.assign(label=0.0), schema, seed=0)
    with pytest.raises(ValueError, match="test: label 'label' has 1 missing values"):
        fit_and_score(train, test.assign(label=[np.nan] + list(test["label"][1:])), schema, seed=0)
    with pytest.raises(ValueError, match="test: invalid real table"):
        fit_and_score(train, test.drop(columns=["group"]), schema, seed=0)


@pytest.mark.parametrize(("seed", "n_bootstrap"), [(-1, 10), (0, -5), (1.5, 10), (True, 10)])
def test_invalid_arguments_raise(problem, seed, n_bootstrap):
    train, test, schema = problem
    with pytest.raises(ValueError, match="expected an integer >= 0"):
        fit_and_score(train, test, schema, seed=seed, n_bootstrap=n_bootstrap)


def test_metric_classes_match_function(problem, learned):
    train, test, schema = problem
    auroc = TSTRAUROC(seed=0, n_bootstrap=100).compute(test, train, schema)
    auprc = TSTRAUPRC(seed=0, n_bootstrap=100).compute(test, train, schema)
    assert auroc.name == "tstr_auroc"
    assert auprc.name == "tstr_auprc"
    for metric, expected in ((auroc, learned.auroc), (auprc, learned.auprc)):
        assert metric.value == expected.value
        assert (metric.low, metric.high) == (expected.low, expected.high)
    assert TSTRAUROC.goal == "maximize"
    assert (TSTRAUROC.min_value, TSTRAUROC.max_value) == (0.0, 1.0)


def test_rhc_trtr():
    rhc = prepare(get_dataset("rhc"))
    result = fit_and_score(rhc.train, rhc.test, rhc.schema, seed=0, n_bootstrap=50)
    assert result.details["n_train"] == len(rhc.train)
    assert result.details["features"] == rhc.schema.feature_names
    assert 0.7 < result.auroc.value < 0.9
    assert result.auroc.low <= result.auroc.value <= result.auroc.high
    # AUPRC of a useful model exceeds the positive rate of the test part.
    assert result.auprc.value > rhc.test["death"].mean() + 0.1
