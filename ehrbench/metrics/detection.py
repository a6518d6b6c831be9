"""Detection AUROC: how well a classifier distinguishes real rows from synthetic rows.

This is a classifier two-sample test. Real rows get the class 0 and synthetic rows the class
1. An XGBoost classifier is scored by :data:`N_FOLDS`-fold stratified cross-validation
(``sklearn.model_selection.StratifiedKFold`` with shuffling). The out-of-fold probabilities of
all folds are pooled into one ``sklearn.metrics.roc_auc_score``, and that AUROC is the value.

Range [0, 1]. The best value is 0.5: the classifier cannot tell the tables apart. The
``goal`` is ``"minimize"`` because generators move the value down from 1 toward 0.5, but
values below 0.5 are not better. ``details["detectability"]`` is ``max(auc, 0.5)`` in
[0.5, 1], lower is better, and is the number to compare. An AUROC below 0.5 is no evidence of
a difference: it appears when rows of one table have exact or near twins in the other, because
cross-validation then trains on the twin of each held-out row with the opposite class and
predicts the wrong class (identical tables of 40 distinct rows score about 0.06). Without twins
and without a difference, pooled out-of-fold AUROC scatters around 0.5.

Row order: both tables are first sorted by a hash of their row values
(:func:`ehrbench.metrics.base.order_by_content`), so the subsample and the folds, and so the
value, do not depend on the order of the rows.

Balance: the larger table is subsampled without replacement to the size of the smaller one
with ``numpy.random.default_rng(seed)``, so AUROC is measured on equal classes. The row
counts before and after are in ``details``.

Features are all schema columns, label included, built as in :mod:`ehrbench.metrics.utility`:
categorical columns become pandas Categorical with the schema's category list, a category
outside that list or a number beyond the float32 range (such as +/-inf) becomes missing and
is counted in ``details["replaced_by_missing"]``, and categorical columns whose schema has no
categories are left out. XGBoost runs with fixed hyperparameters, ``tree_method="hist"``,
native categorical support and one thread, so the same inputs and seed give the same value.

A table with fewer than :data:`MIN_ROWS` rows, or an invalid synthetic table (see
:mod:`ehrbench.metrics.base`), gives ``value=None`` and a reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from xgboost.core import XGBoostError

from ehrbench.metrics.base import Metric, MetricResult, order_by_content
from ehrbench.metrics.utility import build_features, new_classifier
from ehrbench.schema import TableSchema

#: Number of cross-validation folds.
N_FOLDS = 5

#: Minimum number of rows in each table, so that each test fold has at least 4 rows per class.
MIN_ROWS = 20


class DetectionAUROC(Metric):
    """Cross-validated AUROC of XGBoost that distinguishes real rows (0) from synthetic rows (1).

    Range [0, 1], best at 0.5 (see the module docstring for values below 0.5). ``details``
    contains ``detectability``, the per-fold AUROC ``fold_auroc``, the row counts
    ``n_real``, ``n_synthetic`` and ``n_per_class``, which table was ``subsampled``, the
    ``features`` used and the ``replaced_by_missing`` counts per table and column.
    """

    name = "detection_auroc"
    # NOTE: a comparison by ``goal`` ranks 0.3 above 0.5, although 0.5 is best. Compare
    # details["detectability"] or |value - 0.5| wherever values below 0.5 can occur.
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
        self.seed = int(seed)

    def score(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        schema: TableSchema,
        columns: list[str],
    ) -> MetricResult:
        details: dict[str, Any] = {"n_real": len(real), "n_synthetic": len(synthetic)}
        too_small = [
            f"the {argument} table has {len(frame)} rows, fewer than {MIN_ROWS}"
            for argument, frame in (("real", real), ("synthetic", synthetic))
            if len(frame) < MIN_ROWS
        ]
        if too_small:
            return self.unscored("; ".join(too_small), **details)

        rng = np.random.default_rng(self.seed)
        real, synthetic = order_by_content(real), order_by_content(synthetic)
        real, synthetic, details["subsampled"] = _balance(real, synthetic, rng)
        details["n_per_class"] = len(real)

        features, details["replaced_by_missing"] = _build_table(real, synthetic, schema)
        details["features"] = list(features.columns)
        classes = np.repeat([0, 1], len(real))

        try:
            probabilities, fold_auroc = self._predict_out_of_fold(features, classes)
        except (XGBoostError, ValueError) as error:
            return self.unscored(f"XGBoost failed: {str(error).splitlines()[0]}", **details)

        auc = float(roc_auc_score(classes, probabilities))
        details["fold_auroc"] = fold_auroc
        details["n_folds"] = N_FOLDS
        details["detectability"] = max(auc, 0.5)
        return MetricResult(self.name, auc, details=details)

    def _predict_out_of_fold(
        self, features: pd.DataFrame, classes: np.ndarray
    ) -> tuple[np.ndarray, list[float]]:
        """Return the out-of-fold probability of class 1 for every row, and the AUROC per fold."""
        folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=self.seed)
        probabilities = np.zeros(len(classes))
        fold_auroc = []
        for train_rows, test_rows in folds.split(features, classes):
            model = new_classifier(self.seed)
            model.fit(features.iloc[train_rows], classes[train_rows])
            probabilities[test_rows] = model.predict_proba(features.iloc[test_rows])[:, 1]
            fold_auroc.append(float(roc_auc_score(classes[test_rows], probabilities[test_rows])))
        return probabilities, fold_auroc


def _balance(
    real: pd.DataFrame, synthetic: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Subsample the larger table to the size of the smaller one and name the subsampled table."""
    size = min(len(real), len(synthetic))
    if len(real) > size:
        rows = np.sort(rng.choice(len(real), size=size, replace=False))
        return real.iloc[rows], synthetic, "real"
    if len(synthetic) > size:
        rows = np.sort(rng.choice(len(synthetic), size=size, replace=False))
        return real, synthetic.iloc[rows], "synthetic"
    return real, synthetic, None


def _build_table(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Return the stacked feature matrix (real rows first) and the values made missing per table."""
    parts = []
    replaced = {}
    for argument, frame in (("real", real), ("synthetic", synthetic)):
        features, replaced[argument] = build_features(frame, schema)
        # The label is binary, so the checks in metrics.base leave only 0, 1 and NaN in it.
        features[schema.label] = frame[schema.label]
        parts.append(features)
    return pd.concat(parts, ignore_index=True), replaced
