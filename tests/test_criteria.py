"""Tests of the criteria: the thresholds file, pass/fail verdicts and the case evaluator."""

from __future__ import annotations

import math

import pytest

import ehrbench.criteria.evaluation as evaluation
from ehrbench.criteria import Evaluator, Threshold, Verdict, load_thresholds
from ehrbench.criteria.thresholds import GOALS
from ehrbench.datasets import get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics import MetricResult
from ehrbench.metrics.cross_site import NAME as CROSS_SITE

VALID_TABLE = 'goal = "minimize"\nthreshold = 0.1\nreason = "Marginals visibly unlike the real ones."\n'


def write_thresholds(tmp_path, text: str):
    path = tmp_path / "thresholds.toml"
    path.write_text(text, encoding="utf-8")
    return path


# The thresholds file


def test_packaged_thresholds_load():
    thresholds = load_thresholds()

    assert "validity_rate" in thresholds
    assert "auroc_gap" in thresholds
    for name, threshold in thresholds.items():
        assert threshold.criterion == name
        assert threshold.goal in GOALS, name
        assert math.isfinite(threshold.threshold), name
        assert threshold.reason.strip(), name


def test_thresholds_file_loads_in_order(tmp_path):
    path = write_thresholds(tmp_path, f"[ks_statistic]\n{VALID_TABLE}\n[kl_divergence]\n{VALID_TABLE}")

    thresholds = load_thresholds(path)

    assert list(thresholds) == ["ks_statistic", "kl_divergence"]
    assert thresholds["kl_divergence"] == Threshold(
        "kl_divergence", "minimize", 0.1, "Marginals visibly unlike the real ones."
    )


@pytest.mark.parametrize("key", ["goal", "threshold", "reason"])
def test_thresholds_missing_key_names_criterion(tmp_path, key):
    lines = [line for line in VALID_TABLE.splitlines() if not line.startswith(key)]
    path = write_thresholds(tmp_path, "[kl_divergence]\n" + "\n".join(lines) + "\n")

    with pytest.raises(ValueError, match=f"criterion 'kl_divergence' lacks \\['{key}'\\]"):
        load_thresholds(path)


def test_thresholds_bad_goal_names_criterion(tmp_path):
    path = write_thresholds(tmp_path, '[kl_divergence]\ngoal = "smaller"\nthreshold = 0.1\nreason = "r"\n')

    with pytest.raises(ValueError, match="criterion 'kl_divergence' has goal 'smaller'"):
        load_thresholds(path)


def test_thresholds_non_numeric_threshold_names_criterion(tmp_path):
    path = write_thresholds(tmp_path, '[kl_divergence]\ngoal = "minimize"\nthreshold = "high"\nreason = "r"\n')

    with pytest.raises(ValueError, match="kl_divergence"):
        load_thresholds(path)


def test_thresholds_entry_not_table_names_criterion(tmp_path):
    path = write_thresholds(tmp_path, "kl_divergence = 0.1\n")

    with pytest.raises(ValueError, match="kl_divergence"):
        load_thresholds(path)


# Threshold and Verdict


def test_maximize_passes_at_boundary():
    threshold = Threshold("validity_rate", "maximize", 0.9, "r")

    assert threshold.passes(0.9)
    assert threshold.passes(math.nextafter(0.9, 1.0))
    assert not threshold.passes(math.nextafter(0.9, 0.0))


def test_minimize_passes_at_boundary():
    threshold = Threshold("kl_divergence", "minimize", 0.1, "r")

    assert threshold.passes(0.1)
    assert threshold.passes(math.nextafter(0.1, 0.0))
    assert not threshold.passes(math.nextafter(0.1, 1.0))


@pytest.mark.parametrize("goal", GOALS)
def test_nan_value_never_passes(goal):
    assert not Threshold("kl_divergence", goal, 0.1, "r").passes(math.nan)


def test_verdict_unscored_fails_with_reason():
    threshold = Threshold("ks_statistic", "minimize", 0.2, "r")
    result = MetricResult("ks_statistic", None, reason="no numeric columns in the feature set")

    verdict = Verdict(threshold, result)

    assert not verdict.passed
    assert verdict.message == "ks_statistic could not be scored: no numeric columns in the feature set"


def test_verdict_message_of_scored_values():
    threshold = Threshold("kl_divergence", "minimize", 0.1, "r")

    passing = Verdict(threshold, MetricResult("kl_divergence", 0.05))
    failing = Verdict(threshold, MetricResult("kl_divergence", 0.25))

    assert passing.passed
    assert passing.message == "kl_divergence = 0.0500 meets kl_divergence <= 0.1"
    assert not failing.passed
    assert failing.message == "kl_divergence = 0.2500 fails kl_divergence <= 0.1"


# The evaluator on real RHC rows


@pytest.fixture(scope="module")
def rhc():
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def holdout_k5(rhc):
    """The real-holdout generator's 100 rows on the 5 top-ranked RHC features."""
    subset = build_subsets(rhc, (5,))[0]
    schema = rhc.schema.select(list(subset.features))
    return generate_reference("real-holdout", rhc, schema, 100, 0)


@pytest.fixture
def trtr_fits(monkeypatch, rhc) -> list[tuple[str, ...]]:
    """Record the feature columns of every utility fit on the whole training part (a TRTR fit)."""
    fits = []
    fit_and_score = evaluation.fit_and_score

    def counting_fit_and_score(train, test, schema, *args, **kwargs):
        if len(train) == len(rhc.train):
            fits.append(tuple(schema.feature_names))
        return fit_and_score(train, test, schema, *args, **kwargs)

    monkeypatch.setattr(evaluation, "fit_and_score", counting_fit_and_score)
    return fits


def test_evaluator_scores_every_criterion(rhc, holdout_k5):
    results = Evaluator(rhc, n_bootstrap=20).evaluate(holdout_k5)

    for criterion in load_thresholds():
        if criterion == CROSS_SITE:  # needs rows generated from one site: the runner scores it
            continue
        assert criterion in results, criterion
        assert results[criterion].name == criterion
        assert results[criterion].value is not None, results[criterion].reason


def test_evaluator_holdout_rows_are_all_valid(rhc, holdout_k5):
    results = Evaluator(rhc, n_bootstrap=20).evaluate(holdout_k5)

    assert results["validity_rate"].value == 1.0


def test_evaluator_gap_is_trtr_minus_tstr(rhc, holdout_k5):
    results = Evaluator(rhc, n_bootstrap=20).evaluate(holdout_k5)

    for metric in ("auroc", "auprc"):
        gap = results[f"{metric}_gap"].value
        assert gap == pytest.approx(results[f"trtr_{metric}"].value - results[f"tstr_{metric}"].value)


def test_evaluator_fits_trtr_once_per_column_set(rhc, holdout_k5, trtr_fits):
    evaluator = Evaluator(rhc, n_bootstrap=20)
    fewer_columns = rhc.schema.select(list(holdout_k5.schema.feature_names[:3]))
    holdout_k3 = generate_reference("real-holdout", rhc, fewer_columns, 100, 0)

    evaluator.evaluate(holdout_k5)
    evaluator.evaluate(holdout_k5)
    evaluator.evaluate(holdout_k3)
    evaluator.evaluate(holdout_k3)

    assert trtr_fits == [
        tuple(holdout_k5.schema.feature_names),
        tuple(holdout_k3.schema.feature_names),
    ]


def test_evaluator_trtr_returns_cached_result(rhc, holdout_k5):
    evaluator = Evaluator(rhc, n_bootstrap=20)
    columns = tuple(holdout_k5.schema.feature_names)

    assert evaluator.trtr(columns) is evaluator.trtr(columns)


def test_holdout_repeats_only_beyond_pool(rhc):
    schema = rhc.schema.select(rhc.schema.feature_names[:5])
    rows = len(rhc.reference) + 3

    synthetic = generate_reference("real-holdout", rhc, schema, rows, 0).synthetic

    assert len(synthetic) == rows
    assert synthetic.duplicated().sum() <= 3 + rhc.reference[schema.names].duplicated().sum()
