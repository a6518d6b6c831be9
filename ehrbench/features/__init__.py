"""Feature ranking by XGBoost gain and the feature subsets built from it."""

from ehrbench.features.ranking import rank_features
from ehrbench.features.subsets import FEATURE_SET_SIZES, FeatureSubset, build_subsets, parse_feature_set_size

__all__ = ["FEATURE_SET_SIZES", "FeatureSubset", "build_subsets", "parse_feature_set_size", "rank_features"]
