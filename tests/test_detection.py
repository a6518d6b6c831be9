"""Tests of the detection AUROC metric (classifier two-sample test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics.detection import MIN_ROWS, N_FOLDS, DetectionAUROC
from ehrbench.schema import TableSchema


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def k20_schema(rhc: PreparedDataset) -> TableSchema:
    (subset,) = build_subsets(rhc, (20,))
    return rhc.schema.select(list(subset.features))


@pytest.fixture(scope="module")
def real(rhc: PreparedDataset, k20_schema: TableSchema) -> pd.DataFrame:
    return rhc.test[k20_schema.names]


@pytest.fixture(scope="module")
def holdout_result(rhc, real, k20_schema):
    return DetectionAUROC(seed=0).compute(real, rhc.reference[k20_schema.names], k20_schema)


def test_class_attributes() -> None:
    assert DetectionAUROC.name == "detection_auroc"
    assert DetectionAUROC.goal == "minimize"
    assert DetectionAUROC.min_value == 0.0
    assert DetectionAUROC.max_value == 1.0


def test_holdout_near_chance(holdout_result) -> None:
    assert holdout_result.scored
    assert abs(holdout_result.value - 0.5) < 0.1


def test_holdout_details(holdout_result, real, k20_schema) -> None:
    details = holdout_result.details
    assert details["detectability"] == max(holdout_result.value, 0.5)
    assert 0.5 <= details["detectability"] <= 1.0
    assert details["n_folds"] == N_FOLDS
    assert len(details["fold_auroc"]) == N_FOLDS
    assert details["n_real"] == len(real)
    assert details["n_per_class"] == len(real)
    assert details["subsampled"] is None
    assert details["features"] == k20_schema.names
    assert details["replaced_by_missing"] == {"real": {}, "synthetic": {}}


def test_independent_marginals_detected(rhc, real, k20_schema) -> None:
    synthetic = generate_reference("independent-marginals", rhc, k20_schema, 1000, 0).synthetic
    result = DetectionAUROC(seed=0).compute(real, synthetic, k20_schema)
    assert result.value > 0.6
    assert result.details["subsampled"] == "real"
    assert result.details["n_per_class"] == 1000


def test_shifted_column_detected(rhc, real, k20_schema) -> None:
    shifted = rhc.reference[k20_schema.names].copy()
    shifted["age"] = shifted["age"] + 5 * real["age"].std()
    result = DetectionAUROC(seed=0).compute(real, shifted, k20_schema)
    assert result.value > 0.95
    assert result.details["detectability"] == result.value


def test_larger_synthetic_subsampled(rhc, real, k20_schema) -> None:
    synthetic = generate_reference("real-holdout", rhc, k20_schema, 2000, 0).synthetic
    result = DetectionAUROC(seed=0).compute(real, synthetic, k20_schema)
    assert result.details["subsampled"] == "synthetic"
    assert result.details["n_synthetic"] == 2000
    assert result.details["n_per_class"] == len(real)


def test_reproducible(rhc, real, k20_schema, holdout_result) -> None:
    again = DetectionAUROC(seed=0).compute(real, rhc.reference[k20_schema.names], k20_schema)
    assert again.value == holdout_result.value
    assert again.details["fold_auroc"] == holdout_result.details["fold_auroc"]


def test_seed_changes_folds(rhc, real, k20_schema, holdout_result) -> None:
    other = DetectionAUROC(seed=1).compute(real, rhc.reference[k20_schema.names], k20_schema)
    assert other.details["fold_auroc"] != holdout_result.details["fold_auroc"]
    assert abs(other.value - 0.5) < 0.1


def test_too_few_synthetic_rows(real, k20_schema) -> None:
    synthetic = real.iloc[: MIN_ROWS - 1]
    result = DetectionAUROC().compute(real, synthetic, k20_schema)
    assert result.value is None
    assert result.reason == f"the synthetic table has {MIN_ROWS - 1} rows, fewer than {MIN_ROWS}"


def test_too_few_real_rows(rhc, real, k20_schema) -> None:
    result = DetectionAUROC().compute(real.iloc[:5], rhc.reference[k20_schema.names], k20_schema)
    assert result.value is None
    assert "the real table has 5 rows" in result.reason


def test_minimum_rows_scored(rhc, real, k20_schema) -> None:
    synthetic = rhc.reference[k20_schema.names].iloc[:MIN_ROWS]
    result = DetectionAUROC().compute(real, synthetic, k20_schema)
    assert result.scored
    assert 0.0 <= result.value <= 1.0
    assert result.details["n_per_class"] == MIN_ROWS


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda frame: frame.to_numpy(), "is a ndarray"),
        (lambda frame: frame.drop(columns="age"), "missing the columns ['age']"),
        (lambda frame: frame.assign(death=2.0), "values other than 0 and 1"),
        (lambda frame: frame.assign(age="old"), "not numbers"),
        (lambda frame: frame.iloc[:0], "0 rows"),
    ],
)
def test_invalid_synthetic_unscored(real, k20_schema, change, expected) -> None:
    result = DetectionAUROC().compute(real, change(real.copy()), k20_schema)
    assert result.value is None
    assert result.reason.startswith("invalid synthetic table")
    assert expected in result.reason


def test_invalid_real_raises(rhc, real, k20_schema) -> None:
    synthetic = rhc.reference[k20_schema.names]
    with pytest.raises(TypeError, match="real"):
        DetectionAUROC().compute(real.to_numpy(), synthetic, k20_schema)
    with pytest.raises(ValueError, match="real: invalid real table"):
        DetectionAUROC().compute(real.assign(death=3.0), synthetic, k20_schema)
    with pytest.raises(TypeError, match="schema"):
        DetectionAUROC().compute(real, synthetic, k20_schema.names)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_invalid_seed_rejected(seed) -> None:
    with pytest.raises(ValueError, match="seed: expected an integer >= 0"):
        DetectionAUROC(seed=seed)


def test_unknown_values_counted(rhc, real, k20_schema) -> None:
    synthetic = rhc.reference[k20_schema.names].copy()
    synthetic.loc[:9, "ca"] = "Unknown"
    synthetic.loc[:2, "age"] = np.inf
    result = DetectionAUROC().compute(real, synthetic, k20_schema)
    assert result.scored
    assert result.details["replaced_by_missing"]["synthetic"] == {"ca": 10, "age": 3}
    assert result.details["replaced_by_missing"]["real"] == {}
