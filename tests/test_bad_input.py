"""Tests of every criterion on damaged synthetic tables: no crash, no silent pass, a reason.

Each case damages the real-holdout generator's rows on the RHC k5 or k10 feature set and runs
the whole evaluator on them. The damage is a missing or empty column, a constant column, NaN,
+/-inf, text in a number column, too few rows, one label class, a repeated column name, or no
DataFrame at all. Every criterion must then return a value within its documented range, or no
value and a reason that names the problem. The same damage in a CSV goes through
``ehrbench evaluate``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ehrbench.cli
import ehrbench.criteria
from ehrbench.cli import main
from ehrbench.criteria import Evaluator, load_thresholds
from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.generators.base import GenerationResult
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics import MetricResult
from ehrbench.metrics.cross_site import NAME as CROSS_SITE
from ehrbench.metrics.cross_site import cross_site_auroc_drop
from ehrbench.parsing import ValidityRecord

INF = math.inf

#: Bootstrap resamples of the utility intervals, kept small because no test here reads them.
N_BOOTSTRAP = 10

#: Rows of the real-holdout generation that every case damages.
N_ROWS = 100

#: A numeric column of both the k5 and the k10 feature set.
NUMERIC = "surv2md1"

#: A categorical column of the k10 feature set (k5 has none).
CATEGORICAL = "cat1"

LABEL = "death"

#: Every criterion that the evaluator scores. The runner scores the cross-site one.
CRITERIA = [name for name in load_thresholds() if name != CROSS_SITE]

#: Range [min, max] of each criterion's value, as its metric's docstring states it.
RANGES = {
    "validity_rate": (0.0, 1.0),
    "kl_divergence": (0.0, INF),
    "ks_statistic": (0.0, 1.0),
    "total_variation": (0.0, 1.0),
    "correlation_difference": (0.0, 2.0),
    "auroc_gap": (-1.0, 1.0),
    "auprc_gap": (-1.0, 1.0),
    "detectability": (0.5, 1.0),
    "plausibility_violations": (0.0, 1.0),
    "group_kl_worst": (0.0, INF),
    "group_auroc_gap": (0.0, 1.0),
    "dcr_ratio": (0.0, INF),
    "nndr_ratio": (0.0, INF),
    "exact_copy_excess": (-1.0, 1.0),
    "near_copy_rate": (0.0, 1.0),
    "mia_distance_auroc": (0.0, 1.0),
    "mia_density_auroc": (0.0, 1.0),
    "duplicate_row_excess": (-1.0, 1.0),
    "category_coverage": (0.0, 1.0),
    "range_coverage": (0.0, 1.0),
}

#: Criteria that train a model on the synthetic rows, so need both label classes.
UTILITY = frozenset({"auroc_gap", "auprc_gap", "group_auroc_gap"})

#: Criteria with a minimum row count (20 for models, 10 for privacy and correlation pairs), and
#: the worst-group KL, which has no value while a group with enough real rows has no synthetic
#: row. The validity record of the real-holdout rows counts 100 valid rows, which a shorter table
#: contradicts, so validity_rate has no value either.
ROW_MINIMUM = UTILITY | {
    "detectability",
    "correlation_difference",
    "group_kl_worst",
    "dcr_ratio",
    "nndr_ratio",
    "exact_copy_excess",
    "near_copy_rate",
    "mia_distance_auroc",
    "mia_density_auroc",
    "validity_rate",
}


def drop_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[NUMERIC])


def empty_column(name: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def damage(frame: pd.DataFrame) -> pd.DataFrame:
        frame[name] = np.nan
        return frame

    return damage


def single_category(frame: pd.DataFrame) -> pd.DataFrame:
    frame[CATEGORICAL] = frame[CATEGORICAL].dropna().iloc[0]
    return frame


def constant_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    frame[NUMERIC] = 0.5
    return frame


def scattered_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank a seeded 30% of the cells of every column."""
    rng = np.random.default_rng(0)
    for name in frame.columns:
        frame.loc[rng.random(len(frame)) < 0.3, name] = np.nan
    return frame


def infinities(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame.index[::3], NUMERIC] = INF
    frame.loc[frame.index[1::3], NUMERIC] = -INF
    return frame


def text_in_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({NUMERIC: object})
    frame.loc[frame.index[:3], NUMERIC] = "high"
    return frame


def first_rows(count: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def damage(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[:count]

    return damage


def single_label(frame: pd.DataFrame) -> pd.DataFrame:
    frame[LABEL] = 1.0
    return frame


def repeated_column(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame[[NUMERIC]]], axis=1)


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")


def as_array(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy()


@dataclass(frozen=True)
class BadTable:
    """One kind of damage: how to apply it, what a reason must name, and what cannot be scored.

    ``evidence``: a reason of an unscored result contains one of these (case-insensitive).
    ``unscored``: criteria that must have no value.
    ``noted``: criteria that leave the damaged values out, so must name them in the reason
    even when they have a value.
    """

    name: str
    damage: Callable[[pd.DataFrame], Any]
    evidence: tuple[str, ...]
    unscored: frozenset[str] = frozenset()
    subsets: tuple[str, ...] = ("k5", "k10")
    noted: frozenset[str] = frozenset()


ALL = frozenset(CRITERIA)

BAD_TABLES = [
    BadTable("missing column", drop_numeric, (NUMERIC,), ALL),
    BadTable(
        "all-missing numeric", empty_column(NUMERIC), (NUMERIC,), frozenset({"ks_statistic"}),
        noted=frozenset({"correlation_difference"}),
    ),
    BadTable("all-missing categorical", empty_column(CATEGORICAL), (CATEGORICAL,), subsets=("k10",)),
    BadTable("all-missing label", empty_column(LABEL), (LABEL, "0 labelled rows"), UTILITY),
    BadTable("single category", single_category, (CATEGORICAL,), subsets=("k10",)),
    BadTable("constant numeric", constant_numeric, (NUMERIC, "constant"), noted=frozenset({"correlation_difference"})),
    BadTable("scattered NaN", scattered_nan, ("missing", "finite", "rows with both values", "fewer than")),
    BadTable("+inf and -inf", infinities, (NUMERIC, "inf"), noted=frozenset({"ks_statistic", "range_coverage"})),
    BadTable("text in numeric", text_in_numeric, (f"{NUMERIC!r} contains 3 values that are not numbers",), ALL),
    BadTable("0 rows", first_rows(0), ("0 rows",), ALL),
    BadTable("1 row", first_rows(1), ("1 rows", "fewer than", "no finite values", "no row of the groups"), ROW_MINIMUM),
    BadTable("5 rows", first_rows(5), ("5 rows", "fewer than", "no row of the groups"), ROW_MINIMUM),
    BadTable("single label class", single_label, ("single class",), UTILITY),
    BadTable("repeated column name", repeated_column, (f"duplicate columns ['{NUMERIC}']",), ALL),
    BadTable("list of records", as_records, ("is a list, expected a pandas DataFrame",), ALL),
    BadTable("numpy array", as_array, ("is a ndarray, expected a pandas DataFrame",), ALL),
]

CASES = [
    pytest.param(subset, bad, id=f"{subset}-{bad.name}")
    for bad in BAD_TABLES
    for subset in bad.subsets
]


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def holdouts(rhc: PreparedDataset) -> dict[str, GenerationResult]:
    """The real-holdout generator's rows on the k5 and k10 feature sets, by subset label."""
    generations = {}
    for subset in build_subsets(rhc, (5, 10)):
        schema = rhc.schema.select(list(subset.features))
        generations[subset.label] = generate_reference("real-holdout", rhc, schema, N_ROWS, 0)
    return generations


@pytest.fixture(scope="module")
def evaluator(rhc: PreparedDataset) -> Evaluator:
    # evaluate() changes nothing but the TRTR cache, which depends only on the feature set.
    return Evaluator(rhc, n_bootstrap=N_BOOTSTRAP)


def damaged(generation: GenerationResult, bad: BadTable) -> GenerationResult:
    """Return ``generation`` with ``bad`` applied to its rows, and its groups cut to the kept rows."""
    synthetic = bad.damage(generation.synthetic.copy())
    groups = generation.groups
    if isinstance(synthetic, pd.DataFrame) and groups is not None:
        groups = groups.loc[synthetic.index]
    return replace(generation, synthetic=synthetic, groups=groups)


def check_result(criterion: str, result: MetricResult, bad: BadTable) -> None:
    """Assert that ``result`` has a value in the criterion's range, or a reason naming the damage."""
    message = f"{criterion}: value {result.value!r}, reason {result.reason!r}"
    names_damage = any(word.lower() in result.reason.lower() for word in bad.evidence)
    if result.value is None:
        assert result.reason.strip(), message
        if result.applicable:
            assert names_damage, message
        return

    if criterion in bad.noted:
        assert names_damage, message

    low, high = RANGES[criterion]
    assert not math.isnan(result.value), message
    assert math.isfinite(result.value) or high == INF, message
    assert low <= result.value <= high, message


def test_ranges_cover_every_criterion():
    assert sorted(RANGES) == sorted(CRITERIA)


@pytest.mark.parametrize(("subset", "bad"), CASES)
def test_evaluate_bad_table(evaluator: Evaluator, holdouts, subset: str, bad: BadTable):
    generation = damaged(holdouts[subset], bad)

    results = evaluator.evaluate(generation)

    for criterion in CRITERIA:
        assert criterion in results, criterion
        assert isinstance(results[criterion], MetricResult), criterion
        assert results[criterion].name == criterion
        check_result(criterion, results[criterion], bad)
    for criterion in sorted(bad.unscored):
        assert results[criterion].value is None, f"{criterion} scored {results[criterion].value}"


def test_evaluate_misaligned_groups_raises(evaluator: Evaluator, holdouts):
    generation = holdouts["k5"]
    shorter = replace(generation, groups=generation.groups.iloc[:40])

    expected = rf"generation.groups: expected one row per synthetic row \({N_ROWS}\), got 40 rows"
    with pytest.raises(ValueError, match=expected):
        evaluator.evaluate(shorter)


def test_evaluate_scores_validity_of_few_rows(evaluator: Evaluator, holdouts):
    generation = holdouts["k5"]
    validity = ValidityRecord(requested=N_ROWS, answers=1, failed_answers=0, parsed=N_ROWS, valid=5)
    few_rows = replace(generation, synthetic=generation.synthetic.iloc[:5], groups=generation.groups.iloc[:5],
                       validity=validity)

    result = evaluator.evaluate(few_rows)["validity_rate"]

    assert result.value == pytest.approx(5 / N_ROWS)


@pytest.mark.parametrize(
    "bad", [bad for bad in BAD_TABLES if "k5" in bad.subsets], ids=lambda bad: bad.name
)
def test_cross_site_bad_table(rhc: PreparedDataset, holdouts, bad: BadTable):
    generation = damaged(holdouts["k5"], bad)
    schema = generation.schema
    half = len(rhc.test) // 2
    targets = {"first half": rhc.test.iloc[:half], "second half": rhc.test.iloc[half:]}

    result = cross_site_auroc_drop(
        generation.synthetic, rhc.train.iloc[:600], targets, schema, 0, ("half", "training rows")
    )

    assert isinstance(result, MetricResult)
    if result.value is None:
        assert any(word.lower() in result.reason.lower() for word in bad.evidence), result.reason
    else:
        assert -1.0 <= result.value <= 1.0
    if bad.unscored & UTILITY:
        assert result.value is None


# The same damage in a CSV file, scored by `ehrbench evaluate`


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def csv_text(frame: pd.DataFrame, path: Path, replacements: dict[str, str]) -> Path:
    text = frame.to_csv(index=False)
    for old, new in replacements.items():
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def text_cells(frame: pd.DataFrame, rows: slice, column: str, text: str) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[frame.index[rows], column] = text
    return frame


#: CSV damage by name: each writes the damaged k10 rows to the given path.
CSV_TABLES: dict[str, Callable[[pd.DataFrame, Path], Path]] = {
    "missing column": lambda frame, path: write_csv(drop_numeric(frame), path),
    "all-missing numeric": lambda frame, path: write_csv(empty_column(NUMERIC)(frame), path),
    "all-missing label": lambda frame, path: write_csv(empty_column(LABEL)(frame), path),
    "single category": lambda frame, path: write_csv(single_category(frame), path),
    "constant numeric": lambda frame, path: write_csv(constant_numeric(frame), path),
    "scattered NaN": lambda frame, path: write_csv(scattered_nan(frame), path),
    "NaN as text": lambda frame, path: write_csv(text_cells(frame, slice(0, 30), NUMERIC, "NaN"), path),
    "+inf and -inf": lambda frame, path: write_csv(infinities(frame), path),
    "text in numeric": lambda frame, path: write_csv(text_in_numeric(frame), path),
    "1 row": lambda frame, path: write_csv(frame.iloc[:1], path),
    "5 rows": lambda frame, path: write_csv(frame.iloc[:5], path),
    "single label class": lambda frame, path: write_csv(single_label(frame), path),
    "repeated column name": lambda frame, path: csv_text(
        repeated_column(frame), path, {f"{NUMERIC}.1": NUMERIC}
    ),
}


@pytest.fixture
def fast_cli(monkeypatch, rhc: PreparedDataset) -> None:
    """Reuse the prepared dataset and score with few bootstrap resamples, to keep the CLI fast."""
    monkeypatch.setattr(ehrbench.cli, "prepare", lambda dataset: rhc)
    monkeypatch.setattr(ehrbench.criteria, "Evaluator", functools.partial(Evaluator, n_bootstrap=N_BOOTSTRAP))


@pytest.fixture(scope="module")
def k10_rows(rhc: PreparedDataset, holdouts) -> pd.DataFrame:
    """The first real reference rows on the k10 columns, from which every CSV case is written."""
    return rhc.reference.iloc[:N_ROWS][holdouts["k10"].schema.names]


@pytest.mark.parametrize("name", list(CSV_TABLES))
def test_evaluate_command_bad_csv(fast_cli, k10_rows: pd.DataFrame, tmp_path: Path, capsys, name: str):
    path = CSV_TABLES[name](k10_rows.copy(), tmp_path / "synthetic.csv")

    code = main(["evaluate", "--dataset", "rhc", "--synthetic", str(path)])

    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    assert "Traceback" not in captured.err
    for criterion in load_thresholds():
        assert f"| {criterion} |" in captured.out, criterion


def test_evaluate_command_counts_text_rows(fast_cli, k10_rows: pd.DataFrame, tmp_path: Path, capsys):
    path = CSV_TABLES["text in numeric"](k10_rows.copy(), tmp_path / "synthetic.csv")

    main(["evaluate", "--dataset", "rhc", "--synthetic", str(path)])

    output = capsys.readouterr().out
    assert "3 wrong type" in output
    assert "| validity_rate | 1.0000 |" not in output


def write_bytes(content: bytes, path: Path) -> Path:
    path.write_bytes(content)
    return path


#: Files that `ehrbench evaluate` rejects whole, and the message that names why.
UNUSABLE_FILES: dict[str, tuple[Callable[[pd.DataFrame, Path], Path], str]] = {
    "0 rows": (lambda frame, path: write_csv(frame.iloc[:0], path), "has no rows"),
    "no label": (lambda frame, path: write_csv(frame.drop(columns=[LABEL]), path), f"has no column '{LABEL}'"),
    "binary file": (lambda frame, path: write_bytes(bytes(range(256)) * 4, path), "could not be read as CSV"),
    # pandas reads the one line of JSON as a header row without data rows.
    "JSON": (lambda frame, path: write_bytes(frame.iloc[:2].to_json(orient="records").encode(), path), "has no rows"),
}


@pytest.mark.parametrize("name", list(UNUSABLE_FILES))
def test_evaluate_command_unusable_file(fast_cli, k10_rows: pd.DataFrame, tmp_path: Path, capsys, name: str):
    write, message = UNUSABLE_FILES[name]
    path = write(k10_rows.copy(), tmp_path / "synthetic.csv")

    code = main(["evaluate", "--dataset", "rhc", "--synthetic", str(path)])

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert "Traceback" not in captured.err
