"""Proof that no real patient row is in a committed cassette, and tests of response sealing.

Recording seals every stored response body (:mod:`ehrbench.recording.sealing`). For every file
under ``cassettes/`` these tests check three things. Each response body is one sealed token that
opens with the key of the case's real rows and the digest of its own request, so recording
sealed it for that request. The opened body contains no key-like string. No string of any
request body contains a real row. The search is
:class:`~ehrbench.parsing.real_rows.RealRowFinder` over the rows of all three parts of the
dataset, in each form a prompt or an answer carries rows: parsed records of any format the
parser reads, JSON objects, JSON arrays, CSV lines and ``column=value`` lines. eICU cassettes
need the eICU demo (``EHRBENCH_EICU_DIR``), which CI sets.

Statistics-only prompts show no row, and no share of a value that fewer than ``MIN_CELL_SIZE``
training records have. The last tests check both on the sent text of every feature set of both
datasets.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from anthropic_stub import AnthropicStub
from ehrbench.datasets import DatasetError, PreparedDataset, get_dataset, prepare
from ehrbench.features import build_subsets
from ehrbench.parsing.real_rows import FORM_FRAGMENT, FORM_LINE, FORM_RECORD, RealRowFinder
from ehrbench.prompts import PromptContext, get_strategy
from ehrbench.prompts.base import format_rows, show_value
from ehrbench.prompts.statistics_only import MIN_CELL_SIZE
from ehrbench.providers import ModelConfig
from ehrbench.recording import LLMCase, collect_completions
from ehrbench.recording.cassettes import AtomicPersister, request_digest
from ehrbench.recording.reseal import case_key_of, case_schema, seal_cassette
from ehrbench.recording.sealing import SEAL_PREFIX, SealError, is_sealed, open_body, seal_body, seal_key
from ehrbench.schema import TableSchema
from test_cassette_secrets import find_secrets

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


def real_rows_in(path: Path, root: Path) -> list[str]:
    """Return what in the cassette at ``path`` shows real rows or is not sealed (never the values).

    Each response body must be a whole sealed token that opens for its request, or SealError is
    raised. The opened body is scanned for key-like strings. A body stored in clear is reported
    and searched for real rows like the request bodies.
    """
    key = case_key_of(path, root)
    schema = case_schema(prepared_dataset(key.dataset), key)
    finder, seal = finder_and_key(key.dataset, schema)
    requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)

    found = [f"file: {match.form} at {match.position}" for match in finder.find(path.read_text(encoding="utf-8"))]
    for number, (request, response) in enumerate(zip(requests, responses), start=1):
        for text in body_strings(decoded(request.body)):
            found += [f"request {number}: {match.form} at {match.position}" for match in finder.find(text)]
        body = response["body"]["string"]
        if is_sealed(body):
            token = body.decode("ascii") if isinstance(body, bytes) else body
            opened = open_body(token, seal, request_digest(request)).decode("utf-8")
            found += [f"response {number}: {kind} in the sealed body" for _, kind, _ in find_secrets(opened)]
            continue
        found.append(f"response {number}: body stored in clear")
        for text in body_strings(decoded(body)):
            found += [f"response {number}: {match.form} at {match.position}" for match in finder.find(text)]
    return found


@pytest.mark.parametrize("path", CASSETTES, ids=[str(path.relative_to(CASSETTE_ROOT)) for path in CASSETTES])
def test_cassette_holds_no_real_row(path: Path) -> None:
    found = real_rows_in(path, CASSETTE_ROOT)
    assert found == [], f"{path} is not sealed or contains real rows (values not shown): {found[:10]}"


def opened_copy(path: Path, target_root: Path) -> Path:
    """Write ``path`` with every response body opened into the same place below ``target_root``."""
    key = case_key_of(path, CASSETTE_ROOT)
    _, seal = finder_and_key(key.dataset, case_schema(prepared_dataset(key.dataset), key))
    requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
    for request, response in zip(requests, responses):
        response["body"]["string"] = open_body(response["body"]["string"], seal, request_digest(request))
    target = target_root / path.relative_to(CASSETTE_ROOT)
    AtomicPersister.save_cassette(target, {"requests": requests, "responses": responses}, yamlserializer)
    return target


def test_opened_cassette_shows_rows(tmp_path: Path) -> None:
    # Known answer: RHC naive k5 answers with all bodies opened again contain real rows.
    path = CASSETTE_ROOT / "rhc" / "smollm2-135m-instruct" / "naive-k5-n100-r0.yaml"
    found = real_rows_in(opened_copy(path, tmp_path), tmp_path)

    assert "response 1: body stored in clear" in found
    assert any("parsed record" in item for item in found)


def test_seal_reproduces_committed_file(tmp_path: Path) -> None:
    # Sealing is deterministic: the opened copy sealed again equals the committed file.
    path = CASSETTE_ROOT / "rhc" / "smollm2-135m-instruct" / "group-k5-n100-r1.yaml"
    opened = opened_copy(path, tmp_path)
    key = case_key_of(path, CASSETTE_ROOT)
    _, seal = finder_and_key(key.dataset, case_schema(prepared_dataset(key.dataset), key))

    report = seal_cassette(opened, seal)

    assert report.sealed == report.answers > 0
    assert opened.read_bytes() == path.read_bytes()
    assert seal_cassette(opened, seal).sealed == 0


def test_cassettes_exist() -> None:
    assert len(CASSETTES) >= 60


# Known answers: the finder flags each form; sealing round trips and rejects damage.


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
    body = '{"rows": [[0.5, 1, 0]]} \u00e9'.encode("utf-8")
    token = seal_body(body, key, "sha256:aa")

    assert is_sealed(token)
    assert token == seal_body(body, key, "sha256:aa")
    assert token != seal_body(body, key, "sha256:bb")
    assert open_body(token, key, "sha256:aa") == body
    assert open_body(seal_body(b"", key, ""), key, "") == b""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("other-request", "moved to another request"),
        ("other-key", "other real-data values"),
        ("flipped", "edited or damaged"),
        ("short", "too short"),
    ],
)
def test_open_rejects_bad_token(rhc, rhc_schema, change: str, message: str) -> None:
    key = seal_key(rhc.real_rows(), rhc_schema)
    token = seal_body(b'{"choices": []}', key, "sha256:aa")
    context = "sha256:bb" if change == "other-request" else "sha256:aa"
    if change == "other-key":
        key = bytes(32)
    if change == "flipped":
        token = token[:-10] + ("a" if token[-10] != "a" else "b") + token[-9:]
    if change == "short":
        token = token[: len(SEAL_PREFIX) + len("0123abcd:") + 8]
    with pytest.raises(SealError, match=message):
        open_body(token, key, context)


def test_token_alphabet_cannot_form_key_prefix(rhc, rhc_schema) -> None:
    # Lower-case base32 has no capital, "-" or "_", so "sk-", "AKIA" or "ghp_" cannot appear.
    key = seal_key(rhc.real_rows(), rhc_schema)
    tokens = [seal_body(bytes([value]) * size, key, "sha256:aa") for value in range(0, 256, 17) for size in (1, 200)]
    for token in tokens:
        ciphertext = token.split(":", 3)[3]
        assert set(ciphertext) <= set("abcdefghijklmnopqrstuvwxyz234567"), token
        assert find_secrets(token) == []


def test_seal_key_ignores_row_and_column_order(rhc, rhc_schema) -> None:
    rows = rhc.real_rows()
    reversed_schema = type(rhc_schema)(tuple(reversed(rhc_schema.columns)), rhc_schema.label)
    assert seal_key(rows.iloc[::-1], reversed_schema) == seal_key(rows, rhc_schema)
    assert seal_key(rows.iloc[1:], rhc_schema) != seal_key(rows, rhc_schema)


def test_finder_reads_binary_words(rhc, rhc_schema, rhc_finder) -> None:
    row = a_row(rhc, rhc_schema).iloc[0]
    cells = []
    for column in rhc_schema.columns:
        value = row[column.name]
        if value != value:
            cells.append("")
        elif column.kind == "binary":
            cells.append("TRUE" if value == 1 else "FALSE")
        else:
            cells.append(show_value(value))
    text = ",".join(rhc_schema.names) + "\n" + ",".join(cells)
    assert FORM_RECORD in {match.form for match in rhc_finder.find(text)}


def test_finder_reads_six_digit_values(rhc, rhc_schema, rhc_finder) -> None:
    row = a_row(rhc, rhc_schema).iloc[0]
    record = {name: (None if row[name] != row[name] else float(f"{row[name]:.6g}")) for name in rhc_schema.names}
    assert FORM_RECORD in {match.form for match in rhc_finder.find(json.dumps({"rows": [record]}))}


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


# Recording seals as it saves: an Anthropic stub on 127.0.0.1 answers with a training row.


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
    assert path.read_text(encoding="utf-8").count(SEAL_PREFIX) == 2
    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in recorded]
    assert all(json.loads(completion.text)["rows"] == [copied] for _, completion in replayed)
    finder, _ = finder_and_key("rhc", schema)
    assert finder.find(path.read_text(encoding="utf-8")) == []
    _, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
    assert [is_sealed(response["body"]["string"]) for response in responses] == [True, True]
