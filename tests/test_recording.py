"""Tests of recording and replay through vcrpy cassettes, against a chat completions stub.

The tests record the RHC case naive/k5 with 10 rows, sent as two requests of 5 rows. The stub
server of tests/openai_stub.py listens on 127.0.0.1 only, and each cassette goes to the test's
own temporary folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest
import yaml

from ehrbench.datasets import RHC, PreparedDataset, prepare
from ehrbench.features import FeatureSubset
from ehrbench.prompts import get_strategy
from ehrbench.providers import ModelConfig, OpenAICompatibleProvider, ProviderError
from ehrbench.recording import (
    DIGEST_HEADER,
    CassetteMismatch,
    CassetteMissing,
    LLMCase,
    RedactionError,
    build_prompts,
    collect_completions,
    record_command,
)
from ehrbench.recording.redaction import body_digest, canonical_json
from openai_stub import SECRET_RESPONSE_HEADERS, OpenAIStub, completion_text

KEY_VARIABLE = "EHRBENCH_TEST_RECORDING_KEY"
SECRET_KEY = "sk-recording-test-secret-7f3a"


@pytest.fixture
def stub():
    with OpenAIStub() as server:
        yield server


def make_case(prepared: PreparedDataset, subset: FeatureSubset, base_url: str) -> LLMCase:
    model = ModelConfig("stub-model", base_url=base_url, api_key_env=KEY_VARIABLE, rows_per_request=5)
    return LLMCase(prepared, model, get_strategy("naive"), subset, rows=10, replicate=0)


@pytest.fixture
def case(
    prepared: PreparedDataset, subset: FeatureSubset, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> LLMCase:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    return make_case(prepared, subset, stub.base_url)


@pytest.fixture
def recorded(case: LLMCase, tmp_path: Path) -> list:
    return collect_completions(case, "record", tmp_path)


def interactions(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]


def stored_digests(path: Path) -> list[list[str]]:
    return [interaction["request"]["headers"][DIGEST_HEADER] for interaction in interactions(path)]


def stored_body(interaction: dict) -> dict:
    return json.loads(interaction["request"]["body"])


def real_decimals(text: str) -> set[str]:
    """Return the numbers with a decimal point in the example lines of a real user message."""
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return {number for line in lines for number in re.findall(r"\d+\.\d+", line)}


def reversed_keys(document: object) -> object:
    if isinstance(document, dict):
        return {key: reversed_keys(document[key]) for key in reversed(list(document))}
    if isinstance(document, list):
        return [reversed_keys(item) for item in document]
    return document


# Record, then replay.


def test_replay_returns_recorded_texts(
    case: LLMCase, stub: OpenAIStub, tmp_path: Path, recorded: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.stop()
    monkeypatch.delenv(KEY_VARIABLE)
    replayed = collect_completions(case, "replay", tmp_path)

    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in recorded]
    assert [completion.text for _, completion in replayed] == [completion_text(prompt.seed) for prompt, _ in recorded]
    assert [prompt for prompt, _ in replayed] == [prompt for prompt, _ in recorded]
    for _, completion in replayed:
        assert completion.finish_reason == "stop"
        assert (completion.input_tokens, completion.output_tokens) == (321, 17)
    assert len(stub.received) == 2


def test_record_sends_real_text_and_key(case: LLMCase, stub: OpenAIStub, recorded: list) -> None:
    assert len(stub.received) == 2
    for request, (prompt, _) in zip(stub.received, recorded):
        body = json.loads(request.body)
        assert body["messages"][1]["content"] == prompt.user
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["authorization"] == f"Bearer {SECRET_KEY}"


def test_cassette_path_names_case(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    path = tmp_path / "rhc" / "stub-model" / "naive-k5-n10-r0.yaml"
    assert case.key.cassette_path(tmp_path) == path
    assert path.is_file()
    assert len(interactions(path)) == 2


def test_cassette_holds_no_secret(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    path = case.key.cassette_path(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert SECRET_KEY not in text
    for value in SECRET_RESPONSE_HEADERS.values():
        assert value not in text
    for name in ("authorization", "api-key", "set-cookie", "openai-organization", "x-stainless"):
        assert name not in text.lower()

    for interaction in interactions(path):
        assert set(interaction["request"]["headers"]) == {"content-type", DIGEST_HEADER}


def test_cassette_holds_redacted_text_only(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    path = case.key.cassette_path(tmp_path)
    text = path.read_text(encoding="utf-8")

    for interaction, (prompt, _) in zip(interactions(path), recorded):
        messages = stored_body(interaction)["messages"]
        assert messages[0]["content"] == prompt.system
        assert messages[1]["content"] == prompt.redacted_user

        decimals = real_decimals(prompt.user)
        assert decimals
        for value in decimals:
            assert re.search(r"(?<![\d.])" + re.escape(value) + r"(?!\d)", text) is None, value


def test_cassette_digest_of_real_body(
    case: LLMCase, stub: OpenAIStub, tmp_path: Path, recorded: list
) -> None:
    digests = stored_digests(case.key.cassette_path(tmp_path))
    assert len(digests) == len(stub.received) == 2
    for digest, request in zip(digests, stub.received):
        assert digest == [body_digest(canonical_json(request.body))]
        assert digest[0].startswith("sha256:")


# Replay failures.


def test_changed_setting_raises_mismatch(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    changed = dataclasses.replace(case, model=dataclasses.replace(case.model, temperature=0.2))
    with pytest.raises(CassetteMismatch) as error:
        collect_completions(changed, "replay", tmp_path)

    message = str(error.value)
    assert str(case.key.cassette_path(tmp_path)) in message
    assert '- "temperature": 0.7' in message
    assert '+ "temperature": 0.2' in message


def test_changed_examples_raise_real_data_mismatch(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    train = case.prepared.train.assign(surv2md1=case.prepared.train["surv2md1"] * 0.9)
    changed = dataclasses.replace(case, prepared=dataclasses.replace(case.prepared, train=train))
    changed_prompts = build_prompts(changed)
    assert [prompt.redacted_user for prompt in changed_prompts] == [prompt.redacted_user for prompt, _ in recorded]
    assert [prompt.user for prompt in changed_prompts] != [prompt.user for prompt, _ in recorded]

    with pytest.raises(CassetteMismatch, match="real-data values") as error:
        collect_completions(changed, "replay", tmp_path)
    assert str(case.key.cassette_path(tmp_path)) in str(error.value)


def test_missing_cassette_names_record_command(case: LLMCase, stub: OpenAIStub, tmp_path: Path) -> None:
    with pytest.raises(CassetteMissing) as error:
        collect_completions(case, "replay", tmp_path)

    message = str(error.value)
    assert str(case.key.cassette_path(tmp_path)) in message
    assert record_command(case.key) in message
    assert message.endswith(
        "ehrbench record --dataset rhc --models stub-model --strategies naive "
        "--feature-sets k5 --rows 10 --replicates 1"
    )
    assert stub.received == []
    assert list(tmp_path.iterdir()) == []


# Matching on the canonical body.


def test_stored_key_order_does_not_matter(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    path = case.key.cassette_path(tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for interaction in document["interactions"]:
        original = interaction["request"]["body"]
        interaction["request"]["body"] = json.dumps(reversed_keys(json.loads(original)))
        assert interaction["request"]["body"] != original
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    replayed = collect_completions(case, "replay", tmp_path)
    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in recorded]


def test_live_key_order_does_not_matter(
    case: LLMCase, stub: OpenAIStub, tmp_path: Path, recorded: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = OpenAICompatibleProvider.request_arguments
    monkeypatch.setattr(
        OpenAICompatibleProvider, "request_arguments", lambda self, prompt: reversed_keys(original(self, prompt))
    )

    collect_completions(case, "record", tmp_path / "reordered")
    first_bodies = [request.body for request in stub.received[:2]]
    reordered_bodies = [request.body for request in stub.received[2:]]
    assert len(reordered_bodies) == 2
    assert reordered_bodies != first_bodies

    reordered_path = case.key.cassette_path(tmp_path / "reordered")
    assert stored_digests(reordered_path) == stored_digests(case.key.cassette_path(tmp_path))

    replayed = collect_completions(case, "replay", tmp_path)
    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in recorded]


# What must never be recorded.


def test_unregistered_message_not_recorded(
    case: LLMCase, stub: OpenAIStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = OpenAICompatibleProvider.request_arguments

    def with_extra_text(self, prompt):
        arguments = original(self, prompt)
        arguments["messages"][1]["content"] += "\nExtra text that was never registered."
        return arguments

    monkeypatch.setattr(OpenAICompatibleProvider, "request_arguments", with_extra_text)
    with pytest.raises(RedactionError, match="not registered for redaction"):
        collect_completions(case, "record", tmp_path)

    assert not case.key.cassette_path(tmp_path).exists()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
    assert stub.received == []


def test_server_error_not_recorded(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.recording.redaction")
    with OpenAIStub(failures=(500,)) as failing:
        case = make_case(prepared, subset, failing.base_url)
        answers = collect_completions(case, "record", tmp_path)

    assert [completion.text for _, completion in answers] == [completion_text(prompt.seed) for prompt, _ in answers]
    assert len(failing.received) == 3
    stored = interactions(case.key.cassette_path(tmp_path))
    assert [interaction["response"]["status"]["code"] for interaction in stored] == [200, 200]
    assert "stub failure" not in case.key.cassette_path(tmp_path).read_text(encoding="utf-8")
    assert "not recording an HTTP 500 response" in caplog.text


def test_unknown_mode_rejected(case: LLMCase, stub: OpenAIStub, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Replay"):
        collect_completions(case, "Replay", tmp_path)
    assert stub.received == []


class _CredentialedRHC(RHC):
    """RHC labelled as credentialed data, to exercise the egress check."""

    access = "credentialed"


def test_credentialed_data_not_sent_to_remote(
    subset: FeatureSubset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    credentialed = prepare(_CredentialedRHC())
    case = make_case(credentialed, subset, "https://api.example.org/v1")

    with pytest.raises(ProviderError, match="credentialed"):
        collect_completions(case, "record", tmp_path)

    assert not list(tmp_path.rglob("*.yaml"))


def test_credentialed_data_recorded_on_loopback(
    subset: FeatureSubset, stub: OpenAIStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    credentialed = prepare(_CredentialedRHC())
    case = make_case(credentialed, subset, stub.base_url)

    answers = collect_completions(case, "record", tmp_path)

    assert len(answers) == 2
    assert len(stub.received) == 2
