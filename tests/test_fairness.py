"""Tests of the fairness metrics: per-group KL divergence and the per-group AUROC gap.

Tables are made up with known group sizes, so that the minimum-row rules can be checked at
their boundaries and the AUROC gap has a known value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ehrbench.metrics.fairness import (
    MIN_GROUP_EVENTS,
    MIN_GROUP_REAL_ROWS,
    group_auroc_gap,
    group_aurocs,
    group_kl_divergence,
    group_name,
)
from ehrbench.metrics.kl_divergence import KLDivergence
from ehrbench.schema import ColumnKind, TableSchema, infer_schema

KINDS: dict[str, ColumnKind] = {"x": "numeric", "flag": "binary", "cat": "categorical", "death": "binary"}


def make_rows(n_rows: int, seed: int, **groups: str) -> pd.DataFrame:
    """Return ``n_rows`` random rows of :data:`KINDS` whose group columns hold the ``groups`` values."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n_rows),
            "flag": rng.integers(0, 2, size=n_rows).astype(float),
            "cat": rng.choice(["u", "v", "w"], size=n_rows).astype(object),
            "death": (np.arange(n_rows) % 2).astype(float),
        }
    )
    for column, value in groups.items():
        frame[column] = pd.Series([value] * n_rows, dtype=object)
    return frame


def stack(*frames: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


def schema_of(real: pd.DataFrame, *extra: str) -> TableSchema:
    """Return the schema of :data:`KINDS` on ``real``, plus the categorical columns ``extra``."""
    kinds = {name: "categorical" for name in extra}
    kinds.update(KINDS)
    return infer_schema(real, "death", kinds)


def kl_of(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str], schema: TableSchema):
    """Run group_kl_divergence with the group columns of ``synthetic`` as its group table."""
    return group_kl_divergence(real, synthetic[schema.names], synthetic[columns], schema, columns)


# group_kl_divergence


def test_kl_identical_table_is_zero():
    real = stack(
        make_rows(60, 1, sex="F", race="a"),
        make_rows(45, 2, sex="M", race="a"),
        make_rows(50, 3, sex="M", race="b"),
    )
    schema = schema_of(real)

    result = kl_of(real, real, ["sex", "race"], schema)

    summary = result.details["summary"]
    assert set(summary["groups"]) == {"sex=F", "sex=M", "race=a", "race=b"}
    for group, value in summary["groups"].items():
        assert value == pytest.approx(0.0, abs=1e-12), group
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert summary["too_few_rows"] == {}


@pytest.mark.parametrize("n_real", [MIN_GROUP_REAL_ROWS - 1, MIN_GROUP_REAL_ROWS])
def test_kl_real_rows_boundary(n_real):
    real = stack(make_rows(60, 1, sex="F"), make_rows(n_real, 2, sex="Z"))
    synthetic = stack(make_rows(60, 3, sex="F"), make_rows(40, 4, sex="Z"))

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    summary = result.details["summary"]
    if n_real < MIN_GROUP_REAL_ROWS:
        assert summary["too_few_rows"] == {"sex=Z": n_real}
        assert "sex=Z" not in summary["groups"]
    else:
        assert summary["too_few_rows"] == {}
        assert "sex=Z" in summary["groups"]
    assert "sex=F" in summary["groups"]


def test_kl_absent_group_unscored():
    real = stack(make_rows(60, 1, sex="F"), make_rows(40, 2, sex="Z"))
    synthetic = make_rows(60, 3, sex="F")

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    summary = result.details["summary"]
    assert result.value is None
    assert result.reason == "the synthetic table has no row of the groups ['sex=Z'], which have enough real rows"
    assert summary["absent"] == ["sex=Z"]
    assert "sex=F" in summary["groups"]


def test_kl_single_synthetic_row_scored():
    real = stack(make_rows(60, 1, sex="F"), make_rows(40, 2, sex="Z"))
    synthetic = stack(make_rows(60, 3, sex="F"), make_rows(1, 4, sex="Z"))

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    summary = result.details["summary"]
    assert "sex=Z" in summary["groups"]
    assert summary["too_few_rows"] == {}
    assert summary["absent"] == []
    assert result.value == max(summary["groups"].values())


def test_kl_small_real_group_not_absent():
    # A group with too few real rows is not scored, so a generator may leave it out.
    real = stack(make_rows(60, 1, sex="F"), make_rows(MIN_GROUP_REAL_ROWS - 1, 2, sex="Z"))
    synthetic = make_rows(60, 3, sex="F")

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    summary = result.details["summary"]
    assert summary["too_few_rows"] == {"sex=Z": MIN_GROUP_REAL_ROWS - 1}
    assert summary["absent"] == []
    assert result.value == summary["groups"]["sex=F"]


def test_kl_worst_group_is_largest():
    real = stack(make_rows(80, 1, sex="F"), make_rows(80, 2, sex="M"))
    shifted = make_rows(80, 4, sex="M")
    shifted["x"] += 3.0
    synthetic = stack(make_rows(80, 3, sex="F"), shifted)

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    groups = result.details["summary"]["groups"]
    assert result.details["summary"]["worst_group"] == "sex=M"
    assert result.value == groups["sex=M"]
    assert groups["sex=M"] > groups["sex=F"]


def test_kl_group_value_matches_kl_divergence():
    # Here sex is a schema column, and the group KL leaves it out of the scored columns.
    real = stack(make_rows(70, 1, sex="F"), make_rows(50, 2, sex="M"))
    synthetic = stack(make_rows(40, 3, sex="F"), make_rows(30, 4, sex="M"))
    schema = schema_of(real, "sex")

    result = kl_of(real, synthetic, ["sex"], schema)

    columns = ["x", "flag", "cat"]
    assert result.details["columns"] == columns
    kl_schema = schema.select(columns)
    for value in ("F", "M"):
        expected = KLDivergence().compute(
            real.loc[real["sex"] == value, kl_schema.names],
            synthetic.loc[synthetic["sex"] == value, kl_schema.names],
            kl_schema,
        )
        assert result.details["summary"]["groups"][f"sex={value}"] == pytest.approx(expected.value, abs=1e-12)


def test_kl_no_scored_group_gives_reason():
    real = stack(make_rows(20, 1, sex="F"), make_rows(25, 2, sex="M"))
    synthetic = stack(make_rows(40, 3, sex="F"), make_rows(40, 4, sex="M"))

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    assert result.value is None
    assert result.reason == "no group could be scored (too few rows: sex=F (n=20), sex=M (n=25))"
    assert result.details["summary"]["too_few_rows"] == {"sex=F": 20, "sex=M": 25}
    assert "worst_group" not in result.details["summary"]


def test_kl_invalid_synthetic_table_unscored():
    # The bad value is in one group only, and still no worst group is returned.
    real = stack(make_rows(60, 1, sex="F"), make_rows(60, 2, sex="M"))
    synthetic = stack(make_rows(60, 3, sex="F"), make_rows(60, 4, sex="M"))
    synthetic["x"] = synthetic["x"].astype(object)
    synthetic.loc[0, "x"] = "not a number"

    result = kl_of(real, synthetic, ["sex"], schema_of(real))

    assert result.value is None
    assert result.reason.startswith("invalid synthetic table: column 'x' contains 1 values that are not numbers")


def test_kl_group_table_wrong_length_raises():
    real = stack(make_rows(60, 1, sex="F"), make_rows(60, 2, sex="M"))
    schema = schema_of(real)

    with pytest.raises(ValueError, match=r"synthetic_groups: expected one row per synthetic row \(120\), got 100 rows"):
        group_kl_divergence(real, real[schema.names], real[["sex"]].iloc[:100], schema, ["sex"])


def test_kl_group_table_missing_column_raises():
    real = stack(make_rows(60, 1, sex="F", race="a"), make_rows(60, 2, sex="M", race="b"))
    schema = schema_of(real)

    with pytest.raises(ValueError, match=r"synthetic_groups: missing the group columns \['race'\]"):
        group_kl_divergence(real, real[schema.names], real[["sex"]], schema, ["sex", "race"])


# group_aurocs and group_auroc_gap


def alternating_labels(n_rows: int) -> np.ndarray:
    return np.arange(n_rows) % 2


def test_auroc_gap_perfect_versus_constant():
    labels = alternating_labels(80)
    probabilities = np.concatenate([labels[:40].astype(float), np.full(40, 0.5)])
    real = pd.DataFrame({"site": ["A"] * 40 + ["B"] * 40})

    result = group_auroc_gap(labels, probabilities, real, ["site"])

    summary = result.details["summary"]
    assert summary["groups"] == {"site=A": 1.0, "site=B": 0.5}
    assert summary["gaps"] == {"site": 0.5}
    assert summary["too_few_rows"] == {}
    assert result.value == 0.5
    assert "reference_gaps" not in summary


def test_auroc_gap_perfect_versus_random():
    rng = np.random.default_rng(7)
    labels = alternating_labels(120)
    random_part = rng.random(60)
    probabilities = np.concatenate([labels[:60].astype(float), random_part])
    real = pd.DataFrame({"site": ["A"] * 60 + ["B"] * 60})

    result = group_auroc_gap(labels, probabilities, real, ["site"])

    random_auroc = roc_auc_score(labels[60:], random_part)
    assert result.details["summary"]["groups"]["site=A"] == 1.0
    assert result.details["summary"]["groups"]["site=B"] == pytest.approx(random_auroc, abs=1e-12)
    assert result.value == pytest.approx(1.0 - random_auroc, abs=1e-12)


def test_auroc_gap_largest_column_gap():
    labels = alternating_labels(120)
    probabilities = np.concatenate([labels[:60].astype(float), np.full(60, 0.5)])
    # sex splits the rows evenly between the perfect and the constant predictions, race does not.
    real = pd.DataFrame(
        {
            "race": ["a"] * 60 + ["b"] * 60,
            "sex": (["F"] * 30 + ["M"] * 30) * 2,
        }
    )

    result = group_auroc_gap(labels, probabilities, real, ["race", "sex"])

    gaps = result.details["summary"]["gaps"]
    assert gaps["race"] == 0.5
    assert gaps["sex"] == pytest.approx(0.0, abs=1e-12)
    assert result.value == 0.5


def test_auroc_gap_reference_gaps():
    labels = alternating_labels(80)
    probabilities = np.concatenate([labels[:40].astype(float), np.full(40, 0.5)])
    real = pd.DataFrame({"site": ["A"] * 40 + ["B"] * 40})

    result = group_auroc_gap(labels, probabilities, real, ["site"], reference_probabilities=labels.astype(float))

    summary = result.details["summary"]
    assert summary["reference_groups"] == {"site=A": 1.0, "site=B": 1.0}
    assert summary["reference_gaps"] == {"site": 0.0}
    assert result.value == 0.5


@pytest.mark.parametrize(
    "n_rows, positives, scored",
    [
        (MIN_GROUP_REAL_ROWS - 1, 10, False),
        (MIN_GROUP_REAL_ROWS, 10, True),
        (MIN_GROUP_REAL_ROWS, MIN_GROUP_EVENTS - 1, False),
        (MIN_GROUP_REAL_ROWS, MIN_GROUP_EVENTS, True),
        (MIN_GROUP_REAL_ROWS, MIN_GROUP_REAL_ROWS - MIN_GROUP_EVENTS + 1, False),
        (MIN_GROUP_REAL_ROWS, MIN_GROUP_REAL_ROWS - MIN_GROUP_EVENTS, True),
    ],
)
def test_group_aurocs_minimum_rows(n_rows, positives, scored):
    other = alternating_labels(40)
    small = np.zeros(n_rows, dtype=int)
    small[:positives] = 1
    labels = np.concatenate([other, small])
    probabilities = np.linspace(0.0, 1.0, len(labels))
    real = pd.DataFrame({"site": ["A"] * 40 + ["Z"] * n_rows})

    aurocs, too_few = group_aurocs(labels, probabilities, real, ["site"])

    assert "site=A" in aurocs
    if scored:
        assert "site=Z" in aurocs
        assert too_few == {}
    else:
        assert "site=Z" not in aurocs
        assert too_few == {"site=Z": n_rows}


def test_auroc_gap_single_group_unscored():
    labels = alternating_labels(60)
    probabilities = np.linspace(0.0, 1.0, 60)
    real = pd.DataFrame({"site": ["A"] * 50 + ["Z"] * 10})

    result = group_auroc_gap(labels, probabilities, real, ["site"])

    assert result.value is None
    assert result.reason == "no group column has two groups with enough test rows: site=Z (n=10)"
    assert result.details["summary"]["too_few_rows"] == {"site=Z": 10}
    assert result.details["summary"]["gaps"] == {}


def test_auroc_gap_length_mismatch_names_argument():
    labels = alternating_labels(100)
    real = pd.DataFrame({"site": ["A"] * 50 + ["B"] * 50})

    with pytest.raises(ValueError, match="probabilities"):
        group_auroc_gap(labels, np.linspace(0.0, 1.0, 99), real, ["site"])


def test_group_name_format():
    assert group_name("race", "black") == "race=black"
