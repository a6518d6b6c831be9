"""Tests of the statistics-only prompt strategy: no patient row, small cells suppressed, redaction.

The RHC tests search each message for every training row written as JSON, CSV and key=value.
The tiny-table tests use a hand-built prepared dataset whose counts are known, so a
suppressed count, or one that follows by subtraction, can be searched for directly.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import openai_stub
from ehrbench.cli import build_parser
from ehrbench.criteria.evaluation import Evaluator
from ehrbench.datasets import Dataset, PreparedDataset
from ehrbench.features import FeatureSubset, build_subsets
from ehrbench.generators.base import GenerationResult
from ehrbench.generators.llm import generate_llm
from ehrbench.prompts import REDACTED, STRATEGIES, Prompt, PromptContext, get_strategy
from ehrbench.prompts.base import describe_column, format_rows, output_instructions, show_value
from ehrbench.prompts.statistics_only import (
    MIN_CELL_SIZE,
    MIN_REPORTED_CORRELATION,
    PERCENTILES,
    StatisticsOnlyPrompt,
    column_frequencies,
    spearman_correlations,
    suppressed_cells,
)
from ehrbench.providers import ModelConfig
from ehrbench.pytest_plugin import DEFAULT_STRATEGIES
from ehrbench.recording import LLMCase, build_prompts
from ehrbench.schema import ColumnKind, infer_schema
from openai_stub import OpenAIStub

FEATURE_SETS = (5, 10, 20)
FORMATS = ("json", "json-arrays", "csv")
ROWS = 10
ROWS_PER_REQUEST = 5
KEY_VARIABLE = "EHRBENCH_TEST_STATISTICS_KEY"

#: A number as the message writes it: an optional minus sign, digits, an optional fraction.
NUMBER = r"-?\d+(?:\.\d+)?"


@pytest.fixture(scope="module")
def subsets(prepared: PreparedDataset) -> dict[int, FeatureSubset]:
    return {subset.size: subset for subset in build_subsets(prepared, FEATURE_SETS)}


@pytest.fixture(scope="module")
def strategy() -> StatisticsOnlyPrompt:
    return get_strategy("statistics")


def build_batches(
    prepared: PreparedDataset, strategy, subset: FeatureSubset, output_format: str = "json"
) -> list[tuple[PromptContext, Prompt]]:
    schema = strategy.generation_schema(prepared, subset)
    plans = strategy.plan_batches(prepared, schema, ROWS, ROWS_PER_REQUEST)
    batches = []
    for index, plan in enumerate(plans):
        context = PromptContext(prepared, schema, plan.rows, 0, index, output_format=output_format)
        batches.append((context, strategy.build(context)))
    return batches


@pytest.fixture(scope="module")
def built(prepared, subsets, strategy) -> dict[tuple[int, str], list[tuple[PromptContext, Prompt]]]:
    return {
        (size, output_format): build_batches(prepared, strategy, subsets[size], output_format)
        for size in FEATURE_SETS
        for output_format in FORMATS
    }


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def public_numbers(context: PromptContext) -> set[str]:
    """Return the numbers of the data dictionary, the instructions and the template constants."""
    parts = [context.prepared.dataset.title]
    for column in context.schema.columns:
        parts.append(describe_column(column))
        parts.extend(column.categories)
    parts.extend(rule.text for rule in context.prepared.dataset.constraints())
    parts.append(output_instructions(context.schema, context.rows_requested, context.output_format))
    allowed = numbers("\n".join(parts))
    allowed |= {str(MIN_CELL_SIZE), str(MIN_REPORTED_CORRELATION), *(str(q) for q in PERCENTILES)}
    allowed |= {str(context.rows_requested), str(context.batch + 1), str(context.replicate), str(context.seed)}
    return allowed


def row_forms(rows: pd.DataFrame, schema) -> dict[str, list[str]]:
    """Return every row of ``rows`` written as a JSON object, a JSON array, a CSV line and key=value pairs."""
    forms = {
        "json": format_rows(rows, schema, "json", show_value).splitlines(),
        "json-arrays": format_rows(rows, schema, "json-arrays", show_value).splitlines(),
        "csv": format_rows(rows, schema, "csv", show_value).splitlines()[1:],
    }
    forms["key=value"] = [
        ", ".join(f"{name}={show_value(value)}" for name, value in zip(schema.names, row))
        for row in rows[schema.names].itertuples(index=False)
    ]
    return forms


def row_pattern(row: tuple, schema) -> re.Pattern:
    """Return a regex that finds the row's non-missing values in column order on one line.

    Any text without a line break may lie between two values, so the pattern finds a row in
    any layout: JSON, CSV, key=value or prose. A number must not be part of a longer number or
    of a name such as ``p25``.
    """
    parts = []
    for column, value in zip(schema.columns, row):
        if pd.isna(value):
            continue
        if column.kind == "categorical":
            parts.append(r"(?<!\w)" + re.escape(str(value)) + r"(?!\w)")
        else:
            parts.append(r"(?<![\w.-])" + re.escape(show_value(value)) + r"(?!\.?\d)")
    return re.compile("[^\n]*?".join(parts))


# Registration.


def test_statistics_strategy_registered(strategy) -> None:
    assert isinstance(strategy, StatisticsOnlyPrompt)
    assert strategy.name == "statistics"
    assert STRATEGIES["statistics"] is strategy


def test_statistics_not_in_plugin_defaults() -> None:
    assert "statistics" not in DEFAULT_STRATEGIES.split(",")


def test_statistics_not_in_cli_default() -> None:
    arguments = build_parser().parse_args(["record"])
    assert "statistics" not in arguments.strategies


# Prompts on RHC.


@pytest.mark.parametrize("size", FEATURE_SETS)
def test_builds_prompts_for_feature_set(built: dict, size: int) -> None:
    batches = built[size, "json"]
    assert len(batches) == ROWS // ROWS_PER_REQUEST
    for context, prompt in batches:
        assert prompt.strategy == "statistics"
        assert prompt.schema.names == context.schema.names
        assert prompt.shown_rows == ()
        for name in context.schema.names:
            assert name in prompt.user
        assert "Label rate: death = 1 in" in prompt.user
        assert f"seed {context.seed}." in prompt.redacted_user


@pytest.mark.parametrize("size", FEATURE_SETS)
def test_examples_are_empty(built: dict, strategy, size: int) -> None:
    for context, _ in built[size, "json"]:
        examples = strategy.examples(context)
        assert len(examples) == 0
        assert list(examples.columns) == context.schema.names


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("size", FEATURE_SETS)
def test_message_contains_no_training_row(
    built: dict, prepared: PreparedDataset, size: int, output_format: str
) -> None:
    context, prompt = built[size, output_format][0]
    schema = context.schema
    for form, lines in row_forms(prepared.train[schema.names], schema).items():
        assert len(lines) == len(prepared.train), form
        found = [line for line in lines if line in prompt.user]
        assert found == [], form


@pytest.mark.parametrize("size", FEATURE_SETS)
def test_no_line_holds_a_whole_row(built: dict, prepared: PreparedDataset, size: int) -> None:
    context, prompt = built[size, "json"][0]
    schema = context.schema
    for row in prepared.train[schema.names].itertuples(index=False):
        assert row_pattern(row, schema).search(prompt.user) is None, row


def test_row_search_finds_shown_examples(prepared: PreparedDataset, subsets: dict) -> None:
    # The same searches find the example rows of the schema-constrained prompt.
    for output_format in FORMATS:
        context, prompt = build_batches(prepared, get_strategy("schema"), subsets[10], output_format)[0]
        shown = prepared.train.loc[list(prompt.shown_rows), context.schema.names]
        lines = row_forms(shown, context.schema)[output_format]
        assert len(lines) == len(prompt.shown_rows) > 0
        for line in lines:
            assert line in prompt.user
        for row in shown.itertuples(index=False):
            assert row_pattern(row, context.schema).search(prompt.user) is not None, row


def test_rhc_rare_categories_suppressed(built: dict, prepared: PreparedDataset) -> None:
    context, prompt = built[10, "json"][0]
    cat1 = next(line for line in prompt.user.splitlines() if line.startswith("- cat1: "))
    assert 'other (suppressed): "Colon Cancer", "Lung Cancer" (' in cat1

    counts = prepared.train["cat1"].value_counts()
    assert counts["Colon Cancer"] < MIN_CELL_SIZE <= counts["Lung Cancer"]
    for category in ("Colon Cancer", "Lung Cancer"):
        share = show_value(round(100 * counts[category] / len(prepared.train), 1))
        assert not re.search(r"(?<![\d.])" + re.escape(share + "%"), cat1), category
    assert str(counts["Colon Cancer"]) not in numbers(cat1)


# Redaction.


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("size", FEATURE_SETS)
def test_redacted_copy_has_only_public_numbers(built: dict, size: int, output_format: str) -> None:
    for context, prompt in built[size, output_format]:
        allowed = public_numbers(context)
        assert numbers(prompt.redacted_user) <= allowed
        assert numbers(prompt.user) - allowed


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("size", FEATURE_SETS)
def test_redacted_copy_replaces_each_number(built: dict, size: int, output_format: str) -> None:
    for _, prompt in built[size, output_format]:
        pieces = prompt.redacted_user.split(REDACTED)
        assert len(pieces) > 10
        pattern = f"({NUMBER})".join(re.escape(piece) for piece in pieces)
        assert re.fullmatch(pattern, prompt.user, flags=re.DOTALL) is not None
        assert REDACTED not in prompt.user


# A tiny table with known counts.


class TinyDataset(Dataset):
    name = "tiny"
    label = "death"
    title = "a hand-built test table"

    def __init__(self, frame: pd.DataFrame, kinds: dict[str, ColumnKind]) -> None:
        self.frame = frame
        self.kinds = kinds

    def load_frame(self) -> pd.DataFrame:
        return self.frame

    def column_kinds(self) -> dict[str, ColumnKind]:
        return self.kinds


def tiny_prepared() -> PreparedDataset:
    """Return 60 training rows: colour amber 35, blue 22 and cyan 3, flag = 1 in 4 rows, sparse present in 8."""
    index = np.arange(60)
    frame = pd.DataFrame(
        {
            "colour": pd.Series(["amber"] * 35 + ["blue"] * 22 + ["cyan"] * 3, dtype=object),
            "flag": np.where(index < 4, 1.0, 0.0),
            "level": 101.25 + 1.5 * index,
            "sparse": np.where(index < 8, 7.125 + index, np.nan),
            "death": np.where(index % 20 < 9, 1.0, 0.0),
        }
    )
    frame["level"] += 40.0 * frame["death"]
    kinds: dict[str, ColumnKind] = {
        "colour": "categorical", "flag": "binary", "level": "numeric", "sparse": "numeric", "death": "binary"
    }
    dataset = TinyDataset(frame, kinds)
    schema = infer_schema(frame, "death", kinds)
    return PreparedDataset(dataset, schema, frame, frame.copy(), frame.copy())


@pytest.fixture(scope="module")
def tiny() -> PreparedDataset:
    return tiny_prepared()


@pytest.fixture(scope="module")
def tiny_prompt(tiny: PreparedDataset) -> Prompt:
    context = PromptContext(tiny, tiny.schema, 5, 0, 0)
    return StatisticsOnlyPrompt().build(context)


def message_line(prompt: Prompt, start: str) -> str:
    return next(line for line in prompt.user.splitlines() if line.startswith(start))


def test_small_category_merged_with_next(tiny_prompt: Prompt) -> None:
    line = message_line(tiny_prompt, "- colour: ")
    assert line == '- colour: "amber" (58.3%); other (suppressed): "blue", "cyan" (41.7% together)'
    assert numbers(line) == {"58.3", "41.7"}


def test_no_suppressed_count_in_text(tiny_prompt: Prompt) -> None:
    # cyan has 3 rows (5%). Blue, the next smallest, has 22 (36.7%), and showing it would give cyan by subtraction.
    for line in tiny_prompt.user.splitlines():
        if line.startswith("- colour: ") or line.startswith("- flag: "):
            for value in ("3", "5", "22", "36.7", "4", "6.7", "56", "93.3"):
                assert value not in numbers(line), (value, line)
    for share in ("5%", "36.7%", "6.7%", "93.3%"):
        assert not re.search(r"(?<![\d.])" + re.escape(share), tiny_prompt.user), share


def test_rare_binary_value_suppressed(tiny_prompt: Prompt) -> None:
    line = message_line(tiny_prompt, "- flag: ")
    assert line == "- flag: other (suppressed): 0, 1 (100% together)"


def test_percentiles_need_enough_values(tiny: PreparedDataset, tiny_prompt: Prompt) -> None:
    level = tiny.train["level"].to_numpy()
    expected = [f"p{q} {show_value(float(np.percentile(level, q)))}" for q in (25, 50, 75)]
    line = message_line(tiny_prompt, "- level: ")
    assert line == f"- level: p5 suppressed, {', '.join(expected)}, p95 suppressed; never missing"

    sparse = message_line(tiny_prompt, "- sparse: ")
    assert sparse.startswith("- sparse: " + ", ".join(f"p{q} suppressed" for q in PERCENTILES) + ";")
    assert "share suppressed" in sparse
    assert numbers(sparse) == {str(q) for q in PERCENTILES} | {str(MIN_CELL_SIZE)}


def test_tiny_label_rate(tiny_prompt: Prompt) -> None:
    assert "Label rate: death = 1 in 45% of training records." in tiny_prompt.user


def test_tiny_redacted_copy_has_no_data_number(tiny: PreparedDataset, tiny_prompt: Prompt) -> None:
    context = PromptContext(tiny, tiny.schema, 5, 0, 0)
    assert numbers(tiny_prompt.redacted_user) <= public_numbers(context)
    assert "58.3" in tiny_prompt.user
    assert "58.3" not in tiny_prompt.redacted_user


def test_rare_values_left_out_of_correlations(tiny: PreparedDataset) -> None:
    correlations = spearman_correlations(tiny.train, tiny.schema)
    pairs = {(pair.first, pair.second): pair for pair in correlations}
    assert ("level", "death") in pairs
    assert pairs["level", "death"].signed
    expected = tiny.train["level"].corr(tiny.train["death"], method="spearman")
    assert expected > MIN_REPORTED_CORRELATION
    assert pairs["level", "death"].rho == pytest.approx(expected)
    assert not [pair for pair in pairs if "flag" in pair]

    # Without its 3 cyan rows, colour is amber or blue, so its |rho| with level is that of an amber flag.
    kept = tiny.train[tiny.train["colour"] != "cyan"]
    expected = abs(kept["colour"].eq("amber").astype(float).corr(kept["level"], method="spearman"))
    assert expected >= MIN_REPORTED_CORRELATION
    assert not pairs["colour", "level"].signed
    assert pairs["colour", "level"].rho == pytest.approx(expected)


def test_category_with_min_cell_size_shown(tiny: PreparedDataset) -> None:
    values = pd.Series(["a"] * MIN_CELL_SIZE + ["b"] * 30, dtype=object)
    column = dataclasses.replace(tiny.schema["colour"], name="x", categories=("a", "b"))
    frequencies = column_frequencies(values, column)
    assert frequencies.suppressed == ()
    assert frequencies.share_of('"a"') == pytest.approx(MIN_CELL_SIZE / 40)


def test_compose_rejects_unknown_column(tiny: PreparedDataset) -> None:
    smaller = dataclasses.replace(tiny, train=tiny.train.drop(columns=["level"]))
    with pytest.raises(ValueError, match=r"columns \['level'\] are not in the training part of dataset 'tiny'"):
        StatisticsOnlyPrompt().build(PromptContext(smaller, tiny.schema, 5, 0, 0))


# The suppression rule.


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"a": 50, "b": 20, "c": 3}, ["b", "c"]),
        ({"a": 50, "b": 6, "c": 5}, ["b", "c"]),
        ({"a": 50, "b": 20, "c": 4, "d": 2}, ["b", "c", "d"]),
        ({"a": 50, "b": 20}, []),
        ({"a": 50, "b": 0, "c": 20}, []),
        ({"a": 4}, ["a"]),
        ({"a": 3, "b": 4}, ["a", "b"]),
    ],
)
def test_suppressed_cells_cases(counts: dict, expected: list) -> None:
    assert suppressed_cells(counts) == expected


@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(0, 40), max_size=8))
def test_suppressed_cells_hide_every_small_count(counts: dict) -> None:
    merged = suppressed_cells(counts)
    non_zero = sorted(label for label, count in counts.items() if count > 0)
    for label, count in counts.items():
        if label not in merged:
            assert count == 0 or count >= MIN_CELL_SIZE, label
    assert set(merged) <= set(non_zero)
    if merged and merged != non_zero:
        assert len(merged) >= 2
        assert sum(counts[label] for label in merged) >= MIN_CELL_SIZE


# Record, replay and the privacy criteria.


def stub_completion_text(prepared: PreparedDataset, schema) -> Callable[[object], str]:
    """Return a replacement of the stub's message content: 10 reference rows inside the training
    ranges, chosen by the request seed."""
    reference = prepared.reference[schema.names]
    inside = pd.Series(True, index=reference.index)
    for column in schema.columns:
        if column.kind == "numeric":
            values = reference[column.name]
            inside &= values.isna() | values.between(column.minimum, column.maximum)
    candidates = reference[inside]

    def completion_text(seed: object) -> str:
        rows = candidates.sample(n=10, random_state=int(seed))
        lines = format_rows(rows, schema, "json", show_value).splitlines()
        return json.dumps({"rows": [json.loads(line) for line in lines]})

    return completion_text


@pytest.fixture
def recorded(
    prepared: PreparedDataset, subsets: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[LLMCase, GenerationResult]:
    """Record the case statistics/k5 with 20 rows, two requests of 10, against the stub."""
    strategy = get_strategy("statistics")
    schema = strategy.generation_schema(prepared, subsets[5])
    # The stub's completion_body looks completion_text up for each response, so the patch applies.
    monkeypatch.setattr(openai_stub, "completion_text", stub_completion_text(prepared, schema))
    monkeypatch.setenv(KEY_VARIABLE, "sk-statistics-test")
    with OpenAIStub() as stub:
        model = ModelConfig("stub-model", base_url=stub.base_url, api_key_env=KEY_VARIABLE, rows_per_request=10)
        case = LLMCase(prepared, model, strategy, subsets[5], rows=20, replicate=0)
        generation = generate_llm(case, "record", tmp_path)
        assert len(stub.received) == 2
    monkeypatch.delenv(KEY_VARIABLE)
    return case, generation


def test_replay_matches_recording(recorded: tuple, tmp_path: Path) -> None:
    case, generation = recorded
    replayed = generate_llm(case, "replay", tmp_path)

    assert replayed.strategy == "statistics"
    pd.testing.assert_frame_equal(replayed.synthetic, generation.synthetic)
    assert len(replayed.synthetic) >= 10
    assert len(replayed.seen_rows) == 0
    assert list(replayed.seen_rows.columns) == generation.schema.names


def test_cassette_holds_redacted_statistics(recorded: tuple, tmp_path: Path) -> None:
    case, _ = recorded
    path = case.key.cassette_path(tmp_path)
    assert path.name == "statistics-k5-n20-r0.yaml"

    prompts = build_prompts(case)
    stored = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    assert len(stored) == len(prompts) == 2
    for interaction, prompt in zip(stored, prompts):
        body = interaction["request"]["body"]
        assert json.loads(body)["messages"][1]["content"] == prompt.redacted_user
        data_numbers = numbers(prompt.user) - numbers(prompt.redacted_user)
        assert data_numbers
        for value in data_numbers:
            assert re.search(r"(?<![\d.])" + re.escape(value) + r"(?![\d.])", body) is None, value


def test_privacy_attacks_not_applicable(prepared: PreparedDataset, recorded: tuple) -> None:
    _, generation = recorded
    evaluator = Evaluator(prepared, n_bootstrap=0)
    results = evaluator.privacy(generation)
    for name in ("mia_distance_auroc", "mia_density_auroc"):
        assert not results[name].applicable, name
        assert results[name].value is None
        assert "shown no training row" in results[name].reason
    assert results["dcr_ratio"].value is not None

    # The same rows with five shown training rows are attacked.
    shown = prepared.train.loc[prepared.train.index[:5], generation.schema.names]
    attacked = evaluator.privacy(dataclasses.replace(generation, seen_rows=shown))
    for name in ("mia_distance_auroc", "mia_density_auroc"):
        assert attacked[name].applicable, name
        assert attacked[name].value is not None
