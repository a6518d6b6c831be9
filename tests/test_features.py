"""Tests of the feature ranking, the feature subsets and the dependency order, on RHC."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from ehrbench.datasets import RHC, PreparedDataset, prepare
from ehrbench.features import FEATURE_SET_SIZES, build_subsets, parse_feature_set_size, rank_features
from ehrbench.features.dependencies import (
    MAX_PARENTS,
    Dependency,
    MIN_PARENT_ASSOCIATION,
    association_matrix,
    dependency_order,
)

FEATURE_COUNT = 53
ROOTS = ["race", "sex", "age"]

_uncached_numbers = itertools.count()


class UncachedRHC(RHC):
    """RHC with a new fingerprint per instance, so that rank_features fits a new model for it."""

    def __init__(self) -> None:
        super().__init__()
        self.number = next(_uncached_numbers)

    def fingerprint(self) -> str:
        return f"uncached-{self.number}"


def uncached(prepared: PreparedDataset, **parts: pd.DataFrame) -> PreparedDataset:
    """Return ``prepared`` with some parts replaced, under a fingerprint no ranking is cached for."""
    return dataclasses.replace(prepared, dataset=UncachedRHC(), **parts)


@pytest.fixture(scope="module")
def ranking(prepared: PreparedDataset) -> list[str]:
    return rank_features(prepared)


@pytest.fixture(scope="module")
def full_order(prepared: PreparedDataset) -> list[Dependency]:
    return dependency_order(prepared.train, prepared.schema, ROOTS)


@pytest.fixture(scope="module")
def full_strength(prepared: PreparedDataset) -> pd.DataFrame:
    return association_matrix(prepared.train, prepared.schema)


def permuted_label(part: pd.DataFrame) -> pd.DataFrame:
    shuffled = np.random.default_rng(0).permutation(part["death"].to_numpy())
    return part.assign(death=shuffled)


# Ranking.


def test_ranking_lists_every_feature_once(prepared: PreparedDataset, ranking: list[str]) -> None:
    assert len(ranking) == FEATURE_COUNT
    assert sorted(ranking) == sorted(prepared.schema.feature_names)
    assert "death" not in ranking


def test_ranking_repeatable_without_cache(prepared: PreparedDataset, ranking: list[str]) -> None:
    assert rank_features(uncached(prepared)) == ranking


def test_ranking_repeatable_after_fresh_prepare(ranking: list[str]) -> None:
    fresh = prepare(RHC())
    assert rank_features(uncached(fresh)) == ranking


def test_ranking_ignores_test_and_reference(prepared: PreparedDataset, ranking: list[str]) -> None:
    scrambled = {
        "test": permuted_label(prepared.test).assign(surv2md1=0.5, age=40.0),
        "reference": permuted_label(prepared.reference).assign(surv2md1=0.5),
    }
    assert rank_features(uncached(prepared, **scrambled)) == ranking


def test_ranking_follows_training_rows(prepared: PreparedDataset, ranking: list[str]) -> None:
    changed = uncached(prepared, train=permuted_label(prepared.train))
    assert rank_features(changed) != ranking


def test_ranking_cache_sees_new_training_rows(prepared: PreparedDataset, ranking: list[str]) -> None:
    changed = dataclasses.replace(prepared, train=permuted_label(prepared.train))
    assert rank_features(changed) == rank_features(uncached(changed))
    assert rank_features(changed) != ranking


# Subsets.


def test_subsets_are_ranking_prefixes(prepared: PreparedDataset, ranking: list[str]) -> None:
    subsets = build_subsets(prepared)
    assert [subset.size for subset in subsets] == list(FEATURE_SET_SIZES)

    for subset in subsets:
        count = FEATURE_COUNT if subset.size == "all" else subset.size
        assert subset.features == tuple(ranking[:count]), subset.label


def test_subset_labels(prepared: PreparedDataset) -> None:
    labels = [subset.label for subset in build_subsets(prepared)]
    assert labels == ["k5", "k10", "k15", "k20", "kall"]


def test_oversized_subsets_take_every_feature(prepared: PreparedDataset, ranking: list[str]) -> None:
    for subset in build_subsets(prepared, (FEATURE_COUNT, FEATURE_COUNT + 1, 500)):
        assert subset.features == tuple(ranking)


@pytest.mark.parametrize("size", [0, -1])
def test_build_subsets_rejects_nonpositive_size(prepared: PreparedDataset, size: int) -> None:
    with pytest.raises(ValueError, match=str(size)):
        build_subsets(prepared, (size,))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("5", 5), ("k5", 5), (" K20 ", 20), ("all", "all"), ("kall", "all"), ("ALL", "all")],
)
def test_parse_size_accepts(value: object, expected: object) -> None:
    assert parse_feature_set_size(value) == expected


@pytest.mark.parametrize("value", [0, -1, "x", "k0", "", "5.5", "k-3"])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ValueError) as error:
        parse_feature_set_size(value)
    assert repr(value) in str(error.value)
    assert "'all'" in str(error.value)


def test_parse_size_rejects_superscript_digit() -> None:
    with pytest.raises(ValueError, match="feature-set size '²' is invalid"):
        parse_feature_set_size("²")


# Dependency order.


def test_order_places_every_column_once(prepared: PreparedDataset, full_order: list[Dependency]) -> None:
    columns = [step.column for step in full_order]
    assert len(columns) == len(prepared.schema.names)
    assert sorted(columns) == sorted(prepared.schema.names)


def test_order_puts_roots_first_and_label_last(full_order: list[Dependency]) -> None:
    columns = [step.column for step in full_order]
    assert columns[:3] == ROOTS
    assert columns[-1] == "death"


def test_order_keeps_given_root_order(prepared: PreparedDataset, ranking: list[str]) -> None:
    schema = prepared.schema.select(ranking[:8] + ["race", "sex", "age"])
    columns = [step.column for step in dependency_order(prepared.train, schema, ["age", "sex"])]
    assert columns[:2] == ["age", "sex"]


def test_order_without_roots_starts_at_first_feature(prepared: PreparedDataset, ranking: list[str]) -> None:
    schema = prepared.schema.select(ranking[:5])
    assert not set(ROOTS) & set(schema.names)

    columns = [step.column for step in dependency_order(prepared.train, schema, ROOTS)]
    assert columns[0] == ranking[0]
    assert columns[-1] == "death"
    assert sorted(columns) == sorted(schema.names)


def test_order_is_greedy_by_association(full_strength: pd.DataFrame, full_order: list[Dependency]) -> None:
    strength = full_strength.fillna(0.0)
    columns = [step.column for step in full_order]
    features = columns[:-1]

    for index in range(len(ROOTS), len(features)):
        placed = features[:index]
        chosen = strength.loc[features[index], placed].max()
        best_later = max(strength.loc[later, placed].max() for later in features[index:])
        assert chosen == best_later, features[index]


def test_parents_are_earlier_and_strong(full_strength: pd.DataFrame, full_order: list[Dependency]) -> None:
    seen: list[str] = []

    for step in full_order:
        limit = MAX_PARENTS + 1 if step.column == "death" else MAX_PARENTS
        assert len(step.parents) <= limit, step.column
        for parent, rho in step.parents:
            assert parent in seen, (step.column, parent)
            assert rho >= MIN_PARENT_ASSOCIATION
            assert rho == pytest.approx(full_strength.loc[step.column, parent])
        seen.append(step.column)

    assert full_order[0].parents == ()
    assert any(step.parents for step in full_order)


def test_order_repeatable(prepared: PreparedDataset, ranking: list[str]) -> None:
    schema = prepared.schema.select(ranking[:10] + ROOTS)
    first = dependency_order(prepared.train, schema, ROOTS)
    second = dependency_order(prepared.train.copy(), schema, ROOTS)
    assert first == second
