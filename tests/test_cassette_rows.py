"""Proof that no real patient row is in a committed cassette, and tests of answer sealing.

For every file under ``cassettes/``, every string in every stored request and response body is
searched with :class:`~ehrbench.parsing.real_rows.RealRowFinder` over the rows of all three parts
of the case's dataset, at the four significant digits prompts show, in each form a prompt or an
answer carries rows: parsed records of any format the parser reads, JSON objects, JSON arrays,
CSV lines and ``column=value`` lines. Sealed answers count as searched only when they open with
the key of the real rows, which proves that they are answers sealed by recording and not
arbitrary text. eICU cassettes need the eICU demo (``EHRBENCH_EICU_DIR``), which CI sets.

Statistics-only prompts show no row, and no share of a value held by fewer than
``MIN_CELL_SIZE`` training records; the last tests check both on the sent text of every feature
set of both datasets.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import replace
import json
import re
from pathlib import Path

import pytest
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from ehrbench.datasets import DatasetError, PreparedDataset, get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.parsing.real_rows import FORM_FRAGMENT, FORM_LINE, FORM_RECORD, RealRowFinder
from ehrbench.prompts import PromptContext, get_strategy
from ehrbench.prompts.base import format_rows, show_value
from ehrbench.prompts.statistics_only import MIN_CELL_SIZE
from ehrbench.providers import ModelConfig
from ehrbench.recording import LLMCase, collect_completions
from ehrbench.recording.cassettes import AtomicPersister
from ehrbench.recording.reseal import case_key_of, case_schema, seal_cassette
from ehrbench.schema import TableSchema
from anthropic_stub import AnthropicStub
from test_cassette_secrets import find_secrets
from ehrbench.recording.sealing import (
    SEALED_TOKEN,
    AnswerSealer,
    SealError,
    seal_key,
    seal_text,
    unseal_text,
)

CASSETTE_ROOT = Path(__file__).resolve().parents[1] / "cassettes"
CASSETTES = sorted(path for path in CASSETTE_ROOT.rglob("*.yaml") if ".batches" not in path.parts)


@functools.cache
def prepared_dataset(name: str) -> PreparedDataset:
    try:
        return prepare(get_dataset(name))
    except DatasetError as error:
        pytest.skip(f"dataset {name!r} is not available here ({error}); CI sets EHRBENCH_EICU_DIR")


@functools.cache
def finder_and_key(name: str, schema: TableSchema) -> tuple[RealRowFinder, bytes]:
    rows = prepared_dataset(name).real_rows()
    return RealRowFinder(rows, schema), seal_key(rows, schema)


def body_strings(document: object) -> list[str]:
    """Return every string in a JSON document, and the JSON text of every object and list in it."""
    if isinstance(document, str):
        try:
            inner = json.loads(document)
        except ValueError:
            return [document]
        return [document] + (body_strings(inner) if isinstance(inner, (dict, list)) else [])
    if isinstance(document, dict):
        return [json.dumps(document, ensure_ascii=False)] + [text for value in document.values() for text in body_strings(value)]
    if isinstance(document, list):
        return [text for value in document for text in body_strings(value)]
    return []


def decoded(body: object) -> object:
    if isinstance(body, dict):
        body = body.get("string")
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    try:
        return json.loads(body or "")
    except ValueError:
        return body or ""


def cassette_texts(path: Path) -> list[tuple[str, str]]:
    """Return (where, text) for every string of every request and response body of ``path``."""
    requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
    texts = [("file", path.read_text(encoding="utf-8"))]
    for number, (request, response) in enumerate(zip(requests, responses), start=1):
        texts += [(f"request {number}", text) for text in body_strings(decoded(request.body))]
        texts += [(f"response {number}", text) for text in body_strings(decoded(response["body"]))]
    return texts


def real_rows_in(path: Path, root: Path) -> list[str]:
    """Return where real rows are in the cassette at ``path`` (forms and offsets, never values).

    Every sealed token must open with the key of the real rows, or SealError is raised, and the
    answer inside is scanned for key-like strings as every cassette is.
    """
    key = case_key_of(path, root)
    schema = case_schema(prepared_dataset(key.dataset), key)
    finder, seal = finder_and_key(key.dataset, schema)

    found = []
    for where, text in cassette_texts(path):
        found += [f"{where}: {match.form} at offset {match.position}" for match in finder.find(text)]
        for token in SEALED_TOKEN.findall(text):
            opened = unseal_text(token, seal)
            found += [f"{where}: {kind} in a sealed answer" for _, kind, _ in find_secrets(opened)]
    return found


@pytest.mark.parametrize("path", CASSETTES, ids=[str(path.relative_to(CASSETTE_ROOT)) for path in CASSETTES])
def test_cassette_holds_no_real_row(path: Path) -> None:
    found = real_rows_in(path, CASSETTE_ROOT)
    assert found == [], f"{path} contains real rows (values not shown): {found[:10]}"


def test_opened_cassette_shows_rows(tmp_path: Path) -> None:
    # Known answer: a committed cassette with its sealed answers opened again is flagged.
    path = next(path for path in CASSETTES if "rhc" in path.parts and "ehrbench-sealed:v1:" in path.read_text())
    key = case_key_of(path, CASSETTE_ROOT)
    _, seal = finder_and_key(key.dataset, case_schema(prepared_dataset(key.dataset), key))
    requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
    for response in responses:
        document = json.loads(response["body"]["string"])
        for choice in document["choices"]:
            choice["message"]["content"] = unseal_text(choice["message"]["content"], seal)
        response["body"]["string"] = json.dumps(document)
    opened = tmp_path / path.relative_to(CASSETTE_ROOT)
    AtomicPersister.save_cassette(opened, {"requests": requests, "responses": responses}, yamlserializer)

    found = real_rows_in(opened, tmp_path)

    assert found
    assert all("values" not in item for item in found)


def test_cassettes_exist() -> None:
    assert len(CASSETTES) >= 60


# Known answers: the finder flags each form, and sealing removes it.


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepared_dataset("rhc")


@pytest.fixture(scope="module")
def rhc_schema(rhc: PreparedDataset):
    subset = build_subsets(rhc, (5,))[0]
    return get_strategy("naive").generation_schema(rhc, subset)


@pytest.fixture(scope="module")
def rhc_finder(rhc: PreparedDataset, rhc_schema) -> RealRowFinder:
    return RealRowFinder(rhc.real_rows(), rhc_schema)


def a_row(rhc: PreparedDataset, rhc_schema, part: str = "train", position: int = 7):
    return getattr(rhc, part).iloc[[position]][rhc_schema.names]


@pytest.mark.parametrize("output_format", ["json", "json-arrays", "csv"])
def test_finder_flags_prompt_forms(rhc, rhc_schema, rhc_finder, output_format: str) -> None:
    rendered = format_rows(a_row(rhc, rhc_schema), rhc_schema, output_format, show_value)
    text = f"Here are examples:\n{rendered}\nGenerate more."
    assert rhc_finder.contains(text)


def test_finder_flags_key_value_line(rhc, rhc_schema, rhc_finder) -> None:
    row = a_row(rhc, rhc_schema).iloc[0]
    line = "; ".join(f"{name} = {show_value(row[name])}" for name in rhc_schema.names)
    assert [match.form for match in rhc_finder.find(f"prose\n{line}\nprose")] == [FORM_LINE]


def test_finder_flags_answer_record_full_precision(rhc, rhc_schema, rhc_finder) -> None:
    row = a_row(rhc, rhc_schema, part="test").iloc[0]
    record = {name: (None if row[name] != row[name] else row[name]) for name in rhc_schema.names}
    answer = json.dumps({"rows": [record]})
    forms = {match.form for match in rhc_finder.find(answer)}
    assert FORM_RECORD in forms


def test_finder_flags_fragment_in_prose(rhc, rhc_schema, rhc_finder) -> None:
    rendered = format_rows(a_row(rhc, rhc_schema), rhc_schema, "json-arrays", show_value)
    text = "The model said " + rendered + " and stopped."
    assert FORM_FRAGMENT in {match.form for match in rhc_finder.find(text)}


def test_finder_passes_changed_row(rhc, rhc_schema, rhc_finder) -> None:
    row = a_row(rhc, rhc_schema).copy()
    numeric = next(column.name for column in rhc_schema.columns if column.kind == "numeric")
    row[numeric] = 123456.0
    text = format_rows(row, rhc_schema, "json", show_value)
    assert rhc_finder.find(text) == []


def test_seal_round_trip(rhc, rhc_schema) -> None:
    key = seal_key(rhc.real_rows(), rhc_schema)
    text = '{"rows": [[0.5, 1, 0]]} \u00e9'
    sealed = seal_text(text, key)

    assert sealed != seal_text(text, key)
    assert unseal_text(f"before {sealed} after", key) == f"before {text} after"
    with pytest.raises(SealError, match="does not open with the key"):
        unseal_text(sealed, bytes(32))
    damaged = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SealError):
        unseal_text(damaged, key)


def test_seal_key_ignores_row_and_column_order(rhc, rhc_schema) -> None:
    rows = rhc.real_rows()
    reversed_schema = type(rhc_schema)(tuple(reversed(rhc_schema.columns)), rhc_schema.label)
    assert seal_key(rows.iloc[::-1], reversed_schema) == seal_key(rows, rhc_schema)
    assert seal_key(rows.iloc[1:], rhc_schema) != seal_key(rows, rhc_schema)


def completion_response(content: str) -> dict:
    body = {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    return {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": json.dumps(body)}}


def message_response(tool_input: dict) -> dict:
    block = {"type": "tool_use", "id": "toolu_1", "name": "synthetic_rows", "input": tool_input}
    body = {"type": "message", "role": "assistant", "content": [block], "stop_reason": "tool_use"}
    return {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": json.dumps(body).encode()}}


def test_sealer_seals_only_answers_with_rows(rhc, rhc_schema) -> None:
    sealer = AnswerSealer.for_rows(rhc.real_rows(), rhc_schema)
    copied = format_rows(a_row(rhc, rhc_schema), rhc_schema, "json", show_value)
    clean = completion_response('{"rows": []}')

    assert sealer(copy.deepcopy(clean)) == clean
    sealed = sealer(completion_response(copied))
    content = json.loads(sealed["body"]["string"])["choices"][0]["message"]["content"]
    assert SEALED_TOKEN.fullmatch(content)
    assert unseal_text(content, sealer.key) == copied
    assert sealer.sealed == 1


def test_sealer_seals_tool_input(rhc, rhc_schema) -> None:
    sealer = AnswerSealer.for_rows(rhc.real_rows(), rhc_schema)
    row = a_row(rhc, rhc_schema).iloc[0]
    tool_input = {"rows": [{name: (None if row[name] != row[name] else row[name]) for name in rhc_schema.names}]}

    sealed = sealer(message_response(tool_input))

    stored = json.loads(sealed["body"]["string"])["content"][0]["input"]
    assert set(stored) == {"ehrbench_sealed"}
    assert isinstance(sealed["body"]["string"], bytes)
    provider_text = json.dumps(stored, ensure_ascii=False)
    assert unseal_text(provider_text, sealer.key) == json.dumps(tool_input, ensure_ascii=False)


def test_seal_cassette_keeps_replay(tmp_path: Path, rhc) -> None:
    # A committed cassette with sealed answers: opening each again gives readable, row-free text
    # only where no row was written, and resealing it changes nothing.
    sealed_files = [path for path in CASSETTES if "rhc" in path.parts and "ehrbench-sealed:v1:" in path.read_text()]
    assert sealed_files
    path = sealed_files[0]
    key = case_key_of(path, CASSETTE_ROOT)
    schema = case_schema(rhc, key)
    target = tmp_path / path.name
    target.write_bytes(path.read_bytes())

    report = seal_cassette(target, AnswerSealer.for_rows(rhc.real_rows(), schema))

    assert report.sealed == 0
    assert target.read_bytes() == path.read_bytes()


# Statistics-only prompts: no row, no small cell.


_SHARE = re.compile(r'(?:"(?P<text>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s,(]+)) \((?P<share>[\d.]+)%\)')


def shown_values(line: str) -> list[str]:
    """Return the values a share line shows one by one (before any suppressed group)."""
    shown = line.split("; other (suppressed)")[0].split(": ", 1)[1]
    return [match["text"] if match["text"] is not None else match["bare"] for match in _SHARE.finditer(shown)]


@pytest.mark.parametrize("dataset", ["rhc", "eicu"])
@pytest.mark.parametrize("size", [5, 10, 20])
def test_statistics_prompt_has_no_row_or_small_cell(dataset: str, size: int) -> None:
    prepared = prepared_dataset(dataset)
    strategy = get_strategy("statistics")
    schema = strategy.generation_schema(prepared, build_subsets(prepared, (size,))[0])
    prompt = strategy.build(PromptContext(prepared, schema, 10, 0, 0))

    assert RealRowFinder(prepared.real_rows(), schema).find(prompt.user) == []
    shares = prompt.user.split("\nShare of training records with each value", 1)[1].split("\n\n", 1)[0]
    lines = [line for line in shares.splitlines() if line.startswith("- ")]
    checked = 0
    for line in lines:
        name = line[2:].split(":", 1)[0]
        counts = prepared.train[name].astype(object).where(prepared.train[name].notna(), "null")
        counts = counts.map(show_value).value_counts()
        for value in shown_values(line):
            assert counts.get(value, 0) >= MIN_CELL_SIZE, f"{dataset} {name}: a shown value has fewer than {MIN_CELL_SIZE} records"
            checked += 1
    assert checked > 0


# Recording seals as it stores: an Anthropic stub on 127.0.0.1 answers with a training row.


KEY_VARIABLE = "EHRBENCH_TEST_SEAL_KEY"


def test_recording_seals_copied_row(rhc: PreparedDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subset = build_subsets(rhc, (5,))[0]
    schema = get_strategy("naive").generation_schema(rhc, subset)
    row = rhc.train.iloc[3]
    copied = {name: (None if row[name] != row[name] else float(row[name])) for name in schema.names}
    config = ModelConfig(
        "stub-claude", provider="anthropic", model="claude-stub", structured_output="tool_schema",
        api_key_env=KEY_VARIABLE, rows_per_request=5, max_retries=0,
    )
    monkeypatch.setenv(KEY_VARIABLE, "sk-ant-seal-test-secret-0000")

    with AnthropicStub(rows=(copied,)) as stub:
        case = LLMCase(rhc, replace(config, base_url=stub.base_url), get_strategy("naive"), subset, 10, 0)
        recorded = collect_completions(case, "record", tmp_path)
    replayed = collect_completions(case, "replay", tmp_path)

    path = case.key.cassette_path(tmp_path)
    assert path.read_text(encoding="utf-8").count("ehrbench-sealed:v1:") == 2
    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in recorded]
    assert all(json.loads(completion.text)["rows"] == [copied] for _, completion in replayed)
    finder, _ = finder_and_key("rhc", schema)
    assert finder.find(path.read_text(encoding="utf-8")) == []
