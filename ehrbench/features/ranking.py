"""Rank features by XGBoost gain on the training part of a dataset.

The ranking is what the feature subsets (top 5, 10, 15, 20) are cut from, so it must be stable:
the model is seeded and single-threaded, ties are broken by column name, and the result is cached
in memory per content of the training part.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache

import pandas as pd
import xgboost

from ehrbench.datasets import PreparedDataset
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Hyperparameters of the ranking model; fixed so that the ranking never depends on the run.
RANKING_PARAMS = {
    "n_estimators": 200,
    "max_depth": 4,
    "learning_rate": 0.1,
    "subsample": 1.0,
    "tree_method": "hist",
    "random_state": 0,
    "n_jobs": 1,
}


def to_model_matrix(frame: pd.DataFrame, schema: TableSchema, features: list[str]) -> pd.DataFrame:
    """Return ``features`` of ``frame`` as an XGBoost input with native categorical columns.

    Categorical columns become :class:`pandas.Categorical` over the schema's categories, so two
    frames encoded with one schema share codes; values outside the categories become NaN.
    """
    columns = {}
    for name in features:
        column = schema[name]
        if column.kind == "categorical":
            columns[name] = pd.Categorical(frame[name], categories=list(column.categories))
        else:
            columns[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return pd.DataFrame(columns, index=frame.index)


def rank_features(prepared: PreparedDataset) -> list[str]:
    """Return the feature names of ``prepared`` ordered by XGBoost gain, highest first.

    Gain is XGBoost's ``importance_type="gain"`` (mean loss reduction of the splits on a
    feature). Features the model never splits on have gain 0 and come last, in name order.
    """
    columns = prepared.schema.names
    digest = pd.util.hash_pandas_object(prepared.train[columns], index=False).to_numpy()
    fingerprint = hashlib.sha256(digest.tobytes() + "|".join(columns).encode()).hexdigest()[:16]
    return list(_rank_cached(prepared.name, fingerprint, _Unhashed(prepared)))


class _Unhashed:
    """Carries the prepared dataset through lru_cache without taking part in the key."""

    def __init__(self, prepared: PreparedDataset) -> None:
        self.prepared = prepared

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unhashed)


@lru_cache(maxsize=8)
def _rank_cached(name: str, fingerprint: str, carrier: _Unhashed) -> tuple[str, ...]:
    prepared = carrier.prepared
    schema = prepared.schema
    features = schema.feature_names
    matrix = to_model_matrix(prepared.train, schema, features)
    target = prepared.train[schema.label].astype(int)

    model = xgboost.XGBClassifier(enable_categorical=True, **RANKING_PARAMS)
    model.fit(matrix, target)
    gains = model.get_booster().get_score(importance_type="gain")

    ranked = sorted(features, key=lambda feature: (-gains.get(feature, 0.0), feature))
    logger.info("dataset %s (%s): top features by gain %s", name, fingerprint, ranked[:10])
    return tuple(ranked)
