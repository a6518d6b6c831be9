"""Tests of the plausibility rules and of the PlausibilityViolations metric."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ehrbench.datasets import EICU_DIR_VARIABLE, get_dataset, prepare, resolve_eicu_dir
from ehrbench.datasets.base import PreparedDataset
from ehrbench.datasets.rules import (
    EICU_RULES,
    RHC_RULES,
    CategoryRule,
    Condition,
    DistinctRule,
    ImplicationRule,
    OrderRule,
    RangeRule,
    category_rules,
    rules_for_dataset,
)
from ehrbench.metrics.plausibility import PlausibilityViolations, evaluate_rules
from ehrbench.schema import ColumnKind, TableSchema, coerce_frame, infer_schema

NAN = float("nan")
INF = float("inf")

KINDS: dict[str, ColumnKind] = {
    "hr": "numeric",
    "gcs": "numeric",
    "start": "numeric",
    "end": "numeric",
    "vent": "binary",
    "oob": "binary",
    "first": "categorical",
    "second": "categorical",
    "label": "binary",
}

HR = RangeRule("range.hr", "hr", 0.0, 300.0, "beats/min", "test")
GCS = RangeRule("range.gcs", "gcs", 1.0, 4.0, "points", "test", integer=True)
VENT = ImplicationRule("implies.vent.oob", Condition("vent", (1.0,)), Condition("oob", (1.0,)), "test")
DISTINCT = DistinctRule("distinct.first.second", "first", "second", "test")
ORDER = OrderRule("order.start.end", "start", "end", "minutes", "test")
RULES = (HR, GCS, VENT, DISTINCT, ORDER)


def make_frame(rows: list[tuple]) -> pd.DataFrame:
    """Return rows of (hr, gcs, start, end, vent, oob, first, second, label)."""
    frame = pd.DataFrame(rows, columns=list(KINDS))
    for name in ("first", "second"):
        frame[name] = frame[name].astype(object)
    return frame


VALID_ROWS = [
    (80.0, 4.0, 0.0, 10.0, 1.0, 1.0, "a", "b", 0.0),
    (120.0, 1.0, 5.0, 5.0, 0.0, 0.0, "b", NAN, 1.0),
    (60.0, 3.0, 1.0, 2.0, 0.0, 1.0, "c", "a", 0.0),
]


@pytest.fixture(scope="module")
def schema() -> TableSchema:
    return infer_schema(make_frame(VALID_ROWS), "label", KINDS)


def outcome(report, rule_id: str):
    return next(item for item in report.outcomes if item.rule_id == rule_id)


# Rule evaluation, one kind at a time, on tables built by hand.


def test_valid_rows_break_nothing() -> None:
    report = evaluate_rules(make_frame(VALID_ROWS), RULES)
    assert report.broken_rows == 0
    assert report.share == 0.0
    assert [item.rule_id for item in report.outcomes] == [rule.rule_id for rule in RULES]


def test_range_catches_heart_rate_900() -> None:
    rows = [*VALID_ROWS, (900.0, 4.0, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0)]
    report = evaluate_rules(make_frame(rows), RULES)
    hr = outcome(report, "range.hr")
    assert hr.broken == 1
    assert hr.first_broken_rows == (3,)
    assert hr.text == "hr lies between 0 and 300 beats/min"
    assert report.broken_rows == 1


def test_range_counts_missing_apart() -> None:
    rows = [(NAN, 4.0, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0), (70.0, NAN, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0)]
    report = evaluate_rules(make_frame(rows), RULES)
    assert outcome(report, "range.hr").missing == 1
    assert outcome(report, "range.hr").checked == 1
    assert outcome(report, "range.hr").broken == 0
    assert report.broken_rows == 0


@pytest.mark.parametrize(
    ("hr", "gcs", "broken_rule"),
    [
        (INF, 4.0, "range.hr"),
        (-INF, 4.0, "range.hr"),
        (-0.5, 4.0, "range.hr"),
        (300.5, 4.0, "range.hr"),
        (80.0, 2.5, "range.gcs"),
        (80.0, 0.0, "range.gcs"),
        (80.0, 5.0, "range.gcs"),
    ],
)
def test_range_bad_values(hr: float, gcs: float, broken_rule: str) -> None:
    report = evaluate_rules(make_frame([(hr, gcs, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0)]), RULES)
    assert {item.rule_id for item in report.outcomes if item.broken} == {broken_rule}


def test_range_bounds_are_inclusive() -> None:
    rows = [(0.0, 1.0, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0), (300.0, 4.0, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0)]
    assert evaluate_rules(make_frame(rows), RULES).broken_rows == 0


def test_implication_cases() -> None:
    rows = [
        (80.0, 4.0, 0.0, 1.0, 1.0, 0.0, "a", NAN, 0.0),  # premise holds, conclusion fails
        (80.0, 4.0, 0.0, 1.0, 1.0, NAN, "a", NAN, 0.0),  # conclusion missing: not checked
        (80.0, 4.0, 0.0, 1.0, 0.0, NAN, "a", NAN, 0.0),  # premise false: checked, holds
        (80.0, 4.0, 0.0, 1.0, NAN, 0.0, "a", NAN, 0.0),  # premise missing: not checked
        (80.0, 4.0, 0.0, 1.0, 1.0, 1.0, "a", NAN, 0.0),  # both hold
    ]
    vent = outcome(evaluate_rules(make_frame(rows), RULES), "implies.vent.oob")
    assert vent.broken == 1
    assert vent.first_broken_rows == (0,)
    assert vent.missing == 2
    assert vent.checked == 3


def test_distinct_cases() -> None:
    rows = [
        (80.0, 4.0, 0.0, 1.0, 0.0, 0.0, "a", "a", 0.0),
        (80.0, 4.0, 0.0, 1.0, 0.0, 0.0, "a", NAN, 0.0),
        (80.0, 4.0, 0.0, 1.0, 0.0, 0.0, "a", "b", 0.0),
    ]
    distinct = outcome(evaluate_rules(make_frame(rows), RULES), "distinct.first.second")
    assert distinct.broken == 1
    assert distinct.missing == 1
    assert distinct.checked == 2


def test_order_cases() -> None:
    rows = [
        (80.0, 4.0, 10.0, 5.0, 0.0, 0.0, "a", NAN, 0.0),
        (80.0, 4.0, 5.0, 5.0, 0.0, 0.0, "a", NAN, 0.0),
        (80.0, 4.0, NAN, 5.0, 0.0, 0.0, "a", NAN, 0.0),
        (80.0, 4.0, 1.0, INF, 0.0, 0.0, "a", NAN, 0.0),
    ]
    order = outcome(evaluate_rules(make_frame(rows), RULES), "order.start.end")
    assert order.broken == 1
    assert order.first_broken_rows == (0,)
    assert order.missing == 1


def test_category_rule_cases() -> None:
    rule = CategoryRule("categories.first", "first", ("a", "b"))
    frame = make_frame([(80.0, 4.0, 0.0, 1.0, 0.0, 0.0, value, NAN, 0.0) for value in ("a", "z", NAN, "A")])
    result = outcome(evaluate_rules(frame, [rule]), "categories.first")
    assert result.broken == 2
    assert result.first_broken_rows == (1, 3)
    assert result.missing == 1


def test_row_counted_once_for_two_rules() -> None:
    rows = [(900.0, 9.0, 5.0, 1.0, 1.0, 0.0, "a", "a", 0.0), *VALID_ROWS]
    report = evaluate_rules(make_frame(rows), RULES)
    assert sum(item.broken for item in report.outcomes) == 5
    assert report.broken_rows == 1
    assert report.share == pytest.approx(1 / 4)


def test_absent_columns_skip_rule() -> None:
    frame = make_frame(VALID_ROWS).drop(columns=["oob"])
    report = evaluate_rules(frame, RULES)
    assert "implies.vent.oob" in report.skipped
    assert "oob" in report.skipped["implies.vent.oob"]
    assert "implies.vent.oob" not in {item.rule_id for item in report.outcomes}


def test_text_not_number_breaks_range() -> None:
    frame = make_frame(VALID_ROWS).astype({"hr": object})
    frame.loc[0, "hr"] = "fast"
    hr = outcome(evaluate_rules(frame, RULES), "range.hr")
    assert hr.broken == 1
    assert hr.missing == 0


# Input checks.


def test_evaluate_rejects_bad_inputs() -> None:
    with pytest.raises(TypeError, match="frame"):
        evaluate_rules([{"hr": 1.0}], RULES)
    with pytest.raises(ValueError, match="0 rows"):
        evaluate_rules(make_frame([]), RULES)
    with pytest.raises(TypeError, match="item 1"):
        evaluate_rules(make_frame(VALID_ROWS), [HR, "hr < 300"])
    with pytest.raises(ValueError, match="range.hr"):
        evaluate_rules(make_frame(VALID_ROWS), [HR, HR])
    with pytest.raises(TypeError, match="rules"):
        evaluate_rules(make_frame(VALID_ROWS), "range.hr")


def test_rule_declarations_checked() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        RangeRule("range.x", "x", 5.0, 1.0, "", "test")
    with pytest.raises(ValueError, match="finite"):
        RangeRule("range.x", "x", 0.0, INF, "", "test")
    with pytest.raises(ValueError, match="mixed or invalid types"):
        Condition("ca", ("Yes", 1.0))
    with pytest.raises(ValueError, match="at least one"):
        Condition("ca", ())
    with pytest.raises(KeyError, match="mimic"):
        rules_for_dataset("mimic")


# The metric.


def test_metric_scores_hand_table(schema: TableSchema) -> None:
    rows = [*VALID_ROWS, (900.0, 4.0, 0.0, 1.0, 0.0, 0.0, "z", NAN, 0.0)]
    result = PlausibilityViolations(RULES).compute(make_frame(VALID_ROWS), make_frame(rows), schema)
    assert result.value == pytest.approx(1 / 4)
    assert result.details["per_rule"]["range.hr"]["broken"] == 1
    assert result.details["per_rule"]["categories.first"]["broken"] == 1
    assert result.details["real_share"] == 0.0
    assert PlausibilityViolations.goal == "minimize"


def test_metric_without_categories(schema: TableSchema) -> None:
    rows = [*VALID_ROWS, (80.0, 4.0, 0.0, 1.0, 0.0, 0.0, "z", NAN, 0.0)]
    metric = PlausibilityViolations(RULES, check_categories=False)
    result = metric.compute(make_frame(VALID_ROWS), make_frame(rows), schema)
    assert result.value == 0.0
    assert "categories.first" not in result.details["per_rule"]


def test_metric_lists_skipped_rules(schema: TableSchema) -> None:
    extra = RangeRule("range.ph", "ph", 6.5, 8.0, "", "test")
    result = PlausibilityViolations([*RULES, extra]).compute(
        make_frame(VALID_ROWS), make_frame(VALID_ROWS), schema
    )
    assert result.value == 0.0
    assert "range.ph" in result.details["skipped"]
    assert "1 rules skipped" in result.reason


def test_metric_unscored_without_rules(schema: TableSchema) -> None:
    extra = RangeRule("range.ph", "ph", 6.5, 8.0, "", "test")
    metric = PlausibilityViolations([extra], check_categories=False)
    result = metric.compute(make_frame(VALID_ROWS), make_frame(VALID_ROWS), schema)
    assert result.value is None
    assert "none of the 1 rules" in result.reason


@pytest.mark.parametrize(
    ("synthetic", "expected"),
    [
        (None, "NoneType"),
        (pd.DataFrame(), "0 rows"),
        (make_frame(VALID_ROWS).drop(columns=["hr"]), "missing the columns ['hr']"),
        (make_frame(VALID_ROWS).astype({"hr": object}).assign(hr=["fast", 1.0, 2.0]), "not numbers"),
    ],
)
def test_metric_bad_synthetic(schema: TableSchema, synthetic: object, expected: str) -> None:
    result = PlausibilityViolations(RULES).compute(make_frame(VALID_ROWS), synthetic, schema)
    assert result.value is None
    assert expected in result.reason


def test_metric_rejects_bad_rules() -> None:
    with pytest.raises(TypeError, match="item 0"):
        PlausibilityViolations([{"column": "hr"}])


# The declared rule sets against the real datasets.


def check_declarations(prepared: PreparedDataset, rules: tuple) -> None:
    """Assert every rule names schema columns of the right kind and the dataset's units."""
    schema = prepared.schema
    units = prepared.dataset.units()
    for rule in rules:
        for name in rule.columns:
            assert name in schema.names, f"{rule.rule_id}: {name!r} is not a column"
        if isinstance(rule, RangeRule):
            assert schema[rule.column].kind == "numeric", rule.rule_id
            assert rule.unit == units.get(rule.column, ""), rule.rule_id
        if isinstance(rule, ImplicationRule):
            for condition in (rule.premise, rule.conclusion):
                is_categorical = schema[condition.column].kind == "categorical"
                assert condition.numeric is not is_categorical, rule.rule_id


def check_real_parts(prepared: PreparedDataset, rules: tuple) -> None:
    """Assert logical rules hold on every training row and the real test part is about 0."""
    train = evaluate_rules(prepared.train, rules)
    assert not train.skipped
    for item in train.outcomes:
        if not item.rule_id.startswith("range."):
            assert item.broken == 0, f"{item.rule_id} breaks {item.broken} training rows"
        assert item.broken_rate <= 0.002, f"{item.rule_id} breaks {item.broken_rate:.4%} of the checked rows"

    metric = PlausibilityViolations(rules)
    result = metric.compute(prepared.test, prepared.test, prepared.schema)
    assert result.value is not None
    assert result.value < 0.005
    assert result.value == result.details["real_share"]
    assert not result.details["skipped"]


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


def test_rhc_declarations(rhc: PreparedDataset) -> None:
    check_declarations(rhc, RHC_RULES)


def test_rhc_real_parts(rhc: PreparedDataset) -> None:
    check_real_parts(rhc, RHC_RULES)


def test_rhc_cancer_iff_rule_fails(rhc: PreparedDataset) -> None:
    # The "exactly when" form is not declared: ca = Yes occurs without malighx = 1.
    train = rhc.train
    breaks = int(((train["ca"] == "Yes") & (train["malighx"] == 0.0)).sum())
    assert 0 < breaks < 0.01 * len(train)


def test_rhc_heart_rate_900_named(rhc: PreparedDataset) -> None:
    synthetic = rhc.test.copy()
    synthetic.loc[5, "hrt1"] = 900.0
    result = PlausibilityViolations.for_dataset("rhc").compute(rhc.test, synthetic, rhc.schema)
    hrt1 = result.details["per_rule"]["range.hrt1"]
    assert hrt1["broken"] == 1
    assert hrt1["first_broken_rows"] == [5]
    assert hrt1["unit"] == "beats/min"
    assert result.value > result.details["real_share"]


def test_rhc_category_rules(rhc: PreparedDataset) -> None:
    rules = category_rules(rhc.schema)
    names = [column.name for column in rhc.schema.columns if column.kind == "categorical"]
    assert [rule.column for rule in rules] == names
    assert rules[0].categories == rhc.schema[names[0]].categories


def test_rule_ids_unique() -> None:
    for rules in (RHC_RULES, EICU_RULES):
        ids = [rule.rule_id for rule in rules]
        assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def eicu(request: pytest.FixtureRequest) -> PreparedDataset:
    folder = resolve_eicu_dir(request.config.getoption("--eicu-dir", default=None))
    if folder is None:
        pytest.skip(f"set {EICU_DIR_VARIABLE} or --eicu-dir to an eICU-CRD folder to run this test")
    if not folder.is_dir():
        pytest.skip(f"eICU-CRD folder {str(folder)!r} from {EICU_DIR_VARIABLE} does not exist")
    return prepare(get_dataset("eicu", folder))


@pytest.mark.eicu
def test_eicu_declarations(eicu: PreparedDataset) -> None:
    check_declarations(eicu, EICU_RULES)


@pytest.mark.eicu
def test_eicu_real_parts(eicu: PreparedDataset) -> None:
    check_real_parts(eicu, EICU_RULES)


@pytest.mark.eicu
def test_eicu_ventilation_rule_caught(eicu: PreparedDataset) -> None:
    synthetic = eicu.test.copy()
    synthetic["vent"] = 1.0
    synthetic["oobventday1"] = 0.0
    result = PlausibilityViolations.for_dataset("eicu").compute(eicu.test, synthetic, eicu.schema)
    assert result.details["per_rule"]["implies.vent.oobventday1"]["broken"] == len(synthetic)
    assert result.value == 1.0


def test_coerced_frame_matches_raw() -> None:
    # Coercion to schema dtypes must not change what the rules find.
    rows = [*VALID_ROWS, (900.0, 2.5, 3.0, 1.0, 1.0, 0.0, "a", "a", 0.0)]
    raw = make_frame(rows)
    coerced = coerce_frame(raw, infer_schema(raw, "label", KINDS))
    assert evaluate_rules(raw, RULES) == evaluate_rules(coerced, RULES)
    assert not math.isnan(evaluate_rules(raw, RULES).share)
    assert np.isclose(evaluate_rules(raw, RULES).share, 1 / 4)
