"""Tests of parse_answer on the answer shapes that real models return."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehrbench.parsing.answers import (
    FAILURE_EMPTY,
    FAILURE_NO_ROWS,
    FAILURE_REFUSAL,
    FAILURE_UNREADABLE,
    ParsedAnswer,
    parse_answer,
)

COLUMNS = ["age", "sex", "death"]
ROW_1 = {"age": 65, "sex": "Male", "death": 1}
ROW_2 = {"age": 70.5, "sex": "Female", "death": 0}
ROW_3 = {"age": 81, "sex": "Female", "death": 1}
CSV_ROW_65 = {"age": "65", "sex": "Male", "death": "1"}
CSV_ROW_81 = {"age": "81", "sex": "Female", "death": "1"}


def _json_rows(*rows: dict) -> str:
    return json.dumps({"rows": list(rows)})


def _check(parsed: ParsedAnswer, records: list[dict], format: str, fragments: int) -> None:
    assert parsed.records == records
    assert parsed.format == format
    assert parsed.unparseable_fragments == fragments
    assert parsed.failure == ""


# JSON shapes


def test_requested_json_object():
    parsed = parse_answer(_json_rows(ROW_1, ROW_2), COLUMNS)
    _check(parsed, [ROW_1, ROW_2], "json", 0)


def test_rows_key_in_other_case():
    parsed = parse_answer('{" Rows ": [{"age": 65, "sex": "Male", "death": 1}]}', COLUMNS)
    _check(parsed, [ROW_1], "json", 0)


def test_object_with_one_list_under_other_key():
    parsed = parse_answer(json.dumps({"patients": [ROW_1, ROW_2], "count": 2}), COLUMNS)
    _check(parsed, [ROW_1, ROW_2], "json", 0)


def test_bare_json_list():
    parsed = parse_answer(json.dumps([ROW_1, ROW_2, ROW_3]), COLUMNS)
    _check(parsed, [ROW_1, ROW_2, ROW_3], "json", 0)


def test_single_row_object():
    parsed = parse_answer(json.dumps(ROW_1), COLUMNS)
    _check(parsed, [ROW_1], "json", 0)


def test_json_lines():
    text = "\n".join(json.dumps(row) for row in (ROW_1, ROW_2, ROW_3))
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2, ROW_3], "json", 0)


def test_list_of_lists_mapped_by_position():
    parsed = parse_answer('[[65, "Male", 1], [70.5, "Female", 0]]', COLUMNS)
    _check(parsed, [ROW_1, ROW_2], "json", 0)


def test_list_of_lists_wrong_length_counted():
    parsed = parse_answer('{"rows": [[65, "Male", 1], [70.5, "Female"], [1, 2, 3, 4]]}', COLUMNS)
    _check(parsed, [ROW_1], "json", 2)


def test_list_of_lists_after_header_list():
    text = '{"rows": [["Sex", "age", "death"], ["Male", 65, 1]]}'
    _check(parse_answer(text, COLUMNS), [{"Sex": "Male", "age": 65, "death": 1}], "json", 0)


def test_scalars_in_rows_array_counted():
    text = '{"rows": [{"age": 65, "sex": "Male", "death": 1}, 12, "text", null]}'
    _check(parse_answer(text, COLUMNS), [ROW_1], "json", 3)


def test_fenced_json_with_prose():
    text = (
        "Sure! Here are the synthetic patients you asked for:\n\n```json\n"
        + json.dumps({"rows": [ROW_1, ROW_2]}, indent=2)
        + "\n```\n\nAll values are synthetic {not real}. Let me know [1] if you need more."
    )
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_keys_in_other_case_and_spaces():
    parsed = parse_answer('[{" Age ": 65, "SEX": "Male", "death\\t": 1}]', COLUMNS)
    _check(parsed, [{"Age": 65, "SEX": "Male", "death": 1}], "json", 0)


def test_keys_merged_by_stripping_kept_as_written():
    parsed = parse_answer('[{"age": 65, " age": 66, "sex": "Male", "death": 1}]', COLUMNS)
    _check(parsed, [{"age": 65, " age": 66, "sex": "Male", "death": 1}], "json", 0)


def test_repeated_key_counted_unparseable():
    text = (
        '[{"age": 65, "age": 66, "sex": "Male", "death": 1}, '
        '{"age": 81, "sex": "Female", "death": 1}]'
    )
    _check(parse_answer(text, COLUMNS), [ROW_3], "json", 1)


def test_nested_values_kept_for_validation():
    parsed = parse_answer('[{"age": [65], "sex": {"v": "Male"}, "death": true}]', COLUMNS)
    _check(parsed, [{"age": [65], "sex": {"v": "Male"}, "death": True}], "json", 0)


def test_nan_and_infinity_literals_decoded():
    parsed = parse_answer('[{"age": NaN, "sex": "Male", "death": Infinity}]', COLUMNS)
    assert len(parsed.records) == 1
    assert parsed.records[0]["age"] != parsed.records[0]["age"]
    assert parsed.records[0]["death"] == float("inf")


# Truncated and invalid JSON


def test_truncated_json_keeps_complete_rows():
    text = _json_rows(ROW_1, ROW_2, ROW_3)
    cut = text[: text.index('"Female", "death": 1')]
    _check(parse_answer(cut, COLUMNS), [ROW_1, ROW_2], "json", 1)


def test_truncated_between_rows_has_no_fragment():
    text = _json_rows(ROW_1, ROW_2)
    cut = text[: text.index("}") + 3]
    _check(parse_answer(cut, COLUMNS), [ROW_1], "json", 0)


def test_truncated_inside_string_with_brackets():
    first = {"age": 65, "sex": "M}a]l{e[", "death": 1}
    text = _json_rows(first, {"age": 70, "sex": 'Fe"}male', "death": 0})
    cut = text[: text.index('Fe\\"}') + 5]
    _check(parse_answer(cut, COLUMNS), [first], "json", 1)


def test_truncated_list_of_lists():
    parsed = parse_answer('[[65, "Male", 1], [70.5, "Female", 0], [81, "Fem', COLUMNS)
    _check(parsed, [ROW_1, ROW_2], "json", 1)


def test_invalid_row_in_middle_counted():
    text = (
        '{"rows": [{"age": 65, "sex": "Male", "death": 1}, {"age": , "sex": "Male"}, '
        '{"age": 81, "sex": "Female", "death": 1}]}'
    )
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_3], "json", 1)


def test_trailing_comma_recovers_rows():
    text = (
        '{"rows": [{"age": 65, "sex": "Male", "death": 1}, '
        '{"age": 70.5, "sex": "Female", "death": 0},]}'
    )
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_truncated_before_first_row():
    parsed = parse_answer('{"rows": [', COLUMNS)
    assert parsed == ParsedAnswer([], "none", 0, FAILURE_NO_ROWS)


def test_truncated_inside_first_row():
    parsed = parse_answer('```json\n{"rows": [{"age": 65, "se', COLUMNS)
    assert parsed == ParsedAnswer([], "json", 1, FAILURE_UNREADABLE)


def test_truncated_single_row_object():
    parsed = parse_answer('{"age": 65, "sex": "Male", "tags": [1, 2', COLUMNS)
    assert parsed == ParsedAnswer([], "json", 1, FAILURE_UNREADABLE)


def test_python_style_dict_counted():
    parsed = parse_answer("{'age': 65, 'sex': 'Male', 'death': 1}", COLUMNS)
    assert parsed == ParsedAnswer([], "json", 1, FAILURE_UNREADABLE)


# CSV shapes


def test_csv_with_header():
    parsed = parse_answer("age,sex,death\n65,Male,1\n70.5,Female,0\n", COLUMNS)
    expected = [
        {"age": "65", "sex": "Male", "death": "1"},
        {"age": "70.5", "sex": "Female", "death": "0"},
    ]
    _check(parsed, expected, "csv", 0)


def test_csv_in_fence_with_prose():
    text = "Here you go:\n```csv\nAge, Sex, Death\n65, Male, 1\n```\nThese are synthetic, as asked."
    _check(parse_answer(text, COLUMNS), [{"Age": "65", "Sex": "Male", "Death": "1"}], "csv", 0)


def test_csv_quoted_fields():
    text = 'age,sex,death\n65,"Male, retired",1\n"70.5","She said ""hi""",0\n'
    expected = [
        {"age": "65", "sex": "Male, retired", "death": "1"},
        {"age": "70.5", "sex": 'She said "hi"', "death": "0"},
    ]
    _check(parse_answer(text, COLUMNS), expected, "csv", 0)


def test_csv_wrong_field_count_counted():
    text = "age,sex,death\n65,Male,1\n70,Female\n71,Male,0,extra\n81,Female,1\n"
    parsed = parse_answer(text, COLUMNS)
    expected = [CSV_ROW_65, CSV_ROW_81]
    _check(parsed, expected, "csv", 2)


def test_csv_truncated_last_line():
    for cut in ("age,sex,death\n65,Male,1\n70.5,Fem", "age,sex,death\n65,Male,1\n70."):
        _check(parse_answer(cut, COLUMNS), [{"age": "65", "sex": "Male", "death": "1"}], "csv", 1)


def test_csv_prose_after_table_not_counted():
    text = "age,sex,death\n65,Male,1\n\nNote: these rows are synthetic, not real.\nThanks"
    _check(parse_answer(text, COLUMNS), [{"age": "65", "sex": "Male", "death": "1"}], "csv", 0)


def test_csv_blank_lines_between_rows():
    text = "age,sex,death\n65,Male,1\n\n\n81,Female,1\n"
    expected = [CSV_ROW_65, CSV_ROW_81]
    _check(parse_answer(text, COLUMNS), expected, "csv", 0)


def test_csv_repeated_header_skipped():
    text = "age,sex,death\n65,Male,1\nage,sex,death\n81,Female,1\n"
    assert len(parse_answer(text, COLUMNS).records) == 2


def test_csv_header_with_repeated_name_counted():
    parsed = parse_answer("age,age,death\n65,66,1\n70,71,0\n", COLUMNS)
    assert parsed == ParsedAnswer([], "csv", 2, FAILURE_UNREADABLE)


def test_markdown_table():
    text = "| age | sex | death |\n|-----|:---:|------:|\n| 65 | Male | 1 |\n| 81 | Female | 1 |\n"
    expected = [CSV_ROW_65, CSV_ROW_81]
    _check(parse_answer(text, COLUMNS), expected, "csv", 0)


def test_tab_separated():
    parsed = parse_answer("age\tsex\tdeath\n65\tMale\t1\n", COLUMNS)
    _check(parsed, [{"age": "65", "sex": "Male", "death": "1"}], "csv", 0)


def test_csv_with_brackets_in_prose():
    text = "Values follow {the schema} [1].\nage,sex,death\n65,Male,1\n"
    _check(parse_answer(text, COLUMNS), [{"age": "65", "sex": "Male", "death": "1"}], "csv", 0)


def test_csv_quoted_field_spans_lines():
    text = 'age,sex,death\n65,"Male\nretired",1\n"81\n",Female,1\n70,Male,0\n'
    parsed = parse_answer(text, COLUMNS)
    expected = [
        {"age": "65", "sex": "Male\nretired", "death": "1"},
        CSV_ROW_81,
        {"age": "70", "sex": "Male", "death": "0"},
    ]
    _check(parsed, expected, "csv", 0)


def test_csv_unclosed_quote_counted():
    text = 'age,sex,death\n65,Male,1\n"70,Female\n81,Female,1\n'
    _check(parse_answer(text, COLUMNS), [CSV_ROW_65, CSV_ROW_81], "csv", 1)


def test_csv_prose_line_inside_table():
    text = "age,sex,death\n65,Male,1\nHere is one more:\n81,Female,1\n"
    _check(parse_answer(text, COLUMNS), [CSV_ROW_65, CSV_ROW_81], "csv", 0)


def test_csv_prose_between_blank_lines():
    text = "age,sex,death\n65,Male,1\n\nMore rows, as asked:\n\n81,Female,1\n"
    _check(parse_answer(text, COLUMNS), [CSV_ROW_65, CSV_ROW_81], "csv", 0)


@pytest.mark.parametrize(
    "second",
    [
        "sex,death,age\nFemale,1,81\n",
        "| age | sex | death |\n|---|---|---|\n| 81 | Female | 1 |\n",
        "age\tsex\tdeath\n81\tFemale\t1\n",
    ],
    ids=["other order", "markdown", "tabs"],
)
def test_csv_second_table_with_other_header(second):
    parsed = parse_answer("age,sex,death\n65,Male,1\n\n" + second, COLUMNS)
    assert parsed.records == [CSV_ROW_65, CSV_ROW_81]
    assert parsed.unparseable_fragments == 0


def test_csv_without_header_not_read():
    parsed = parse_answer("65,Male,1\n70,Female,0\n", COLUMNS)
    assert parsed == ParsedAnswer([], "none", 0, FAILURE_NO_ROWS)


# Containers and their headers


@pytest.mark.parametrize("key", ["columns", "Header", " FIELDS "])
def test_container_header_maps_list_rows(key):
    rows = [["Male", 1, 65], ["Female", 0, 70.5]]
    text = json.dumps({key: ["sex", "death", "age"], "rows": rows})
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_container_header_of_unknown_names_counted():
    rows = [[65, "Male", 1], [81, "F", 1]]
    text = json.dumps({"columns": ["age", "gender", "death"], "rows": rows})
    assert parse_answer(text, COLUMNS) == ParsedAnswer([], "json", 2, FAILURE_UNREADABLE)


def test_container_header_not_a_list_counted():
    text = json.dumps({"columns": "age, sex, death", "rows": [[65, "Male", 1]]})
    assert parse_answer(text, COLUMNS) == ParsedAnswer([], "json", 1, FAILURE_UNREADABLE)


def test_container_header_ignored_for_object_rows():
    text = json.dumps({"columns": ["gender"], "rows": [ROW_1]})
    _check(parse_answer(text, COLUMNS), [ROW_1], "json", 0)


def test_truncated_container_keeps_header():
    text = '{"columns": ["sex", "death", "age"], "rows": [["Male", 1, 65], ["Female", 0, 7'
    _check(parse_answer(text, COLUMNS), [ROW_1], "json", 1)


def test_truncated_container_with_invalid_header_counted():
    text = '{"columns": "sex,death,age", "rows": [["Male", 1, 65], ["Fem'
    assert parse_answer(text, COLUMNS) == ParsedAnswer([], "json", 2, FAILURE_UNREADABLE)


def test_repeated_rows_key_keeps_header():
    text = (
        '{"header": ["sex", "death", "age"], "rows": [["Male", 1, 65]], '
        '"rows": [["Female", 0, 70.5]]}'
    )
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_header_split_container():
    text = json.dumps({"columns": ["death", "age", "sex"], "data": [[1, 65, "Male"]]})
    _check(parse_answer(text, COLUMNS), [ROW_1], "json", 0)


def test_rows_one_level_down():
    text = json.dumps({"data": {"rows": [ROW_1, ROW_2]}, "count": 2})
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_rows_list_beside_other_list():
    text = json.dumps({"records": [ROW_1, ROW_2], "notes": ["synthetic"]})
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_rows_keyed_by_id():
    text = json.dumps({"rows": {"p1": ROW_1, "p2": ROW_2}})
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_repeated_rows_key_reads_both():
    first, second, third = (json.dumps(row) for row in (ROW_1, ROW_2, ROW_3))
    text = f'{{"rows": [{first}], "rows": [{second}, {third}]}}'
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2, ROW_3], "json", 0)


def test_rows_keys_in_two_cases_read_both():
    text = json.dumps({"rows": [ROW_1], "Rows": [ROW_2, ROW_3]})
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2, ROW_3], "json", 0)


# JSON hidden behind other brackets


def test_unclosed_brace_in_prose_before_json():
    text = 'The format is {"rows" followed by the rows:\n' + _json_rows(ROW_1, ROW_2)
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_truncated_attempt_before_full_answer():
    first = '{"rows": [' + json.dumps(ROW_1) + ', {"age": 70, "se\nSorry, again:\n'
    text = first + _json_rows(ROW_2, ROW_3)
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2, ROW_3], "json", 1)


def test_truncated_attempt_nesting_full_answer():
    first = '{"rows": [' + json.dumps(ROW_1) + ', {"age": 70, \nSorry, again:\n'
    text = first + _json_rows(ROW_2, ROW_3)
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2, ROW_3], "json", 1)


def test_python_dict_with_bracket_before_json():
    text = "{'note': 'a [ bracket'} " + _json_rows(ROW_1, ROW_2)
    _check(parse_answer(text, COLUMNS), [ROW_1, ROW_2], "json", 0)


def test_objects_inside_unclosed_prose_not_read():
    parsed = parse_answer('{"rows": [{"a": {"b": 1}, "c', COLUMNS)
    assert parsed == ParsedAnswer([], "json", 1, FAILURE_UNREADABLE)


# JSON and CSV in one answer


def test_prose_json_object_before_csv():
    text = 'Settings: {"temperature": 0.7}\nage,sex,death\n65,Male,1\n81,Female,1\n'
    _check(parse_answer(text, COLUMNS), [CSV_ROW_65, CSV_ROW_81], "csv", 0)


def test_csv_beside_json_rows_counted():
    text = _json_rows(ROW_1) + "\n\nage,sex,death\n81,Female,1\n70,Male,0\n"
    _check(parse_answer(text, COLUMNS), [ROW_1], "json", 2)


def test_json_header_list_not_read_as_csv():
    text = json.dumps([COLUMNS, [65, "Male", 1]], indent=1)
    _check(parse_answer(text, COLUMNS), [ROW_1], "json", 0)


@pytest.mark.parametrize(
    "text",
    ["\ufeffage,sex,death\n65,Male,1\n", "```csv\n\ufeffage,sex,death\n65,Male,1\n```"],
    ids=["start", "after fence"],
)
def test_csv_byte_order_mark_ignored(text):
    _check(parse_answer(text, COLUMNS), [CSV_ROW_65], "csv", 0)


def test_json_byte_order_mark_ignored():
    _check(parse_answer("\ufeff" + _json_rows(ROW_1), COLUMNS), [ROW_1], "json", 0)


# Answers without rows


@pytest.mark.parametrize(
    ("text", "failure"),
    [
        ("", FAILURE_EMPTY),
        ("  \n\t ", FAILURE_EMPTY),
        ("I'm sorry, I can't help with generating patient records.", FAILURE_REFUSAL),
        ("I\u2019m sorry, but I cannot do that.", FAILURE_REFUSAL),
        ("As an AI language model, I must decline.", FAILURE_REFUSAL),
        ("Patients in the ICU are often older, and many have sepsis.", FAILURE_NO_ROWS),
        ("Use the {format} shown [here].", FAILURE_NO_ROWS),
    ],
)
def test_answers_without_rows(text, failure):
    assert parse_answer(text, COLUMNS) == ParsedAnswer([], "none", 0, failure)


def test_invalid_arguments_raise():
    with pytest.raises(TypeError, match="text"):
        parse_answer(b"[]", COLUMNS)
    with pytest.raises(TypeError, match="columns"):
        parse_answer("[]", "age")
    with pytest.raises(ValueError, match="columns"):
        parse_answer("[]", [])
    with pytest.raises(ValueError, match="duplicate"):
        parse_answer("[]", ["age", "age"])


# Run time


def test_large_answer_parses_quickly():
    rows = [{"age": 40 + index % 50, "sex": "Female", "death": index % 2} for index in range(2500)]
    text = _json_rows(*rows)
    assert len(text) > 100_000

    started = time.perf_counter()
    parsed = parse_answer(text[:-10], COLUMNS)
    elapsed = time.perf_counter() - started

    assert len(parsed.records) == 2499
    assert parsed.unparseable_fragments == 1
    assert elapsed < 2.0


@pytest.mark.parametrize(
    "text",
    [
        "{" * 100_000,
        '{"' * 50_000,
        "[" * 100_000,
        "[" * 50_000 + "]" * 50_000,
        "[{" * 50_000,
        '{"a": 1}' * 12_500,
        '"' * 100_000,
        "\\" * 100_000,
        "\n" * 100_000 + "age,sex,death\n1,2,3",
        "age,sex,death\n" + "\n" * 100_000 + "1,2,3",
        "age,sex,death\n" + "1,2\n" * 25_000,
        ",,,|||;;;\t\t\t" * 8_000,
        '{"a" ' * 20_000,
        "[" + '[{"age": 1}]' * 8_000,
        "[" + "[[]]" * 25_000,
        '{"rows": [' + '{"age": 1, "b\n' * 6_000,
        "age,sex,death\n" + '"1,2\n' * 25_000,
        "age,sex,death\n" + '"1\n' + "1,2\n" * 25_000,
        "age,sex,death\n" + "prose\n1,Male,0\nage,sex,death\n" * 8_000,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_adversarial_answer_parses_quickly(text):
    started = time.perf_counter()
    parsed = parse_answer(text, COLUMNS)
    assert time.perf_counter() - started < 2.0
    assert all(isinstance(record, dict) for record in parsed.records)


# Property tests

_JSONISH = st.text(alphabet=list('{}[]",:\n `\\ agesxdth0123456789.-rowsnulTF'), max_size=200)
_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "age": st.one_of(
                st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False)
            ),
            "sex": st.text(max_size=8),
            "death": st.sampled_from([0, 1]),
        }
    ),
    min_size=1,
    max_size=5,
)


def _check_invariants(parsed: ParsedAnswer) -> None:
    assert all(isinstance(record, dict) for record in parsed.records)
    assert parsed.unparseable_fragments >= 0
    assert parsed.format in ("json", "csv", "none")
    assert (parsed.failure == "") == bool(parsed.records)


@settings(deadline=None)
@given(st.one_of(st.text(), _JSONISH))
def test_arbitrary_text_never_raises(text):
    _check_invariants(parse_answer(text, COLUMNS))


def _render(rows: list[dict], shape: str) -> str:
    if shape == "json":
        return json.dumps({"rows": rows})
    if shape == "lists":
        return json.dumps([[row[name] for name in COLUMNS] for row in rows])
    if shape == "fenced":
        return "Here:\n```json\n" + json.dumps(rows, indent=1) + "\n```\nDone."
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_ROWS,
    shape=st.sampled_from(["json", "lists", "fenced", "csv"]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["cut", "delete", "insert"]), st.floats(0, 1), st.text(max_size=3)
        ),
        max_size=4,
    ),
)
def test_mutated_answer_never_raises(rows, shape, edits):
    text = _render(rows, shape)
    for kind, fraction, junk in edits:
        position = int(fraction * len(text))
        if kind == "cut":
            text = text[:position]
        elif kind == "delete":
            text = text[:position] + text[position + 1 :]
        else:
            text = text[:position] + junk + text[position:]
    _check_invariants(parse_answer(text, COLUMNS))


@settings(deadline=None)
@given(rows=_ROWS, fraction=st.floats(0, 1))
def test_truncated_json_recovers_prefix_rows(rows, fraction):
    prefix = '{"rows": ['
    spans = []
    text = prefix
    for index, row in enumerate(rows):
        if index:
            text += ", "
        start = len(text)
        text += json.dumps(row)
        spans.append((start, len(text)))
    text += "]}"
    cut = int(fraction * len(text))

    parsed = parse_answer(text[:cut], COLUMNS)

    if cut <= len(prefix):
        assert parsed.records == []
        return
    complete = sum(1 for _, end in spans if end <= cut)
    assert parsed.records == rows[:complete]
    inside_row = any(start < cut < end for start, end in spans)
    assert parsed.unparseable_fragments == (1 if inside_row else 0)
