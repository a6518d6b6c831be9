"""Gaussian copula reference generator: keeps the marginals and the pairwise rank correlations.

It sits between the two reference generators of :mod:`ehrbench.generators.reference`:
``independent-marginals`` keeps every marginal and no relation between columns, and
``real-holdout`` keeps everything. The copula keeps the marginals and the linear dependence
of the normal scores, so it shows what a simple statistical model achieves without an LLM.

Fitting on a training table with ``n >= 2`` rows builds ``d`` latent variables, each a
vector of ``n`` normal scores:

- A numeric column with at least two distinct present values contributes one value
  variable. The present values are ranked with ties averaged (``scipy.stats.rankdata``), and
  rank ``r`` of ``n_present`` values becomes the score ``scipy.stats.norm.ppf((r - 0.5) /
  n_present)``, a value in about [-3.5, 3.5] for a few thousand rows. The ranks are taken
  over the present values only, so the quantile function used in sampling inverts this map
  exactly. Missing rows take the mean of the present scores. That is 0, the score of the
  median, when the present values have no ties, and it makes the variable uncorrelated with
  its own missing indicator, so sampled present values keep the training marginal.
- A binary or categorical column with at least two observed categories contributes one
  value variable. Categories are ordered (0.0 before 1.0, categorical ones as in the
  schema), and category ``k`` with cumulative frequencies ``F[k-1] < F[k]`` gets the score
  ``norm.ppf((F[k-1] + F[k]) / 2)``. That equals the rank formula above with ties averaged.
  Missing rows take the mean of the present scores, as for numeric columns.
- A column with a missing rate strictly between 0 and 1 also contributes a missing
  indicator variable (0 present, 1 missing), scored like a binary column. Missingness can so
  correlate with other columns.
- A column with one distinct present value is sampled as that constant. A column with no
  present value is sampled as all missing. Neither contributes a value variable.

The ``d x d`` Pearson correlation matrix of the scores (all ``n`` rows, filled as above) is
repaired before its Cholesky factorisation. Eigenvalues below :data:`EIGENVALUE_FLOOR` are
raised to it, which gives the nearest positive semi-definite matrix in Frobenius norm, and
the result is rescaled to a unit diagonal. Repair matters when variables are collinear or
``d >= n``.

Sampling draws ``rows x d`` standard normal values, multiplies them by the transposed
Cholesky factor and maps each latent column back:

- numeric: ``u = norm.cdf(z)`` goes through the empirical quantile function of the present
  values, linear between the points ``((i - 0.5) / n_present, sorted value i)`` and clipped to
  the observed range. Columns that the schema marks ``integer`` are rounded.
- binary, categorical and missing indicators: category ``k`` when ``z`` lies between the
  thresholds ``norm.ppf(F[k-1])`` and ``norm.ppf(F[k])``, so each category keeps its training
  frequency in expectation.

Output rows follow :mod:`ehrbench.schema`: numeric and binary columns are float64, categorical
columns are object dtype holding ``str``, and missing values are NaN. The same model and seed
give the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from ehrbench.datasets import PreparedDataset
from ehrbench.generators.base import GenerationResult
from ehrbench.metrics.base import check_real, check_schema
from ehrbench.parsing import ValidityRecord
from ehrbench.schema import TableSchema, coerce_frame

logger = logging.getLogger(__name__)

GENERATOR_NAME = "gaussian-copula"

#: Smallest eigenvalue kept when the correlation matrix is repaired.
EIGENVALUE_FLOOR = 1e-8

#: Minimum number of training rows, because a correlation needs two rows.
MIN_TRAIN_ROWS = 2


@dataclass(frozen=True, eq=False)
class _Marginal:
    """The map between one latent variable and the values of one column.

    ``levels`` are the sorted present values (numeric) or the observed categories in order
    (binary, categorical, missing indicator). ``cumulative`` holds, per level, the quantile
    probability ``(i - 0.5) / n`` (numeric) or the cumulative frequency (the others).
    """

    levels: np.ndarray
    cumulative: np.ndarray
    continuous: bool

    def to_values(self, latent: np.ndarray) -> np.ndarray:
        """Map standard normal values of shape ``(rows,)`` to levels."""
        if self.continuous:
            return np.interp(norm.cdf(latent), self.cumulative, self.levels)
        thresholds = norm.ppf(self.cumulative[:-1])
        return self.levels[np.searchsorted(thresholds, latent)]


@dataclass(frozen=True, eq=False)
class _ColumnModel:
    """The sampling plan of one column: a constant or a latent variable, plus missingness."""

    name: str
    constant: object
    value: _Marginal | None
    value_variable: int | None
    missing: _Marginal | None
    missing_variable: int | None
    all_missing: bool
    integer: bool


@dataclass(frozen=True, eq=False)
class GaussianCopula:
    """A fitted Gaussian copula. Create it with :func:`fit_gaussian_copula`.

    ``variables`` names the ``d`` latent variables (a column name, or ``"name:missing"`` for
    a missing indicator). ``correlation`` is their repaired ``d x d`` correlation matrix and
    ``n_clipped_eigenvalues`` counts the eigenvalues that the repair raised.
    """

    schema: TableSchema
    seed: int
    variables: tuple[str, ...]
    correlation: np.ndarray
    n_clipped_eigenvalues: int
    columns: tuple[_ColumnModel, ...]
    cholesky: np.ndarray

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """Draw ``rows`` rows with the schema's columns and dtypes.

        The random stream is ``numpy.random.default_rng([fit seed, seed])``, so the same model
        and seed give the same rows. ``rows=0`` gives an empty table with the same columns.
        """
        _check_count("rows", rows, minimum=0)
        _check_count("seed", seed, minimum=0)

        rng = np.random.default_rng([self.seed, seed])
        latent = rng.standard_normal((rows, len(self.variables))) @ self.cholesky.T

        frame = {}
        for column in self.columns:
            frame[column.name] = _sample_column(column, latent, rows)
        return coerce_frame(pd.DataFrame(frame), self.schema)


def fit_gaussian_copula(train: pd.DataFrame, schema: TableSchema, seed: int) -> GaussianCopula:
    """Fit a Gaussian copula to the ``schema`` columns of ``train``.

    ``train`` is checked like a real table (see :mod:`ehrbench.metrics.base`) and must have
    at least :data:`MIN_TRAIN_ROWS` rows, categories from the schema and no +/-inf.
    Other columns of ``train`` are ignored. Fitting draws no random numbers; ``seed`` is
    stored and seeds every :meth:`GaussianCopula.sample` call together with its own seed.
    """
    check_schema(schema)
    _check_count("seed", seed, minimum=0)
    frame = check_real(train, schema, schema.names, argument="train")
    _check_train_values(frame, schema)

    columns = []
    scores: list[np.ndarray] = []
    variables: list[str] = []
    for column in schema.columns:
        model, column_scores = _fit_column(frame[column.name], schema, len(scores))
        columns.append(model)
        scores.extend(column_scores)
        variables.extend(_variable_names(model))

    correlation, n_clipped = _correlation(scores)
    logger.info(
        "gaussian copula: %d training rows, %d latent variables, %d eigenvalues raised to %g",
        len(frame),
        len(variables),
        n_clipped,
        EIGENVALUE_FLOOR,
    )
    return GaussianCopula(
        schema=schema,
        seed=int(seed),
        variables=tuple(variables),
        correlation=correlation,
        n_clipped_eigenvalues=n_clipped,
        columns=tuple(columns),
        cholesky=np.linalg.cholesky(correlation),
    )


def generate_gaussian_copula(
    prepared: PreparedDataset, schema: TableSchema, rows: int, replicate: int
) -> GenerationResult:
    """Return ``rows`` rows of ``schema`` from a copula fitted on the training part.

    The fit seed is ``replicate`` and the sample seed is ``rows``, so each (rows, replicate)
    pair gives its own rows. The dataset's group columns are fitted and sampled with the schema
    columns and returned apart as ``groups``, for the fairness criteria. The rows are counted valid, because every value comes from the
    training part's range and category set.
    """
    group_columns = [column for column in prepared.dataset.group_columns if column not in schema.names]
    fitted = prepared.schema.select(schema.feature_names + group_columns) if group_columns else schema
    model = fit_gaussian_copula(prepared.train, fitted, seed=replicate)
    sample = model.sample(rows, seed=rows)
    validity = ValidityRecord(requested=rows, answers=0, failed_answers=0, parsed=rows, valid=rows)
    return GenerationResult(
        generator=GENERATOR_NAME,
        strategy="none",
        schema=schema,
        synthetic=sample[schema.names],
        validity=validity,
        groups=sample[group_columns] if group_columns else None,
    )


def _check_count(argument: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{argument}: expected an integer >= {minimum}, got {value!r}")


def _check_train_values(frame: pd.DataFrame, schema: TableSchema) -> None:
    if len(frame) < MIN_TRAIN_ROWS:
        raise ValueError(
            f"train: the table has {len(frame)} rows, fewer than the {MIN_TRAIN_ROWS} that a "
            "copula needs to estimate correlations. Pass the training part of a prepared dataset"
        )

    for column in schema.columns:
        values = frame[column.name]
        if column.kind == "categorical":
            unknown = sorted(set(values.dropna()) - set(column.categories))
            if unknown:
                raise ValueError(
                    f"train: column {column.name!r} has categories {unknown[:3]} that are not in "
                    f"the schema's list {list(column.categories)}; infer the schema on this table"
                )
        elif np.isinf(values.to_numpy(dtype=float)).any():
            n_infinite = int(np.isinf(values.to_numpy(dtype=float)).sum())
            raise ValueError(
                f"train: column {column.name!r} has {n_infinite} infinite values; "
                "replace them with NaN"
            )


def _fit_column(
    values: pd.Series, schema: TableSchema, first_variable: int
) -> tuple[_ColumnModel, list[np.ndarray]]:
    """Return the model of one column and the score vectors of its latent variables."""
    column = schema[values.name]
    present = values.notna().to_numpy()
    missing_rate = 1.0 - present.mean()
    scores: list[np.ndarray] = []

    levels = _levels(values[present], column.kind, column.categories)
    value = value_variable = None
    constant = levels[0] if len(levels) == 1 else np.nan
    if len(levels) >= 2:
        continuous = column.kind == "numeric"
        codes = values[present].to_numpy() if continuous else _codes(values[present], levels)
        value, present_scores = _fit_marginal(codes, levels, continuous)
        # Missing rows take the mean present score, so the variable is uncorrelated with its
        # own missing indicator and the present values keep their marginal in sampling.
        latent = np.full(len(values), present_scores.mean())
        latent[present] = present_scores
        value_variable = first_variable
        scores.append(latent)

    missing = missing_variable = None
    if 0.0 < missing_rate < 1.0:
        indicator = (~present).astype(float)
        missing, indicator_scores = _fit_marginal(indicator, np.array([0.0, 1.0]), continuous=False)
        missing_variable = first_variable + len(scores)
        scores.append(indicator_scores)

    model = _ColumnModel(
        name=column.name,
        constant=constant,
        value=value,
        value_variable=value_variable,
        missing=missing,
        missing_variable=missing_variable,
        all_missing=missing_rate == 1.0,
        integer=column.kind == "numeric" and column.integer,
    )
    return model, scores


def _levels(present: pd.Series, kind: str, categories: tuple[str, ...]) -> np.ndarray:
    observed = set(present)
    if kind == "categorical":
        return np.array([category for category in categories if category in observed], dtype=object)
    return np.array(sorted(observed), dtype=float)


def _codes(present: pd.Series, levels: np.ndarray) -> np.ndarray:
    positions = {level: index for index, level in enumerate(levels)}
    return present.map(positions).to_numpy(dtype=float)


def _fit_marginal(
    values: np.ndarray, levels: np.ndarray, continuous: bool
) -> tuple[_Marginal, np.ndarray]:
    """Return the marginal of present ``values`` (numbers or level codes) and their normal scores.

    For categories, ``values`` are codes 0..K-1 into ``levels``.
    """
    n = len(values)
    scores = norm.ppf((rankdata(values, method="average") - 0.5) / n)

    if continuous:
        cumulative = (np.arange(n) + 0.5) / n
        return _Marginal(np.sort(values), cumulative, continuous=True), scores

    counts = np.bincount(values.astype(int), minlength=len(levels))
    cumulative = np.cumsum(counts) / n
    return _Marginal(levels, cumulative, continuous=False), scores


def _variable_names(model: _ColumnModel) -> list[str]:
    names = []
    if model.value_variable is not None:
        names.append(model.name)
    if model.missing_variable is not None:
        names.append(f"{model.name}:missing")
    return names


def _correlation(scores: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Return the repaired ``d x d`` correlation matrix of the score vectors and the clip count."""
    if len(scores) == 0:
        return np.zeros((0, 0)), 0
    if len(scores) == 1:
        return np.ones((1, 1)), 0

    # NOTE: three effects weaken the sampled dependence against the training data. Filled
    # missing rows shrink a column's correlations by about sqrt(1 - missing rate). Thresholding
    # a latent normal gives binary pairs a smaller correlation than the latent one. Categories
    # keep the schema's sorted order, so a non-monotone association with a nominal column is lost.
    pearson = np.corrcoef(np.vstack(scores))
    symmetric = (pearson + pearson.T) / 2

    eigenvalues, eigenvectors = np.linalg.eigh(symmetric)
    n_clipped = int((eigenvalues < EIGENVALUE_FLOOR).sum())
    clipped = np.maximum(eigenvalues, EIGENVALUE_FLOOR)
    repaired = (eigenvectors * clipped) @ eigenvectors.T

    scale = 1.0 / np.sqrt(np.diag(repaired))
    repaired = repaired * np.outer(scale, scale)
    repaired = (repaired + repaired.T) / 2
    np.fill_diagonal(repaired, 1.0)
    return repaired, n_clipped


def _sample_column(column: _ColumnModel, latent: np.ndarray, rows: int) -> np.ndarray:
    """Return ``rows`` values of one column (float or object, NaN for missing)."""
    if column.value is None:
        values = np.full(rows, column.constant, dtype=object)
    else:
        values = column.value.to_values(latent[:, column.value_variable])
        if column.integer:
            values = np.round(values)
        values = values.astype(object)

    if column.all_missing:
        values[:] = np.nan
    elif column.missing is not None:
        is_missing = column.missing.to_values(latent[:, column.missing_variable]) == 1.0
        values[is_missing] = np.nan
    return values
