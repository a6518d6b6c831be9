"""Tests of how the evaluator wires the privacy, diversity and fairness criteria, on real RHC rows.

Generation results are built by hand from RHC parts, so the rows that were written, copied and
shown are known. Each wired value is compared with a direct call of the metric function on the
rows the evaluator must pass to it.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from ehrbench.criteria import Evaluator
from ehrbench.criteria.evaluation import MIN_SCORED_ROWS, UTILITY_SEED
from ehrbench.datasets import get_dataset, prepare
from ehrbench.datasets.base import PreparedDataset
from ehrbench.datasets.rhc import RHC
from ehrbench.generators.base import GenerationResult
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics.cross_site import NAME as CROSS_SITE
from ehrbench.metrics.diversity import DuplicateRowShare
from ehrbench.metrics.fairness import group_auroc_gap, group_kl_divergence
from ehrbench.metrics.privacy import MAX_SAMPLED_ROWS, closest_record_metrics, membership_inference
from ehrbench.metrics.utility import UtilityResult, fit_and_score
from ehrbench.parsing import ValidityRecord
from ehrbench.schema import TableSchema, coerce_frame

GROUP_COLUMNS = ["race", "sex"]

PRIVACY_CRITERIA = (
    "dcr_ratio",
    "nndr_ratio",
    "exact_copy_rate",
    "near_copy_rate",
    "exact_copy_excess",
    "mia_distance_auroc",
    "mia_density_auroc",
)


class RHCWithoutGroups(RHC):
    """RHC with no declared demographic group columns."""

    group_columns = ()


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


@pytest.fixture(scope="module")
def schema(rhc) -> TableSchema:
    """Return ten numeric RHC features and the label.

    The schema has no group column, and no reference or test row equals a training row on it.
    """
    return rhc.schema.select(rhc.schema.feature_names[:10])


@pytest.fixture(scope="module")
def evaluator(rhc) -> Evaluator:
    return Evaluator(rhc, n_bootstrap=0)


def hand_generation(schema: TableSchema, synthetic: pd.DataFrame, **optional) -> GenerationResult:
    """Return a generation result of ``synthetic`` (coerced to ``schema``) with ``optional`` tables."""
    rows = coerce_frame(synthetic, schema).reset_index(drop=True)
    validity = ValidityRecord(requested=len(rows), answers=1, failed_answers=0, parsed=len(rows), valid=len(rows))
    return GenerationResult("hand", "naive", schema, rows, validity, **optional)


@pytest.fixture(scope="module")
def with_copies(rhc, schema) -> GenerationResult:
    """40 unseen reference rows, 10 rejected copies of training rows, 60 training rows shown."""
    return hand_generation(
        schema,
        rhc.reference.iloc[:40],
        copies=coerce_frame(rhc.train.iloc[:10], schema).reset_index(drop=True),
        seen_rows=rhc.train.iloc[100:160][schema.names],
    )


@pytest.fixture(scope="module")
def with_copies_privacy(evaluator, with_copies):
    return evaluator.privacy(with_copies)


@pytest.fixture(scope="module")
def plain_privacy(evaluator, with_copies):
    return evaluator.privacy(replace(with_copies, copies=None, seen_rows=None))


# Privacy


def test_privacy_scores_synthetic_plus_copies(rhc, schema, with_copies, with_copies_privacy):
    expected = closest_record_metrics(rhc.train, rhc.reference, with_copies.emitted(), schema, UTILITY_SEED)

    assert with_copies_privacy["exact_copy_rate"].details["n_synthetic"] == 50
    assert with_copies_privacy["exact_copy_rate"].value == pytest.approx(10 / 50)
    for name in ("dcr_ratio", "nndr_ratio", "exact_copy_rate", "near_copy_rate"):
        assert with_copies_privacy[name].value == getattr(expected, name).value, name


def test_privacy_without_copies_scores_synthetic(plain_privacy):
    assert plain_privacy["exact_copy_rate"].details["n_synthetic"] == 40
    assert plain_privacy["exact_copy_rate"].value == 0.0


def test_privacy_empty_copies_same_as_none(evaluator, with_copies, plain_privacy):
    empty = with_copies.copies.iloc[:0]

    results = evaluator.privacy(replace(with_copies, copies=empty, seen_rows=None))

    for name in PRIVACY_CRITERIA:
        assert results[name].value == plain_privacy[name].value, name


def test_exact_copy_excess_is_rate_minus_reference(with_copies_privacy):
    rate = with_copies_privacy["exact_copy_rate"]
    excess = with_copies_privacy["exact_copy_excess"]

    reference_rate = rate.details["reference_rate"]
    assert excess.value == rate.value - reference_rate
    assert excess.details["summary"] == {"rate": rate.value, "reference_rate": reference_rate}


def test_exact_copy_excess_unscored_with_rate(evaluator, rhc, schema):
    generation = hand_generation(schema, rhc.reference.iloc[:5])

    results = evaluator.privacy(generation)

    assert results["exact_copy_excess"].value is None
    assert results["exact_copy_excess"].reason == results["exact_copy_rate"].reason
    assert "fewer than 10" in results["exact_copy_excess"].reason


def test_members_are_seen_rows(rhc, schema, with_copies, with_copies_privacy):
    expected = membership_inference(
        with_copies.seen_rows, rhc.test, with_copies.emitted(), schema, UTILITY_SEED, reference=rhc.reference
    )

    for name, attack in (("mia_distance_auroc", expected.distance_attack), ("mia_density_auroc", expected.density_attack)):
        result = with_copies_privacy[name]
        assert result.details["n_members"] == 60, name
        assert result.details["summary"]["members"] == 60, name
        assert result.value == attack.value, name


def test_members_default_to_training_part(rhc, schema, with_copies, plain_privacy):
    expected = membership_inference(
        rhc.train, rhc.test, with_copies.synthetic, schema, UTILITY_SEED, reference=rhc.reference
    )

    n_members = min(len(rhc.train), len(rhc.test), MAX_SAMPLED_ROWS)
    assert plain_privacy["mia_distance_auroc"].details["n_members"] == n_members
    assert plain_privacy["mia_distance_auroc"].value == expected.distance_attack.value
    assert plain_privacy["mia_density_auroc"].value == expected.density_attack.value


# Diversity


def test_duplicate_row_excess_known_share(evaluator, rhc, schema):
    # 10 distinct test rows, each written twice: 10 of the 20 rows repeat an earlier row.
    rows = rhc.test.iloc[:10]
    generation = hand_generation(schema, pd.concat([rows, rows], ignore_index=True))

    result = evaluator.diversity(generation)["duplicate_row_excess"]

    real = rhc.test[schema.names]
    sample = real.sample(n=20, random_state=UTILITY_SEED)
    real_share = DuplicateRowShare().compute(real, sample, schema).value
    assert result.details["summary"] == {"share": 0.5, "real_share_same_size": real_share}
    assert result.value == 0.5 - real_share


def test_duplicate_row_excess_invalid_synthetic(evaluator, rhc, schema, with_copies):
    generation = replace(with_copies, synthetic=with_copies.synthetic.drop(columns=[schema.feature_names[0]]))

    result = evaluator.diversity(generation)["duplicate_row_excess"]

    assert result.value is None
    assert "missing the columns" in result.reason


# Fairness


@pytest.fixture(scope="module")
def holdout(rhc, schema) -> GenerationResult:
    """The real-holdout generator's 100 rows with the race and sex of each row."""
    return generate_reference("real-holdout", rhc, schema, 100, 0)


def utility_fits(evaluator: Evaluator, rhc: PreparedDataset, generation: GenerationResult) -> tuple[UtilityResult, UtilityResult]:
    schema = generation.schema
    tstr = fit_and_score(generation.synthetic, rhc.test[schema.names], schema, UTILITY_SEED, n_bootstrap=0)
    return tstr, evaluator.trtr(tuple(schema.feature_names))


def test_group_kl_not_applicable_without_groups(evaluator, rhc, holdout):
    generation = replace(holdout, groups=None)

    results = evaluator.fairness(generation, *utility_fits(evaluator, rhc, generation))

    kl = results["group_kl_worst"]
    assert not kl.applicable
    assert kl.value is None
    assert "race and sex" in kl.reason
    assert results["group_auroc_gap"].applicable
    assert results["group_auroc_gap"].scored


def test_group_kl_uses_group_table(evaluator, rhc, holdout):
    results = evaluator.fairness(holdout, *utility_fits(evaluator, rhc, holdout))

    expected = group_kl_divergence(rhc.test, holdout.synthetic, holdout.groups, holdout.schema, GROUP_COLUMNS)
    assert results["group_kl_worst"].applicable
    assert results["group_kl_worst"].value == expected.value
    assert results["group_kl_worst"].details["summary"] == expected.details["summary"]


def test_group_kl_reads_groups_from_schema_columns(evaluator, rhc):
    schema = rhc.schema.select(rhc.schema.feature_names[:5] + GROUP_COLUMNS)
    generation = hand_generation(schema, rhc.reference.iloc[:200])

    results = evaluator.fairness(generation, *utility_fits(evaluator, rhc, generation))

    expected = group_kl_divergence(rhc.test, generation.synthetic, generation.synthetic[GROUP_COLUMNS], schema, GROUP_COLUMNS)
    assert results["group_kl_worst"].applicable
    assert results["group_kl_worst"].value == expected.value


def test_group_kl_one_group_unknown(evaluator, rhc):
    schema = rhc.schema.select(rhc.schema.feature_names[:5] + ["sex"])
    generation = hand_generation(schema, rhc.reference.iloc[:200])

    results = evaluator.fairness(generation, *utility_fits(evaluator, rhc, generation))

    assert not results["group_kl_worst"].applicable


def test_group_kl_group_table_completes_schema(evaluator, rhc):
    schema = rhc.schema.select(rhc.schema.feature_names[:5] + ["sex"])
    rows = rhc.reference.iloc[:200]
    generation = hand_generation(schema, rows, groups=rows[["race"]].reset_index(drop=True))

    results = evaluator.fairness(generation, *utility_fits(evaluator, rhc, generation))

    groups = pd.DataFrame({"race": rows["race"].to_numpy(), "sex": generation.synthetic["sex"].to_numpy()})
    expected = group_kl_divergence(rhc.test, generation.synthetic, groups, schema, GROUP_COLUMNS)
    assert results["group_kl_worst"].applicable
    assert results["group_kl_worst"].value == expected.value


def test_group_table_wrong_length_raises(evaluator, rhc, holdout):
    generation = replace(holdout, groups=holdout.groups.iloc[:90])
    tstr, trtr = utility_fits(evaluator, rhc, generation)

    with pytest.raises(ValueError, match=r"generation.groups: expected one row per synthetic row \(100\), got 90"):
        evaluator.fairness(generation, tstr, trtr)


def test_group_auroc_gap_uses_tstr_and_trtr(evaluator, rhc, holdout):
    tstr, trtr = utility_fits(evaluator, rhc, holdout)

    result = evaluator.fairness(holdout, tstr, trtr)["group_auroc_gap"]

    labels = rhc.test[holdout.schema.label].to_numpy(dtype=int)
    expected = group_auroc_gap(labels, tstr.probabilities, rhc.test, GROUP_COLUMNS, trtr.probabilities)
    assert result.value == expected.value
    assert result.details["summary"]["reference_gaps"] == expected.details["summary"]["reference_gaps"]


def test_group_auroc_gap_unscored_tstr(evaluator, rhc, holdout):
    generation = replace(holdout, synthetic=holdout.synthetic.iloc[:5], groups=holdout.groups.iloc[:5])
    tstr, trtr = utility_fits(evaluator, rhc, generation)

    result = evaluator.fairness(generation, tstr, trtr)["group_auroc_gap"]

    assert result.value is None
    assert result.applicable
    assert result.reason == f"TSTR could not be scored: {tstr.auroc.reason}"


def test_fairness_without_group_columns(rhc, holdout):
    evaluator = Evaluator(replace(rhc, dataset=RHCWithoutGroups()), n_bootstrap=0)

    results = evaluator.fairness(holdout, *utility_fits(evaluator, rhc, holdout))

    for name in ("group_kl_worst", "group_auroc_gap"):
        assert not results[name].applicable, name
        assert results[name].reason == "dataset 'rhc' declares no demographic group columns", name


# evaluate: every criterion from one call


def test_evaluate_includes_new_criteria(evaluator, rhc, holdout):
    results = evaluator.evaluate(holdout)

    tstr, trtr = utility_fits(evaluator, rhc, holdout)
    direct = {
        **evaluator.privacy(holdout),
        **evaluator.diversity(holdout),
        **evaluator.fairness(holdout, tstr, trtr),
    }
    for name, result in direct.items():
        assert results[name].value == result.value, name
    assert CROSS_SITE not in results


@pytest.mark.parametrize("n_rows", [MIN_SCORED_ROWS - 1, MIN_SCORED_ROWS])
def test_row_minimum_unscores_all_but_validity(evaluator, rhc, schema, n_rows):
    synthetic = coerce_frame(rhc.reference.iloc[:n_rows][schema.names].reset_index(drop=True), schema)

    results = evaluator.evaluate(hand_generation(schema, synthetic))

    assert results["validity_rate"].value == 1.0
    scored = {name for name, result in results.items() if result.value is not None and name != "validity_rate"}
    if n_rows < MIN_SCORED_ROWS:
        assert scored == set()
        assert f"has {n_rows} rows, fewer than the {MIN_SCORED_ROWS}" in results["kl_divergence"].reason
    else:
        assert {"kl_divergence", "total_variation", "dcr_ratio"} <= scored
