"""Fixtures shared by the test modules: the prepared RHC dataset and its 5-feature subset.

Both are session-scoped, because preparing RHC ranks its features with XGBoost. A module that
needs another dataset or size defines its own fixture of the same name, which takes precedence.
"""

from __future__ import annotations

import pytest

from ehrbench.datasets import RHC, PreparedDataset, prepare
from ehrbench.features import FeatureSubset, build_subsets


@pytest.fixture(scope="session")
def prepared() -> PreparedDataset:
    return prepare(RHC())


@pytest.fixture(scope="session")
def subset(prepared: PreparedDataset) -> FeatureSubset:
    return build_subsets(prepared, (5,))[0]
