"""Machine-learning utility: train XGBoost on one table, score it on the real test part.

TSTR (train on synthetic, test on real) trains on a generator's output. TRTR (train on real,
test on real) is the same computation with the real training part, and is the reference
that TSTR is compared with. :func:`fit_and_score` does one fit and returns both AUROC
(``sklearn.metrics.roc_auc_score``) and AUPRC (``sklearn.metrics.average_precision_score``)
of the predicted probabilities on the test rows.

Features are the schema's feature columns. Categorical columns become pandas Categorical
with the schema's category list, so a value outside that list becomes missing (counted in
``details``). +/-inf and other numbers beyond the float32 range become missing as well
(counted), because XGBoost rejects them. Categorical columns whose schema has no categories
are left out.

Each value has a 95% bootstrap percentile interval over test rows: ``n_bootstrap``
(default :data:`N_BOOTSTRAP`) resamples of the test rows with replacement, drawn with
``numpy.random.default_rng(seed)``.
Resamples that contain a single class are skipped and counted in
``details["bootstrap_skipped"]``.

XGBoost runs with fixed hyperparameters, ``tree_method="hist"`` and one thread, so two
calls with the same inputs and seed give bit-for-bit identical results (tested with
xgboost 3.2 on one machine).

Range [0, 1], higher is better. A classifier that ranks at random scores about 0.5 AUROC
and about the positive rate of the test part in AUPRC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score
from xgboost import XGBClassifier
from xgboost.core import XGBoostError

from ehrbench.metrics.base import (
    Metric,
    MetricResult,
    check_real,
    check_schema,
    coerce_columns,
    find_table_problems,
)
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: XGBoost hyperparameters, fixed so that every generator is scored by the same model.
N_ESTIMATORS = 100
MAX_DEPTH = 4
LEARNING_RATE = 0.1

#: Minimum number of training rows with a label.
MIN_TRAIN_ROWS = 20

#: Default number of bootstrap resamples of the test rows.
N_BOOTSTRAP = 200

#: Coverage of the bootstrap percentile interval.
CONFIDENCE = 0.95

#: XGBoost stores features as float32 and rejects values that overflow it.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class UtilityResult:
    """AUROC and AUPRC of one fit, plus the facts shared by both (row and feature counts)."""

    auroc: MetricResult
    auprc: MetricResult
    details: dict[str, Any] = field(default_factory=dict)
    #: Predicted probability of the positive class for each test row, in test order, shape
    #: (n_test,); None when the model could not be trained.
    probabilities: np.ndarray | None = None

    @property
    def scored(self) -> bool:
        """True when the model was trained and scored."""
        return self.auroc.scored


def fit_and_score(
    train: Any,
    test: pd.DataFrame,
    schema: TableSchema,
    seed: int,
    n_bootstrap: int = N_BOOTSTRAP,
) -> UtilityResult:
    """Train XGBoost on ``train`` and return its AUROC and AUPRC on ``test``.

    ``test`` is a real part of a prepared dataset: it must have both classes and no missing
    label, and it is checked like ``real`` in :mod:`ehrbench.metrics.base`. ``train`` may be
    anything. When it is invalid, has fewer than :data:`MIN_TRAIN_ROWS` labelled rows, a
    single class or no feature with two distinct values, both results have ``value=None``
    and a reason. Training rows without a label are dropped and counted.
    ``seed`` seeds XGBoost and the bootstrap, and ``n_bootstrap=0`` skips the intervals.
    """
    check_schema(schema)
    _check_arguments(seed, n_bootstrap)
    columns = schema.names
    test_frame = check_real(test, schema, columns, argument="test")
    _check_test_label(test_frame[schema.label], schema.label)

    problems = find_table_problems(train, schema, columns, argument="train")
    if problems:
        return _unscored("invalid training table: " + "; ".join(problems), {"problems": problems})

    train_frame = coerce_columns(train, schema, columns)
    labelled = train_frame[schema.label].notna()
    train_frame = train_frame[labelled]
    details: dict[str, Any] = {
        "n_train": len(train_frame),
        "dropped_unlabelled": int((~labelled).sum()),
    }
    labels = train_frame[schema.label].to_numpy(dtype=int)
    train_features, details["train_replaced_by_missing"] = build_features(train_frame, schema)

    reason = _find_training_problem(train_features, labels, schema.label)
    if reason:
        return _unscored(reason, details)

    test_features, details["test_replaced_by_missing"] = build_features(test_frame, schema)
    details.update(
        n_test=len(test_frame),
        train_positive_rate=float(labels.mean()),
        features=list(train_features.columns),
    )
    model = new_classifier(seed)
    try:
        model.fit(train_features, labels)
        probabilities = model.predict_proba(test_features)[:, 1]
    except (XGBoostError, ValueError) as error:
        return _unscored(f"XGBoost failed: {str(error).splitlines()[0]}", details)

    test_labels = test_frame[schema.label].to_numpy(dtype=int)
    result = _score_predictions(test_labels, probabilities, seed, n_bootstrap, details)
    return replace(result, probabilities=probabilities)


def build_features(frame: pd.DataFrame, schema: TableSchema) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the XGBoost feature matrix of a coerced frame and the values made missing.

    The counts map each column to how many of its values became missing: categories outside
    the schema's list, or numbers beyond the float32 range (such as +/-inf) in numeric and
    binary columns.
    """
    features = {}
    replaced = {}
    for name in schema.feature_names:
        column = schema[name]
        values = frame[name]
        if column.kind == "categorical":
            if not column.categories:
                continue
            known = values.where(values.isin(column.categories))
            converted = pd.Series(
                pd.Categorical(known, categories=list(column.categories)), index=frame.index
            )
        else:
            converted = values.where(values.abs() <= _FLOAT32_MAX)
        n_replaced = int(converted.isna().sum() - values.isna().sum())
        if n_replaced:
            replaced[name] = n_replaced
        features[name] = converted
    return pd.DataFrame(features, index=frame.index), replaced


def _check_arguments(seed: object, n_bootstrap: object) -> None:
    for argument, value, minimum in (("seed", seed, 0), ("n_bootstrap", n_bootstrap, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{argument}: expected an integer >= {minimum}, got {value!r}")


def _check_test_label(labels: pd.Series, label: str) -> None:
    if labels.isna().any():
        n_missing = int(labels.isna().sum())
        raise ValueError(f"test: label {label!r} has {n_missing} missing values. Drop those rows")
    if labels.nunique() < 2:
        raise ValueError(f"test: label {label!r} has a single class; AUROC needs both classes")


def _find_training_problem(features: pd.DataFrame, labels: np.ndarray, label: str) -> str:
    if len(features) < MIN_TRAIN_ROWS:
        return f"the training table has {len(features)} labelled rows, fewer than {MIN_TRAIN_ROWS}"
    if np.unique(labels).size < 2:
        return f"the training label {label!r} has the single class {float(labels[0])}"

    usable = [name for name in features.columns if features[name].nunique(dropna=True) >= 2]
    if not usable:
        return "no training feature has two distinct values"
    return ""


def new_classifier(seed: int) -> XGBClassifier:
    """Return the XGBoost classifier every ehrbench model uses: fixed, single-threaded, seeded."""
    return XGBClassifier(
        n_estimators=N_ESTIMATORS,
        max_depth=MAX_DEPTH,
        learning_rate=LEARNING_RATE,
        tree_method="hist",
        enable_categorical=True,
        n_jobs=1,
        random_state=seed,
    )


def _score_predictions(
    labels: np.ndarray,
    probabilities: np.ndarray,
    seed: int,
    n_bootstrap: int,
    details: dict[str, Any],
) -> UtilityResult:
    scorers = {"auroc": roc_auc_score, "auprc": average_precision_score}
    points = {name: float(scorer(labels, probabilities)) for name, scorer in scorers.items()}
    samples: dict[str, list[float]] = {name: [] for name in scorers}

    rng = np.random.default_rng(seed)
    n_skipped = 0
    for _ in range(n_bootstrap):
        rows = rng.integers(0, len(labels), len(labels))
        if np.unique(labels[rows]).size < 2:
            n_skipped += 1
            continue
        for name, scorer in scorers.items():
            samples[name].append(float(scorer(labels[rows], probabilities[rows])))

    details = {**details, "n_bootstrap": n_bootstrap, "bootstrap_skipped": n_skipped}
    tail_percent = 100 * (1 - CONFIDENCE) / 2
    results = {}
    for name in scorers:
        low = high = None
        if samples[name]:
            bounds = np.percentile(samples[name], [tail_percent, 100 - tail_percent])
            low, high = float(bounds[0]), float(bounds[1])
        results[name] = MetricResult(name, points[name], low=low, high=high, details=details)
    return UtilityResult(results["auroc"], results["auprc"], details)


def _unscored(reason: str, details: dict[str, Any]) -> UtilityResult:
    logger.warning("utility could not be scored: %s", reason)
    return UtilityResult(
        MetricResult("auroc", None, reason, details=details),
        MetricResult("auprc", None, reason, details=details),
        details,
    )


class _TSTRMetric(Metric):
    """Base of the TSTR metrics: train on ``synthetic``, score on ``real``."""

    goal = "maximize"
    min_value = 0.0
    max_value = 1.0
    #: Field of :class:`UtilityResult` that the metric returns.
    field_name: str

    def __init__(self, seed: int = 0, n_bootstrap: int = N_BOOTSTRAP) -> None:
        _check_arguments(seed, n_bootstrap)
        self.seed = seed
        self.n_bootstrap = n_bootstrap

    def compute(self, real: pd.DataFrame, synthetic: Any, schema: TableSchema) -> MetricResult:
        """Train on ``synthetic`` and score on ``real``.

        Each call fits a new model. Call :func:`fit_and_score` to read AUROC and AUPRC of one fit.
        """
        result = fit_and_score(synthetic, real, schema, self.seed, self.n_bootstrap)
        return replace(getattr(result, self.field_name), name=self.name)

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        """Score already coerced frames, the same as :meth:`compute`."""
        return self.compute(real, synthetic, schema)


class TSTRAUROC(_TSTRMetric):
    """AUROC on the real test part of XGBoost trained on the synthetic table.

    Range [0, 1], higher is better.
    """

    name = "tstr_auroc"
    field_name = "auroc"


class TSTRAUPRC(_TSTRMetric):
    """AUPRC on the real test part of XGBoost trained on the synthetic table.

    Range [0, 1], higher is better.
    """

    name = "tstr_auprc"
    field_name = "auprc"
