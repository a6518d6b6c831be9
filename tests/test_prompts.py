"""Tests of the four prompt strategies on RHC: redaction, templates, seeds, batch plans, formats.

The redaction checks take the example rows that a prompt shows and search its redacted text
for each value that is real patient data. Such values are the numbers with a decimal point and
the categories that the prompt's data dictionary does not list anyway. The dictionary is made
of the column descriptions, category lists, constraints and instructions.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset, build_subsets
from ehrbench.features.dependencies import dependency_order
from ehrbench.prompts import REDACTED, STRATEGIES, Prompt, PromptContext, PromptStrategy, get_strategy
from ehrbench.prompts.base import SYSTEM_MESSAGE, describe_column, output_instructions, sample_examples, show_value
from ehrbench.prompts.group_based import MIN_GROUP_ROWS, eligible_groups
from ehrbench.prompts.response_schema import answer_schema, column_schema
from ehrbench.prompts.strategy import split_rows
from ehrbench.schema import TableSchema

STRATEGY_NAMES = ("naive", "schema", "conditional", "group")
FORMATS = ("json", "json-arrays", "csv")
ROWS = 10
ROWS_PER_REQUEST = 5
EXAMPLE_ROWS = 5
CONDITIONAL_ROOTS = ["race", "sex", "age"]

#: Strategies whose prompt contains the column specification, with every category list.
SPECIFYING_STRATEGIES = {"schema", "conditional", "group"}

#: The race-by-sex groups of RHC. Each has far more than MIN_GROUP_ROWS training rows.
RHC_GROUPS = {
    (("race", race), ("sex", sex)) for race in ("black", "other", "white") for sex in ("Female", "Male")
}

#: Keys that would carry observed values into a JSON schema.
VALUE_KEYS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const", "default", "examples"}


@pytest.fixture(scope="module")
def subset(prepared: PreparedDataset) -> FeatureSubset:
    return build_subsets(prepared, (10,))[0]


@pytest.fixture(scope="module")
def all_features(prepared: PreparedDataset) -> FeatureSubset:
    return build_subsets(prepared, ("all",))[0]


def build_batches(
    prepared: PreparedDataset,
    strategy: PromptStrategy,
    subset: FeatureSubset,
    output_format: str = "json",
    replicate: int = 0,
) -> list[tuple[PromptContext, Prompt]]:
    """Return the context and prompt of every batch of a case of ROWS rows."""
    schema = strategy.generation_schema(prepared, subset)
    plans = strategy.plan_batches(prepared, schema, ROWS, ROWS_PER_REQUEST)
    batches = []
    for index, plan in enumerate(plans):
        context = PromptContext(
            prepared, schema, plan.rows, replicate, index, output_format=output_format, group=plan.group
        )
        batches.append((context, strategy.build(context)))
    return batches


@pytest.fixture(scope="module")
def built(prepared: PreparedDataset, subset: FeatureSubset) -> dict[tuple[str, str], list]:
    return {
        (name, output_format): build_batches(prepared, get_strategy(name), subset, output_format)
        for name in STRATEGY_NAMES
        for output_format in FORMATS
    }


def example_rows(context: PromptContext) -> pd.DataFrame:
    """Return the training rows the prompt of ``context`` shows: of its group, if it has one."""
    pool = context.prepared.train
    for column, value in context.group:
        pool = pool[pool[column] == value]
    return sample_examples(context, pool)


def public_text(context: PromptContext, strategy: str) -> str:
    """Return the text a prompt of ``strategy`` may show unredacted: data dictionary and instructions."""
    schema = context.schema
    parts = [context.prepared.dataset.title, SYSTEM_MESSAGE]
    for column in schema.columns:
        parts.append(describe_column(column))
        if strategy in SPECIFYING_STRATEGIES:
            parts.extend(column.categories)
    parts.extend(rule.text for rule in context.prepared.dataset.constraints())
    parts.append(output_instructions(schema, context.rows_requested, context.output_format))
    return "\n".join(parts)


def sensitive_values(rows: pd.DataFrame, schema: TableSchema, public: str) -> list[str]:
    """Return the shown values of ``rows`` that are patient data and absent from ``public``."""
    values = []
    for _, row in rows.iterrows():
        for column in schema.columns:
            value = row[column.name]
            if pd.isna(value):
                continue
            if column.kind == "categorical" and value not in public:
                values.append(value)
            elif column.kind == "numeric" and "." in show_value(value):
                values.append(show_value(value))
    return values


def contains_value(text: str, value: str) -> bool:
    return re.search(r"(?<![\w.])" + re.escape(value) + r"(?!\w)", text) is not None


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def example_lines(prompt: Prompt, text: str) -> list[str]:
    """Return the example lines of ``text`` in the prompt's output format (CSV: without header)."""
    lines = text.splitlines()
    if prompt.output_format == "csv":
        start = lines.index(",".join(prompt.schema.names)) + 1
        return lines[start : start + EXAMPLE_ROWS]
    opening = "{" if prompt.output_format == "json" else "["
    return [line for line in lines if line.startswith(opening)]


def check_cell(cell: object, value: object, kind: str) -> None:
    if pd.isna(value):
        assert cell in (None, "")
    elif kind == "categorical":
        assert cell == value
    else:
        assert float(cell) == pytest.approx(float(value), rel=5e-4)


# Redaction.


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_redacted_text_hides_example_values(built: dict, name: str, output_format: str) -> None:
    checked = 0
    for context, prompt in built[name, output_format]:
        for value in sensitive_values(example_rows(context), context.schema, public_text(context, name)):
            assert contains_value(prompt.user, value), value
            assert not contains_value(prompt.redacted_user, value), value
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_redacted_text_has_only_public_numbers(built: dict, name: str, output_format: str) -> None:
    for context, prompt in built[name, output_format]:
        allowed = numbers(public_text(context, name))
        allowed |= {str(context.rows_requested), str(context.batch + 1), str(context.replicate), str(context.seed)}
        allowed |= {str(step) for step in range(1, len(context.schema.names) + 1)}
        assert numbers(prompt.redacted_user) <= allowed
        assert numbers(prompt.user) - allowed


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_redacted_text_keeps_template(built: dict, name: str, output_format: str) -> None:
    for _, prompt in built[name, output_format]:
        pieces = prompt.redacted_user.split(REDACTED)
        assert len(pieces) > EXAMPLE_ROWS

        pattern = "([^\n]*?)".join(re.escape(piece) for piece in pieces)
        match = re.fullmatch(pattern, prompt.user, flags=re.DOTALL)
        assert match is not None
        assert REDACTED not in prompt.user


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_redacted_examples_are_placeholders(built: dict, name: str, output_format: str) -> None:
    for _, prompt in built[name, output_format]:
        names = prompt.schema.names
        if output_format == "json":
            expected = "{" + ", ".join(f'"{column}": {REDACTED}' for column in names) + "}"
        elif output_format == "json-arrays":
            expected = "[" + ", ".join([REDACTED] * len(names)) + "]"
        else:
            expected = ",".join([REDACTED] * len(names))
        assert example_lines(prompt, prompt.redacted_user) == [expected] * EXAMPLE_ROWS


def test_redacted_system_message_is_public(built: dict) -> None:
    for _, prompt in built["naive", "json"]:
        assert prompt.system == SYSTEM_MESSAGE
        assert REDACTED not in prompt.system


# Seeds.


def test_seed_differs_between_batches_and_replicates(prepared: PreparedDataset, subset: FeatureSubset) -> None:
    strategy = get_strategy("naive")
    prompts = []
    for replicate in (0, 1):
        prompts += [prompt for _, prompt in build_batches(prepared, strategy, subset, replicate=replicate)]
    seeds = [prompt.seed for prompt in prompts]
    assert len(seeds) == 4
    assert len(set(seeds)) == 4

    for prompt in prompts:
        assert 0 <= prompt.seed < 2**31
        assert f"seed {prompt.seed}." in prompt.user
        assert f"seed {prompt.seed}." in prompt.redacted_user


def test_seed_differs_between_groups(built: dict) -> None:
    seeds = [prompt.seed for _, prompt in built["group", "json"]]
    assert len(set(seeds)) == len(seeds)


def test_seed_stable_across_builds(built: dict, prepared: PreparedDataset, subset: FeatureSubset) -> None:
    copy = dataclasses.replace(prepared, train=prepared.train.copy())
    again = build_batches(copy, get_strategy("schema"), subset)
    assert [prompt.seed for _, prompt in again] == [prompt.seed for _, prompt in built["schema", "json"]]
    assert [prompt.user for _, prompt in again] == [prompt.user for _, prompt in built["schema", "json"]]


def test_seed_stable_across_processes(built: dict) -> None:
    context, prompt = built["group", "json"][1]
    script = (
        "import sys, types\n"
        "from ehrbench.prompts import PromptContext\n"
        "from ehrbench.schema import Column, TableSchema\n"
        "names, group = eval(sys.argv[1]), eval(sys.argv[2])\n"
        "schema = TableSchema(tuple(Column(name, 'numeric') for name in names), names[-1])\n"
        "context = PromptContext(types.SimpleNamespace(name='rhc'), schema, 2, 0, 1, group=group)\n"
        "print(context.seed)\n"
    )
    arguments = [repr(context.schema.names), repr(context.group)]
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments], capture_output=True, text=True, env=environment, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == prompt.seed


# Batch plans.


def test_split_rows_sizes() -> None:
    assert [plan.rows for plan in split_rows(12, 5)] == [5, 5, 2]
    assert [plan.rows for plan in split_rows(10, 5)] == [5, 5]


def test_split_rows_rejects_zero_batch_size() -> None:
    with pytest.raises(ValueError, match="rows_per_request must be at least 1, got 0"):
        split_rows(10, 0)


def test_unknown_strategy_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="'fancy' is unknown") as error:
        get_strategy("fancy")
    for name in STRATEGIES:
        assert name in str(error.value)


@pytest.mark.parametrize(("rows", "rows_per_request"), [(10, 5), (25, 2), (6, 10)])
def test_group_plan_gives_equal_rows_per_group(
    prepared: PreparedDataset, subset: FeatureSubset, rows: int, rows_per_request: int
) -> None:
    strategy = get_strategy("group")
    schema = strategy.generation_schema(prepared, subset)
    plans = strategy.plan_batches(prepared, schema, rows, rows_per_request)

    per_group = collections.Counter()
    for plan in plans:
        assert 1 <= plan.rows <= rows_per_request
        per_group[plan.group] += plan.rows
    assert set(per_group) == RHC_GROUPS
    assert len(set(per_group.values())) == 1
    assert sum(per_group.values()) >= rows


def test_small_group_not_planned(prepared: PreparedDataset, subset: FeatureSubset) -> None:
    train = prepared.train
    in_group = (train["race"] == "other") & (train["sex"] == "Female")
    remaining = train[~in_group | (in_group.cumsum() < MIN_GROUP_ROWS)]
    assert ((remaining["race"] == "other") & (remaining["sex"] == "Female")).sum() == MIN_GROUP_ROWS - 1
    smaller = dataclasses.replace(prepared, train=remaining.reset_index(drop=True))

    small = (("race", "other"), ("sex", "Female"))
    assert set(eligible_groups(smaller)) == RHC_GROUPS - {small}

    strategy = get_strategy("group")
    plans = strategy.plan_batches(smaller, strategy.generation_schema(smaller, subset), ROWS, ROWS_PER_REQUEST)
    assert small not in {plan.group for plan in plans}


def test_group_schema_includes_group_columns(built: dict, subset: FeatureSubset) -> None:
    for _, prompt in built["group", "json"]:
        assert prompt.schema.names == ["race", "sex", *subset.features, "death"]


def test_group_schema_keeps_columns_once(prepared: PreparedDataset, all_features: FeatureSubset) -> None:
    schema = get_strategy("group").generation_schema(prepared, all_features)
    assert sorted(schema.names) == sorted(prepared.schema.names)


def test_group_examples_belong_to_group(built: dict) -> None:
    for context, prompt in built["group", "json"]:
        group = dict(context.group)
        condition = " and ".join(f'{column} = "{value}"' for column, value in context.group)
        assert f"belongs to the group {condition}." in prompt.user

        records = [json.loads(line) for line in example_lines(prompt, prompt.user)]
        assert len(records) == EXAMPLE_ROWS
        for record in records:
            assert record["race"] == group["race"]
            assert record["sex"] == group["sex"]


# The conditional strategy.


def test_conditional_schema_follows_dependency_order(
    prepared: PreparedDataset, subset: FeatureSubset, built: dict
) -> None:
    expected = dependency_order(prepared.train, prepared.schema.select(list(subset.features)), CONDITIONAL_ROOTS)
    columns = [step.column for step in expected]

    for _, prompt in built["conditional", "json"]:
        assert prompt.schema.names == columns
        steps = re.findall(r"^(\d+)\. (\w+)", prompt.user, flags=re.MULTILINE)
        assert steps == [(str(number), column) for number, column in enumerate(columns, start=1)]
        first_example = json.loads(example_lines(prompt, prompt.user)[0])
        assert list(first_example) == columns


def test_conditional_starts_with_demographics(prepared: PreparedDataset, all_features: FeatureSubset) -> None:
    schema = get_strategy("conditional").generation_schema(prepared, all_features)
    assert schema.names[:3] == CONDITIONAL_ROOTS
    assert schema.names[-1] == "death"
    assert sorted(schema.names) == sorted(prepared.schema.names)


# Output formats.


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_json_examples_are_objects(built: dict, name: str) -> None:
    for context, prompt in built[name, "json"]:
        rows = example_rows(context)
        records = [json.loads(line) for line in example_lines(prompt, prompt.user)]
        assert len(records) == EXAMPLE_ROWS
        for record, (_, row) in zip(records, rows.iterrows()):
            assert list(record) == prompt.schema.names
            for column in prompt.schema.columns:
                check_cell(record[column.name], row[column.name], column.kind)
        assert "each an object with the keys" in prompt.user


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_json_array_examples_are_arrays(built: dict, name: str) -> None:
    for context, prompt in built[name, "json-arrays"]:
        rows = example_rows(context)
        records = [json.loads(line) for line in example_lines(prompt, prompt.user)]
        assert len(records) == EXAMPLE_ROWS
        for record, (_, row) in zip(records, rows.iterrows()):
            assert isinstance(record, list)
            assert len(record) == len(prompt.schema.names)
            for cell, column in zip(record, prompt.schema.columns):
                check_cell(cell, row[column.name], column.kind)
        assert "each an array of the values of" in prompt.user
        assert not [line for line in prompt.user.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_csv_examples_have_header_and_cells(built: dict, name: str) -> None:
    for context, prompt in built[name, "csv"]:
        rows = example_rows(context)
        lines = example_lines(prompt, prompt.user)
        records = list(csv.reader(lines))
        assert len(records) == EXAMPLE_ROWS
        for record, (_, row) in zip(records, rows.iterrows()):
            assert len(record) == len(prompt.schema.names)
            for cell, column in zip(record, prompt.schema.columns):
                check_cell(cell, row[column.name], column.kind)
        assert "Answer with CSV only" in prompt.user

        redacted = list(csv.reader(example_lines(prompt, prompt.redacted_user)))
        assert redacted == [[REDACTED] * len(prompt.schema.names)] * EXAMPLE_ROWS


def test_examples_are_training_rows(built: dict, prepared: PreparedDataset) -> None:
    _, prompt = built["naive", "json"][0]
    names = prompt.schema.names
    training = {tuple(show_value(value) for value in row) for row in prepared.train[names].itertuples(index=False)}

    lines = example_lines(prompt, prompt.user)
    assert len(lines) == EXAMPLE_ROWS
    for line in lines:
        record = json.loads(line)
        values = tuple(show_value(record[name]) for name in names)
        assert values in training


# The JSON schema of the response.


def unwrap(cell: dict) -> dict:
    if "anyOf" in cell:
        assert cell["anyOf"][1] == {"type": "null"}
        return cell["anyOf"][0]
    return cell


def walk(document: object):
    """Yield every (key, value) pair and every bare number of a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield key, value
            yield from walk(value)
    elif isinstance(document, list):
        for item in document:
            yield from walk(item)
    elif isinstance(document, (int, float)) and not isinstance(document, bool):
        yield None, document


def test_answer_schema_cell_types(prepared: PreparedDataset) -> None:
    schema = prepared.schema
    properties = answer_schema(schema, ROWS)["properties"]["rows"]["items"]["properties"]
    assert list(properties) == schema.names

    for column in schema.columns:
        cell = unwrap(properties[column.name])
        if column.kind == "categorical":
            assert cell == {"type": "string", "enum": list(column.categories)}, column.name
        elif column.kind == "binary":
            assert cell == {"type": "integer", "enum": [0, 1]}, column.name
        else:
            assert cell == {"type": "integer" if column.integer else "number"}, column.name


def test_answer_schema_null_only_where_missing(prepared: PreparedDataset) -> None:
    schema = prepared.schema
    properties = answer_schema(schema, ROWS)["properties"]["rows"]["items"]["properties"]
    nullable = {name for name, cell in properties.items() if "anyOf" in cell}
    missing = {column.name for column in schema.columns if column.missing_rate > 0}
    assert nullable == missing
    assert {"cat2", "wtkilo1"} <= nullable
    assert "age" not in nullable


@pytest.mark.parametrize("arrays", [False, True])
def test_answer_schema_carries_no_observed_values(prepared: PreparedDataset, arrays: bool) -> None:
    schema = prepared.schema
    document = answer_schema(schema, ROWS, arrays=arrays)
    pairs = list(walk(document))
    assert not VALUE_KEYS & {key for key, _ in pairs}

    bare_numbers = {value for key, value in pairs if key is None}
    assert bare_numbers <= {0, 1, ROWS, len(schema.columns)}
    observed = {column.maximum for column in schema.columns if column.maximum not in (None, 0.0, 1.0)}
    assert not observed & bare_numbers


def test_answer_schema_object_records(prepared: PreparedDataset, subset: FeatureSubset) -> None:
    schema = prepared.schema.select(list(subset.features))
    rows = answer_schema(schema, 7)["properties"]["rows"]
    assert rows["minItems"] == rows["maxItems"] == 7
    assert rows["items"]["required"] == schema.names
    assert rows["items"]["additionalProperties"] is False


def test_answer_schema_array_records(prepared: PreparedDataset, subset: FeatureSubset) -> None:
    schema = prepared.schema.select(list(subset.features))
    record = answer_schema(schema, 7, arrays=True)["properties"]["rows"]["items"]
    assert record["prefixItems"] == [column_schema(column) for column in schema.columns]
    assert record["minItems"] == record["maxItems"] == len(schema.names)
    assert record["items"] is False
