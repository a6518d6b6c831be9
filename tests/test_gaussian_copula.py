"""Tests of the Gaussian copula reference generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.generators.gaussian_copula import (
    GENERATOR_NAME,
    GaussianCopula,
    fit_gaussian_copula,
    generate_gaussian_copula,
)
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics import CorrelationDifference, KSStatistic
from ehrbench.schema import TableSchema, infer_schema

SAMPLE_ROWS = 2000

TOY_KINDS = {
    "x": "numeric",
    "w": "numeric",
    "count": "numeric",
    "flag": "binary",
    "group": "categorical",
    "label": "binary",
}


def make_toy(n_rows: int, seed: int) -> pd.DataFrame:
    """Return a table where ``x`` is missing exactly when ``flag`` is 1.

    ``w`` and ``count`` both follow the full ``x`` and have no missing values.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n_rows)
    flag = (rng.random(n_rows) < 0.3).astype(float)
    frame = pd.DataFrame(
        {
            "x": np.where(flag == 1.0, np.nan, x),
            "w": x + rng.normal(0.0, 0.2, n_rows),
            "count": np.clip(np.round(3 + 2 * x + rng.normal(0.0, 0.5, n_rows)), 0, None),
            "flag": flag,
            "group": rng.choice(["a", "b", "c"], n_rows, p=[0.5, 0.3, 0.2]).astype(object),
            "label": (rng.random(n_rows) < 0.4).astype(float),
        }
    )
    return frame


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def k20_schema(rhc: PreparedDataset) -> TableSchema:
    (subset,) = build_subsets(rhc, (20,))
    return rhc.schema.select(list(subset.features))


@pytest.fixture(scope="module")
def rhc_sample(rhc: PreparedDataset, k20_schema: TableSchema) -> pd.DataFrame:
    model = fit_gaussian_copula(rhc.train, k20_schema, seed=0)
    return model.sample(SAMPLE_ROWS, seed=0)


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, TableSchema]:
    frame = make_toy(1000, seed=0)
    return frame, infer_schema(frame, "label", TOY_KINDS)


def test_rhc_sample_columns_and_dtypes(rhc_sample: pd.DataFrame, k20_schema: TableSchema) -> None:
    assert list(rhc_sample.columns) == k20_schema.names
    assert len(rhc_sample) == SAMPLE_ROWS
    for column in k20_schema.columns:
        if column.kind == "categorical":
            assert rhc_sample[column.name].dtype == object, column.name
            assert rhc_sample[column.name].dropna().map(type).eq(str).all(), column.name
        else:
            assert rhc_sample[column.name].dtype == np.float64, column.name


def test_rhc_marginals_close(rhc, rhc_sample, k20_schema) -> None:
    result = KSStatistic().compute(rhc.train[k20_schema.names], rhc_sample, k20_schema)
    assert result.scored
    assert result.value < 0.1


def test_rhc_category_frequencies_close(rhc, k20_schema) -> None:
    sample = fit_gaussian_copula(rhc.train, k20_schema, seed=0).sample(20000, seed=0)
    for column in k20_schema.columns:
        if column.kind == "numeric":
            continue
        real = rhc.train[column.name].value_counts(normalize=True)
        synthetic = sample[column.name].value_counts(normalize=True)
        gap = real.subtract(synthetic, fill_value=0.0).abs().max()
        assert gap < 0.02, column.name


def test_rhc_correlations_closer_than_independent(rhc, rhc_sample, k20_schema) -> None:
    real = rhc.train[k20_schema.names]
    independent = generate_reference("independent-marginals", rhc, k20_schema, SAMPLE_ROWS, 0)
    copula_difference = CorrelationDifference().compute(real, rhc_sample, k20_schema).value
    metric = CorrelationDifference()
    independent_difference = metric.compute(real, independent.synthetic, k20_schema).value
    assert copula_difference < 0.7 * independent_difference


def test_rhc_missing_rates_close(rhc, rhc_sample, k20_schema) -> None:
    for name in k20_schema.names:
        real_rate = rhc.train[name].isna().mean()
        synthetic_rate = rhc_sample[name].isna().mean()
        assert abs(real_rate - synthetic_rate) < 0.03, name


def test_rhc_values_within_schema(rhc_sample: pd.DataFrame, k20_schema: TableSchema) -> None:
    for column in k20_schema.columns:
        present = rhc_sample[column.name].dropna()
        if column.kind == "categorical":
            assert set(present) <= set(column.categories), column.name
        elif column.kind == "binary":
            assert set(present) <= {0.0, 1.0}, column.name
        else:
            assert present.min() >= column.minimum, column.name
            assert present.max() <= column.maximum, column.name
            if column.integer:
                assert (present % 1.0 == 0.0).all(), column.name


def test_sample_reproducible(rhc: PreparedDataset, k20_schema: TableSchema, rhc_sample) -> None:
    again = fit_gaussian_copula(rhc.train, k20_schema, seed=0).sample(SAMPLE_ROWS, seed=0)
    pd.testing.assert_frame_equal(again, rhc_sample)


def test_sample_seed_changes_rows(rhc, k20_schema, rhc_sample) -> None:
    model = fit_gaussian_copula(rhc.train, k20_schema, seed=0)
    other_sample_seed = model.sample(SAMPLE_ROWS, seed=1)
    other_fit_seed = fit_gaussian_copula(rhc.train, k20_schema, seed=1).sample(SAMPLE_ROWS, seed=0)
    assert not other_sample_seed.equals(rhc_sample)
    assert not other_fit_seed.equals(rhc_sample)


def test_correlation_matrix_valid(rhc: PreparedDataset, k20_schema: TableSchema) -> None:
    model = fit_gaussian_copula(rhc.train, k20_schema, seed=0)
    size = len(model.variables)
    assert model.correlation.shape == (size, size)
    np.testing.assert_allclose(np.diag(model.correlation), 1.0)
    np.testing.assert_allclose(model.correlation, model.correlation.T)
    assert np.linalg.eigvalsh(model.correlation).min() > 0.0
    assert "urin1:missing" in model.variables
    assert "age:missing" not in model.variables


def test_missingness_follows_other_column(toy) -> None:
    frame, schema = toy
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(SAMPLE_ROWS, seed=0)
    missing = sample["x"].isna()
    assert sample.loc[missing, "flag"].mean() > 0.9
    assert sample.loc[~missing, "flag"].mean() < 0.1


def test_numeric_dependence_kept(toy) -> None:
    frame, schema = toy
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(SAMPLE_ROWS, seed=0)
    real_correlation = frame["w"].corr(frame["count"], method="spearman")
    synthetic_correlation = sample["w"].corr(sample["count"], method="spearman")
    assert real_correlation > 0.9
    assert abs(real_correlation - synthetic_correlation) < 0.05


def test_dependence_with_missing_column_weaker(toy) -> None:
    frame, schema = toy
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(SAMPLE_ROWS, seed=0)
    real_correlation = frame["x"].corr(frame["count"], method="spearman")
    synthetic_correlation = sample["x"].corr(sample["count"], method="spearman")
    # Filled missing rows shrink the latent correlation by about sqrt(1 - 0.3).
    assert synthetic_correlation < real_correlation - 0.1
    assert synthetic_correlation > 0.6


def test_integer_column_rounded(toy) -> None:
    frame, schema = toy
    assert schema["count"].integer
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(500, seed=0)
    assert (sample["count"] % 1.0 == 0.0).all()


def test_category_frequencies_kept(toy) -> None:
    frame, schema = toy
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(20000, seed=0)
    real = frame["group"].value_counts(normalize=True)
    synthetic = sample["group"].value_counts(normalize=True)
    for category in ("a", "b", "c"):
        assert abs(real[category] - synthetic[category]) < 0.03, category


def test_constant_column(toy) -> None:
    frame, _ = toy
    frame = frame.assign(x=np.where(frame["x"].isna(), np.nan, 2.5))
    schema = infer_schema(frame, "label", TOY_KINDS)
    model = fit_gaussian_copula(frame, schema, seed=0)
    sample = model.sample(500, seed=0)
    assert set(sample["x"].dropna()) == {2.5}
    assert abs(sample["x"].isna().mean() - frame["x"].isna().mean()) < 0.06
    assert "x" not in model.variables
    assert "x:missing" in model.variables


def test_all_missing_column(toy) -> None:
    frame, _ = toy
    frame = frame.assign(x=np.nan)
    schema = infer_schema(frame, "label", TOY_KINDS)
    model = fit_gaussian_copula(frame, schema, seed=0)
    sample = model.sample(200, seed=0)
    assert sample["x"].isna().all()
    assert sample["x"].dtype == np.float64
    assert not any(name.startswith("x") for name in model.variables)


def test_single_category_column(toy) -> None:
    frame, _ = toy
    frame = frame.assign(group="only")
    schema = infer_schema(frame, "label", TOY_KINDS)
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(200, seed=0)
    assert set(sample["group"]) == {"only"}


def test_schema_category_not_observed(toy) -> None:
    frame, schema = toy
    rare = frame[frame["group"] != "c"]
    sample = fit_gaussian_copula(rare, schema, seed=0).sample(1000, seed=0)
    assert set(sample["group"]) == {"a", "b"}


def test_two_rows_and_wide_table(toy) -> None:
    frame, schema = toy
    model = fit_gaussian_copula(frame.iloc[:2], schema, seed=0)
    sample = model.sample(50, seed=0)
    assert len(sample) == 50
    assert np.linalg.eigvalsh(model.correlation).min() > 0.0


def test_zero_rows_sample(toy) -> None:
    frame, schema = toy
    sample = fit_gaussian_copula(frame, schema, seed=0).sample(0, seed=0)
    assert list(sample.columns) == schema.names
    assert len(sample) == 0


def test_one_row_rejected(toy) -> None:
    frame, schema = toy
    with pytest.raises(ValueError, match="train: the table has 1 rows, fewer than the 2"):
        fit_gaussian_copula(frame.iloc[:1], schema, seed=0)


def test_empty_train_rejected(toy) -> None:
    frame, schema = toy
    with pytest.raises(ValueError, match="0 rows"):
        fit_gaussian_copula(frame.iloc[:0], schema, seed=0)


def test_unknown_category_rejected(toy) -> None:
    frame, schema = toy
    frame = frame.assign(group=frame["group"].replace("a", "z"))
    with pytest.raises(ValueError, match="column 'group' has categories \\['z'\\]"):
        fit_gaussian_copula(frame, schema, seed=0)


def test_infinite_value_rejected(toy) -> None:
    frame, schema = toy
    frame = frame.copy()
    frame.loc[3, "count"] = np.inf
    with pytest.raises(ValueError, match="column 'count' has 1 infinite values"):
        fit_gaussian_copula(frame, schema, seed=0)


def test_invalid_binary_rejected(toy) -> None:
    frame, schema = toy
    frame = frame.assign(flag=frame["flag"] * 2)
    with pytest.raises(ValueError, match="flag"):
        fit_gaussian_copula(frame, schema, seed=0)


def test_missing_column_rejected(toy) -> None:
    frame, schema = toy
    with pytest.raises(ValueError, match="missing the columns \\['x'\\]"):
        fit_gaussian_copula(frame.drop(columns="x"), schema, seed=0)


def test_bad_arguments_rejected(toy) -> None:
    frame, schema = toy
    with pytest.raises(TypeError, match="train"):
        fit_gaussian_copula(frame.to_numpy(), schema, seed=0)
    with pytest.raises(TypeError, match="schema"):
        fit_gaussian_copula(frame, {"x": "numeric"}, seed=0)
    with pytest.raises(ValueError, match="seed"):
        fit_gaussian_copula(frame, schema, seed=-1)
    model = fit_gaussian_copula(frame, schema, seed=0)
    with pytest.raises(ValueError, match="rows: expected an integer >= 0, got -5"):
        model.sample(-5, seed=0)
    with pytest.raises(ValueError, match="seed"):
        model.sample(10, seed=True)


def test_generate_result(rhc: PreparedDataset, k20_schema: TableSchema) -> None:
    result = generate_gaussian_copula(rhc, k20_schema, rows=300, replicate=0)
    assert result.generator == GENERATOR_NAME == "gaussian-copula"
    assert result.strategy == "none"
    assert result.schema is k20_schema
    assert result.synthetic.shape == (300, len(k20_schema.names))
    assert result.validity.requested == 300
    assert result.validity.valid == 300
    assert result.validity.parsed == 300
    assert result.requests == 0
    assert result.input_tokens is None


def test_generate_replicates(rhc: PreparedDataset, k20_schema: TableSchema) -> None:
    first = generate_gaussian_copula(rhc, k20_schema, rows=300, replicate=0).synthetic
    again = generate_gaussian_copula(rhc, k20_schema, rows=300, replicate=0).synthetic
    other = generate_gaussian_copula(rhc, k20_schema, rows=300, replicate=1).synthetic
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_model_type(rhc: PreparedDataset, k20_schema: TableSchema) -> None:
    assert isinstance(fit_gaussian_copula(rhc.train, k20_schema, seed=0), GaussianCopula)
