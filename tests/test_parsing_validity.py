"""Tests of record validation, training-copy detection and the validity record."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehrbench.parsing.answers import FAILURE_EMPTY, FAILURE_REFUSAL
from ehrbench.parsing.validity import (
    BEYOND_REQUESTED,
    EXACT_COPY,
    EXTRA_COLUMN,
    MISSING_COLUMN,
    OUT_OF_RANGE,
    REJECTION_REASONS,
    UNKNOWN_CATEGORY,
    UNPARSEABLE,
    WRONG_TYPE,
    ValidityRecord,
    training_row_keys,
    validate_answers,
    validate_answers_with_copies,
    validate_records,
)
from ehrbench.schema import coerce_frame, infer_schema

KINDS = {
    "age": "numeric",
    "sex": "categorical",
    "cat1": "categorical",
    "dnr1": "binary",
    "death": "binary",
}


def _train() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": [34.0, 51.5, 67.0, 80.0, 71.23412],
            "sex": ["Female", "Male", "Male", "Female", "Female"],
            "cat1": ["ARF", "CHF", np.nan, "COPD", "None"],
            "dnr1": [0.0, 1.0, 0.0, np.nan, 1.0],
            "death": [0.0, 1.0, 1.0, 0.0, 1.0],
        }
    )
    schema = infer_schema(frame, "death", KINDS)
    return coerce_frame(frame, schema)


TRAIN = _train()
SCHEMA = infer_schema(TRAIN, "death", KINDS)
KEYS = training_row_keys(TRAIN, SCHEMA)
BASE = {"age": 60, "sex": "Male", "cat1": "ARF", "dnr1": 0, "death": 1}


def _reasons(records: list[dict]) -> Counter:
    return validate_records(records, SCHEMA, KEYS).rejections


def _only_reason(record: dict) -> str | None:
    outcome = validate_records([record], SCHEMA, KEYS)
    assert sum(outcome.rejections.values()) + len(outcome.rows) == 1
    return next(iter(outcome.rejections), None)


# Valid rows


def test_schema_built_from_tiny_frame():
    assert SCHEMA.names == ["age", "sex", "cat1", "dnr1", "death"]
    assert (SCHEMA["age"].minimum, SCHEMA["age"].maximum) == (34.0, 80.0)
    assert SCHEMA["cat1"].categories == ("ARF", "CHF", "COPD", "None")


def test_valid_record_coerced():
    record = {"age": "51.25", "sex": " male ", "cat1": "chf", "dnr1": True, "death": 0}
    outcome = validate_records([record], SCHEMA, KEYS)

    assert outcome.rejections == Counter()
    assert list(outcome.rows.columns) == SCHEMA.names
    assert outcome.rows.dtypes.to_dict() == {
        "age": np.float64,
        "sex": object,
        "cat1": object,
        "dnr1": np.float64,
        "death": np.float64,
    }
    expected = {"age": 51.25, "sex": "Male", "cat1": "CHF", "dnr1": 1.0, "death": 0.0}
    assert outcome.rows.iloc[0].to_dict() == expected


def test_missing_values_allowed():
    record = {"age": None, "sex": "Female", "cat1": "", "dnr1": "NA", "death": "1"}
    row = validate_records([record], SCHEMA, KEYS).rows.iloc[0]
    assert math.isnan(row["age"])
    assert pd.isna(row["cat1"])
    assert math.isnan(row["dnr1"])
    assert row["death"] == 1.0


def test_category_named_none_kept():
    record = dict(BASE, cat1="none")
    assert validate_records([record], SCHEMA, KEYS).rows.iloc[0]["cat1"] == "None"


def test_keys_case_insensitive_and_stripped():
    record = {" AGE ": 60, "Sex": "Male", "CAT1": "ARF", "Dnr1": 0, "death\t": 1}
    outcome = validate_records([record], SCHEMA, KEYS)
    assert len(outcome.rows) == 1
    assert outcome.rows.iloc[0]["age"] == 60.0


def test_rows_keep_record_order():
    records = [dict(BASE, age=age) for age in (61, 62, 500, 63)]
    outcome = validate_records(records, SCHEMA, KEYS)
    assert outcome.rows["age"].tolist() == [61.0, 62.0, 63.0]
    assert outcome.rows.index.tolist() == [0, 1, 2]


def test_empty_records_give_typed_empty_frame():
    outcome = validate_records([], SCHEMA, KEYS)
    assert list(outcome.rows.columns) == SCHEMA.names
    assert len(outcome.rows) == 0
    assert outcome.rows["age"].dtype == np.float64
    assert outcome.rows["sex"].dtype == object


# One reason per rejected value


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("age", "80", None),
        ("age", " 3.4e1 ", None),
        ("age", 34, None),
        ("dnr1", "true", None),
        ("dnr1", False, None),
        ("dnr1", "1.0", None),
        ("sex", " MALE ", None),
        ("age", "sixty", WRONG_TYPE),
        ("age", "60 years", WRONG_TYPE),
        ("age", "1,000", WRONG_TYPE),
        ("age", [60], WRONG_TYPE),
        ("age", {"value": 60}, WRONG_TYPE),
        ("age", True, WRONG_TYPE),
        ("dnr1", "yes", WRONG_TYPE),
        ("dnr1", [1], WRONG_TYPE),
        ("sex", ["Male"], WRONG_TYPE),
        ("age", 200, OUT_OF_RANGE),
        ("age", "12.5", OUT_OF_RANGE),
        ("age", float("nan"), OUT_OF_RANGE),
        ("age", float("inf"), OUT_OF_RANGE),
        ("age", "-Infinity", OUT_OF_RANGE),
        ("age", "1e999", OUT_OF_RANGE),
        ("age", 10**400, OUT_OF_RANGE),
        ("dnr1", 2, OUT_OF_RANGE),
        ("dnr1", 0.5, OUT_OF_RANGE),
        ("dnr1", float("nan"), OUT_OF_RANGE),
        ("sex", "Other", UNKNOWN_CATEGORY),
        ("sex", 1, UNKNOWN_CATEGORY),
        ("cat1", "AR F", UNKNOWN_CATEGORY),
    ],
)
def test_value_reason(column, value, reason):
    assert _only_reason(dict(BASE, **{column: value})) == reason


def test_numbers_compared_as_category_text():
    frame = pd.DataFrame({"grade": ["1", "2", "3"], "death": [0.0, 1.0, 0.0]})
    schema = infer_schema(frame, "death", {"grade": "categorical", "death": "binary"})
    records = [{"grade": grade, "death": 1} for grade in (2, 3.0, "2.0", 2.5)]

    outcome = validate_records(records, schema, frozenset())

    assert outcome.rows["grade"].tolist() == ["2", "3"]
    assert outcome.rejections == Counter({UNKNOWN_CATEGORY: 2})


# Order of reasons


def test_missing_column_before_extra_column():
    record = {"age": 60, "sex": "Male", "cat1": "ARF", "dnr1": 0, "bogus": 1}
    assert _only_reason(record) == MISSING_COLUMN


def test_extra_column_before_wrong_type():
    assert _only_reason(dict(BASE, age="old", bogus=1)) == EXTRA_COLUMN


def test_second_key_for_same_column_is_extra():
    assert _only_reason(dict(BASE, Age=61)) == EXTRA_COLUMN


def test_wrong_type_before_out_of_range():
    assert _only_reason(dict(BASE, age=200, dnr1="yes")) == WRONG_TYPE
    assert _only_reason(dict(BASE, age="old", dnr1=2)) == WRONG_TYPE


def test_out_of_range_before_unknown_category():
    assert _only_reason(dict(BASE, age=200, sex="Other")) == OUT_OF_RANGE
    assert _only_reason(dict(BASE, sex="Other", dnr1=2)) == OUT_OF_RANGE


def test_unknown_category_before_exact_copy():
    copy = {"age": 34, "sex": "Female", "cat1": "ARF", "dnr1": 0, "death": 0}
    assert _only_reason(copy) == EXACT_COPY
    assert _only_reason(dict(copy, sex="Unknown")) == UNKNOWN_CATEGORY


def test_batch_gets_one_reason_per_row():
    records = [
        dict(BASE),
        {"age": 60},
        dict(BASE, bogus=1),
        dict(BASE, age="x", dnr1=5),
        dict(BASE, age=1),
        dict(BASE, sex="?"),
        {"age": 51.5, "sex": "Male", "cat1": "CHF", "dnr1": 1, "death": 1},
    ]
    assert _reasons(records) == Counter(REJECTION_REASONS[:-2])


def test_reason_names():
    assert REJECTION_REASONS == (
        "missing column",
        "extra column",
        "wrong type",
        "out of range",
        "unknown category",
        "exact copy of a training row",
        "beyond requested rows",
        "unparseable",
    )


# Exact copies of training rows


def test_training_row_keys_normalised():
    assert len(KEYS) == 5
    assert (71.2341, "Female", "None", 1.0, 1.0) in KEYS
    assert (67.0, "Male", None, 0.0, 1.0) in KEYS
    assert (80.0, "Female", "COPD", None, 0.0) in KEYS


def test_copy_with_float_noise_rejected():
    noisy = TRAIN.iloc[4].to_dict()
    noisy["age"] = noisy["age"] * (1 + 3e-9)
    assert noisy["age"] != TRAIN.iloc[4]["age"]
    assert _only_reason(noisy) == EXACT_COPY


def test_copy_in_other_spelling_rejected():
    answer = "AGE,sex,cat1,dnr1,death\n71.234120,female,none,1,1.0\n"
    rows, record = validate_answers([(answer, 1)], SCHEMA, KEYS)
    assert len(rows) == 0
    assert record.rejections == Counter({EXACT_COPY: 1})


def test_change_in_sixth_digit_is_not_copy():
    changed = dict(TRAIN.iloc[4].to_dict(), age=71.2342)
    assert _only_reason(changed) is None


def test_copy_with_missing_values_rejected():
    record = {"age": 67, "sex": "Male", "cat1": None, "dnr1": 0, "death": 1}
    assert _only_reason(record) == EXACT_COPY


def test_training_row_keys_invalid_frame():
    with pytest.raises(KeyError, match="cat1"):
        training_row_keys(TRAIN.drop(columns="cat1"), SCHEMA)
    with pytest.raises(TypeError, match="train"):
        training_row_keys(TRAIN.to_dict(), SCHEMA)


def test_validate_records_invalid_arguments():
    with pytest.raises(TypeError, match="records"):
        validate_records(BASE, SCHEMA, KEYS)
    with pytest.raises(TypeError, match="item 1"):
        validate_records([BASE, ["age", 60]], SCHEMA, KEYS)


# ValidityRecord


def test_shortfall_and_rate():
    record = ValidityRecord(requested=10, answers=2, parsed=7, valid=5)
    assert record.shortfall == 3
    assert record.rate == 0.5


def test_rate_capped_and_zero_request():
    assert ValidityRecord(requested=2, answers=1, parsed=4, valid=4).rate == 1.0
    assert ValidityRecord(requested=2, answers=1, parsed=4, valid=4).shortfall == 0
    assert ValidityRecord().rate == 0.0


def test_merge_sums_counts():
    first = ValidityRecord(5, 1, 0, 4, 3, Counter({OUT_OF_RANGE: 1}), Counter())
    second = ValidityRecord(
        5, 2, 1, 2, 1, Counter({OUT_OF_RANGE: 1, UNPARSEABLE: 2}), Counter({FAILURE_REFUSAL: 1})
    )

    merged = first.merge(second)

    assert merged == ValidityRecord(
        10, 3, 1, 6, 4, Counter({OUT_OF_RANGE: 2, UNPARSEABLE: 2}), Counter({FAILURE_REFUSAL: 1})
    )
    assert first.rejections == Counter({OUT_OF_RANGE: 1})


def test_dict_round_trip_through_json():
    record = ValidityRecord(
        9, 3, 1, 7, 4, Counter({EXACT_COPY: 3, UNPARSEABLE: 1}), Counter({FAILURE_EMPTY: 1})
    )

    data = json.loads(json.dumps(record.to_dict()))

    assert data["shortfall"] == 2
    assert data["rate"] == pytest.approx(4 / 9)
    assert list(data["rejections"]) == list(REJECTION_REASONS)
    assert ValidityRecord.from_dict(data) == record


COUNTS = {"requested": 1, "answers": 1, "failed_answers": 0, "parsed": 1, "valid": 1}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"valid": None}, "missing keys"),
        ({"extra": 1}, "unknown keys"),
        ({"requested": -1}, "requested"),
        ({"valid": 2}, "valid"),
        ({"failed_answers": 2}, "failed_answers"),
        ({"rejections": {"odd": 1}}, "odd"),
        ({"rejections": {UNPARSEABLE: -1}}, "count"),
    ],
)
def test_from_dict_invalid(changes, message):
    data = {key: value for key, value in {**COUNTS, **changes}.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        ValidityRecord.from_dict(data)


# validate_answers


def test_validate_answers_counts():
    answers = [
        (json.dumps({"rows": [dict(BASE, age=61), dict(BASE, age=62), dict(BASE, age=500)]}), 3),
        ("```csv\nage,sex,cat1,dnr1,death\n63,Female,COPD,1,0\n64,Fem", 2),
        ("I'm sorry, but I can't create patient records.", 2),
        ("", 1),
        (json.dumps([dict(BASE, age=34, sex="Female", death=0), dict(BASE, note="x")]), 2),
    ]

    rows, record = validate_answers(answers, SCHEMA, KEYS)

    assert (record.requested, record.answers, record.failed_answers) == (10, 5, 2)
    assert (record.parsed, record.valid, record.shortfall) == (6, 3, 4)
    expected = Counter({OUT_OF_RANGE: 1, UNPARSEABLE: 1, EXACT_COPY: 1, EXTRA_COLUMN: 1})
    assert record.rejections == expected
    assert record.failures == Counter({FAILURE_REFUSAL: 1, FAILURE_EMPTY: 1})
    assert record.rate == pytest.approx(0.3)
    assert rows["age"].tolist() == [61.0, 62.0, 63.0]
    assert rows["sex"].tolist() == ["Male", "Male", "Female"]
    assert rows.index.tolist() == [0, 1, 2]


def test_rows_beyond_request_not_kept():
    records = [dict(BASE, age=age) for age in (61, 62, 500, 63, 64, 65)]

    answer = json.dumps(records)
    rows, record = validate_answers([(answer, 3), (answer, 1)], SCHEMA, KEYS)

    assert rows["age"].tolist() == [61.0, 62.0, 63.0, 61.0]
    assert rows.index.tolist() == [0, 1, 2, 3]
    assert (record.requested, record.parsed, record.valid) == (4, 12, 4)
    assert record.rejections == Counter({BEYOND_REQUESTED: 6, OUT_OF_RANGE: 2})
    assert record.rate == 1.0


def test_zero_rows_requested_keeps_none():
    rows, record = validate_answers([(json.dumps([BASE, BASE]), 0)], SCHEMA, KEYS)
    assert len(rows) == 0
    assert record.valid == 0
    assert record.rejections == Counter({BEYOND_REQUESTED: 2})


def test_container_columns_key_maps_values():
    order = ["death", "dnr1", "cat1", "sex", "age"]
    lists = [[1, 0, "CHF", "Male", 61], [0, 1, None, "Female", 62]]
    answer = json.dumps({"columns": order, "rows": lists})

    rows, record = validate_answers([(answer, 2)], SCHEMA, KEYS)

    assert record.valid == 2
    assert rows["death"].tolist() == [1.0, 0.0]
    assert rows["dnr1"].tolist() == [0.0, 1.0]
    assert rows["age"].tolist() == [61.0, 62.0]


def test_csv_with_byte_order_mark_valid():
    answer = "\ufeffage,sex,cat1,dnr1,death\n61,Male,ARF,0,1\n"
    rows, record = validate_answers([(answer, 1)], SCHEMA, KEYS)
    assert record.valid == 1
    assert rows["age"].tolist() == [61.0]


def test_validate_answers_numpy_request_count():
    _, record = validate_answers([(json.dumps([BASE]), np.int64(3))], SCHEMA, KEYS)
    assert record.requested == 3
    assert type(record.requested) is int


def test_validate_answers_without_answers():
    rows, record = validate_answers([], SCHEMA, KEYS)
    assert list(rows.columns) == SCHEMA.names
    assert len(rows) == 0
    assert record == ValidityRecord()


def test_validate_answers_invalid_arguments():
    with pytest.raises(TypeError, match="pair"):
        validate_answers([("text",)], SCHEMA, KEYS)
    with pytest.raises(TypeError, match="not a str"):
        validate_answers([(None, 1)], SCHEMA, KEYS)
    with pytest.raises(ValueError, match="non-negative"):
        validate_answers([("text", -1)], SCHEMA, KEYS)


# Property tests

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["Male", "female", " ARF ", "none", "12.5", "inf", "", "1"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_KEYS = st.one_of(st.sampled_from(SCHEMA.names + [" AGE", "Sex ", "DEATH"]), st.text(max_size=5))


@settings(deadline=None)
@given(st.lists(st.dictionaries(_KEYS, _VALUES, max_size=7), max_size=8))
def test_every_record_valid_or_rejected_once(records):
    outcome = validate_records(records, SCHEMA, KEYS)
    assert len(outcome.rows) + sum(outcome.rejections.values()) == len(records)
    assert set(outcome.rejections) <= set(REJECTION_REASONS) - {BEYOND_REQUESTED, UNPARSEABLE}


_ANSWER_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.fixed_dictionaries({name: _VALUES for name in SCHEMA.names}), max_size=4).map(
        lambda rows: json.dumps({"rows": rows}, default=str)
    ),
)


@settings(deadline=None)
@given(st.lists(st.tuples(_ANSWER_TEXT, st.integers(0, 5), st.floats(0, 1)), max_size=4))
def test_validate_answers_counts_add_up(items):
    answers = [(text[: int(cut * len(text)) + 1], requested) for text, requested, cut in items]

    rows, record = validate_answers(answers, SCHEMA, KEYS)

    per_row = sum(count for reason, count in record.rejections.items() if reason != UNPARSEABLE)
    assert record.valid + per_row == record.parsed
    assert len(rows) == record.valid
    assert record.valid <= record.requested
    assert record.answers == len(answers)
    assert record.requested == sum(requested for _, requested in answers)
    assert record.failed_answers == sum(record.failures.values())


def test_stop_reason_marks_refusal_only_without_rows():
    row = json.dumps({"rows": [{**BASE, "age": 61}]})
    answers = [("", 2), ("Content withheld.", 2), (row, 2), ("", 2)]
    reasons = ["refusal", "content_filter", "refusal", "stop"]

    validity = validate_answers_with_copies(answers, SCHEMA, KEYS, stop_reasons=reasons).validity

    assert validity.failures == Counter({"refusal": 2, "empty answer": 1})
    assert validity.valid == 1


def test_stop_reasons_length_checked():
    with pytest.raises(ValueError, match="stop_reasons: expected 2 items, one per answer, got 1"):
        validate_answers_with_copies([("", 1), ("", 1)], SCHEMA, KEYS, stop_reasons=["stop"])
