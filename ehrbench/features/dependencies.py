"""A dependency order of columns for the conditional prompt strategy.

The order starts from the demographic columns, then repeatedly appends the remaining column most
associated with one already placed; the label comes last. Association is the absolute Spearman
correlation on the training part, with categorical columns encoded by category frequency rank
(an approximation for unordered categories) and pairwise-complete observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ehrbench.schema import TableSchema

#: Associations weaker than this are not named as parents.
MIN_PARENT_ASSOCIATION = 0.1

#: How many parents a column names at most (the label names one more).
MAX_PARENTS = 2


@dataclass(frozen=True)
class Dependency:
    """A column and the earlier columns it is generated from, with their |Spearman rho|."""

    column: str
    parents: tuple[tuple[str, float], ...]


def association_matrix(train: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Return |Spearman rho| between every pair of schema columns (NaN where undefined)."""
    encoded = {}
    for column in schema.columns:
        values = train[column.name]
        if column.kind == "categorical":
            ranks = {category: rank for rank, category in enumerate(values.value_counts().index)}
            encoded[column.name] = values.map(ranks).astype(float)
        else:
            encoded[column.name] = values.astype(float)
    return pd.DataFrame(encoded).corr(method="spearman", min_periods=20).abs()


def dependency_order(train: pd.DataFrame, schema: TableSchema, roots: list[str]) -> list[Dependency]:
    """Order ``schema``'s columns for conditional generation.

    ``roots`` (demographics) come first in the given order when they are in the schema; without
    any, the first feature of the schema starts. The label is always last.
    """
    strength = association_matrix(train, schema).fillna(0.0)
    features = schema.feature_names
    placed = [name for name in roots if name in features] or features[:1]
    remaining = [name for name in features if name not in placed]

    while remaining:
        best = max(remaining, key=lambda name: (strength.loc[name, placed].max(), -features.index(name)))
        placed.append(best)
        remaining.remove(best)

    order = [_with_parents(name, placed[:index], strength, MAX_PARENTS) for index, name in enumerate(placed)]
    order.append(_with_parents(schema.label, placed, strength, MAX_PARENTS + 1))
    return order


def _with_parents(name: str, earlier: list[str], strength: pd.DataFrame, limit: int) -> Dependency:
    scored = sorted(((strength.loc[name, other], other) for other in earlier), reverse=True)
    parents = tuple((other, float(value)) for value, other in scored[:limit] if value >= MIN_PARENT_ASSOCIATION)
    return Dependency(name, parents)
