"""Tests of the Anthropic provider against the Messages API stub of tests/anthropic_stub.py.

The stub listens on 127.0.0.1 only. The recording tests send the RHC case naive/k5 with 10 rows
as two requests of 5 rows through vcrpy, and each cassette goes to the test's own temporary
folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from pathlib import Path

import pytest
from sample_prompts import small_prompt
import yaml

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.parsing.answers import parse_answer
from ehrbench.parsing.validity import validate_answers_with_copies
from ehrbench.prompts import get_strategy
from ehrbench.prompts.response_schema import answer_schema
from ehrbench.providers import (
    AnthropicProvider,
    ModelConfig,
    ModelConfigError,
    OpenAICompatibleProvider,
    ProviderError,
    load_models,
    make_provider,
)
from ehrbench.providers.anthropic import ANSWER_TOOL, DEFAULT_MAX_TOKENS
from ehrbench.recording import (
    DIGEST_HEADER,
    CassetteMismatch,
    LLMCase,
    RedactionError,
    collect_completions,
)
from ehrbench.recording.redaction import RequestRedactor, redact_response
from cassette_files import opened_bodies
from anthropic_stub import (
    RETRY_AFTER_SECONDS,
    SECRET_RESPONSE_HEADERS,
    USAGE,
    AnthropicStub,
    Fault,
    answer_input,
    message_body,
)

KEY_VARIABLE = "EHRBENCH_TEST_ANTHROPIC_KEY"
SECRET_KEY = "sk-ant-recording-test-secret-4c1d"

ROWS = ({"age": 63.5, "race": "white", "death": 1}, {"age": 41.0, "race": "black", "death": 0})


def anthropic_config(base_url: str = "http://127.0.0.1:9", **settings) -> ModelConfig:
    settings.setdefault("structured_output", "tool_schema")
    settings.setdefault("api_key_env", KEY_VARIABLE)
    return ModelConfig("stub-claude", provider="anthropic", model="claude-stub", base_url=base_url, **settings)


def provider_on(stub: AnthropicStub, max_retries: int = 0, **settings) -> AnthropicProvider:
    return AnthropicProvider(anthropic_config(stub.base_url, **settings), api_key=SECRET_KEY, max_retries=max_retries)


def received_json(stub: AnthropicStub, index: int = 0) -> dict:
    return json.loads(stub.received[index].body)


def lower_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# Model list entries and make_provider.


def test_config_accepts_anthropic() -> None:
    config = anthropic_config()
    assert config.provider == "anthropic"
    assert config.output_format == "json"
    assert anthropic_config(row_layout="array").output_format == "json-arrays"
    assert anthropic_config(structured_output="none").output_format == "csv"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            'provider = "anthropic"\napi_key_env = "K"\nstructured_output = "json_schema"',
            "structured_output 'json_schema' is invalid for provider 'anthropic'",
        ),
        ('provider = "anthropic"\napi_key_env = "K"', "structured_output 'json_schema' is invalid for provider 'anthropic'"),
        ('structured_output = "tool_schema"', "structured_output 'tool_schema' is invalid for provider 'openai-compatible'"),
        ('provider = "anthropic"\nstructured_output = "tool_schema"', "api_key_env 'OPENAI_API_KEY' would send"),
        ('provider = "claude"', "provider 'claude' is unknown"),
    ],
)
def test_config_rejects_mismatched_entry(tmp_path: Path, entry: str, expected: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(f"[models.bad-model]\n{entry}\n", encoding="utf-8")

    with pytest.raises(ModelConfigError, match=expected) as error:
        load_models(path)

    assert "'bad-model'" in str(error.value)
    assert str(path) in str(error.value)


def test_make_provider_chooses_class() -> None:
    assert isinstance(make_provider(anthropic_config(), "unused"), AnthropicProvider)
    openai_config = ModelConfig("local", base_url="http://127.0.0.1:9/v1")
    assert isinstance(make_provider(openai_config, "unused"), OpenAICompatibleProvider)


def test_make_provider_unknown_provider() -> None:
    config = anthropic_config()
    object.__setattr__(config, "provider", "gemini")

    with pytest.raises(ProviderError, match="provider 'gemini' has no implementation") as error:
        make_provider(config, "unused")
    assert "'anthropic'" in str(error.value)


def test_provider_rejects_openai_form() -> None:
    config = ModelConfig("gpt", base_url="http://127.0.0.1:9/v1", structured_output="json_schema")

    with pytest.raises(ProviderError, match="structured_output 'json_schema' is invalid for the Anthropic provider"):
        AnthropicProvider(config, "unused")


# Request arguments.


def test_arguments_carry_system_and_user() -> None:
    arguments = AnthropicProvider(anthropic_config(structured_output="none"), "unused").request_arguments(small_prompt("csv"))

    assert arguments == {
        "model": "claude-stub",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "system text",
        "messages": [{"role": "user", "content": "user text with real value 63.5"}],
    }


def test_arguments_send_no_sampling_parameter() -> None:
    arguments = AnthropicProvider(anthropic_config(temperature=0.2), "unused").request_arguments(small_prompt())
    for name in ("temperature", "top_p", "top_k", "seed"):
        assert name not in arguments


def test_arguments_set_max_tokens() -> None:
    arguments = AnthropicProvider(anthropic_config(max_output_tokens=2048), "unused").request_arguments(small_prompt())
    assert arguments["max_tokens"] == 2048


def test_arguments_force_answer_tool() -> None:
    prompt = small_prompt()
    arguments = AnthropicProvider(anthropic_config(), "unused").request_arguments(prompt)

    assert arguments["tools"] == [
        {
            "name": ANSWER_TOOL,
            "description": arguments["tools"][0]["description"],
            "input_schema": answer_schema(prompt.schema, 4),
        }
    ]
    assert arguments["tools"][0]["description"]
    assert arguments["tool_choice"] == {"type": "tool", "name": ANSWER_TOOL, "disable_parallel_tool_use": True}


def test_arguments_array_layout_schema() -> None:
    prompt = small_prompt("json-arrays")
    arguments = AnthropicProvider(anthropic_config(row_layout="array"), "unused").request_arguments(prompt)
    schema = arguments["tools"][0]["input_schema"]
    assert schema == answer_schema(prompt.schema, 4, arrays=True)
    assert "prefixItems" in schema["properties"]["rows"]["items"]


def test_arguments_hold_no_observed_range() -> None:
    arguments = AnthropicProvider(anthropic_config(), "unused").request_arguments(small_prompt())
    text = repr(arguments["tools"])
    assert "101.8" not in text
    assert "18.0" not in text


# complete() on the stub.


def test_complete_returns_tool_input_as_json() -> None:
    with AnthropicStub(rows=ROWS) as stub:
        completion = provider_on(stub).complete(small_prompt())

    assert json.loads(completion.text) == answer_input(received_json(stub), ROWS)
    assert completion.finish_reason == "tool_use"
    assert (completion.input_tokens, completion.output_tokens) == (USAGE["input_tokens"], USAGE["output_tokens"])


def test_tool_answer_parses_unchanged() -> None:
    prompt = small_prompt()
    with AnthropicStub(rows=ROWS) as stub:
        completion = provider_on(stub).complete(prompt)

    parsed = parse_answer(completion.text, prompt.schema.names)
    assert parsed.failure == ""
    assert parsed.records == list(ROWS)


def test_complete_returns_plain_text() -> None:
    with AnthropicStub(rows=ROWS) as stub:
        completion = provider_on(stub, structured_output="none").complete(small_prompt("csv"))

    assert completion.text == json.dumps(answer_input(received_json(stub), ROWS))
    assert completion.finish_reason == "end_turn"
    assert "tools" not in received_json(stub)


def test_complete_sends_version_and_key() -> None:
    with AnthropicStub() as stub:
        provider_on(stub).complete(small_prompt())

    headers = lower_headers(stub.received[0].headers)
    assert headers["anthropic-version"]
    # The anthropic SDK 2.x sends the key as a bearer token, not in x-api-key.
    assert headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert stub.received[0].path == "/v1/messages"
    body = received_json(stub)
    assert body["system"] == "system text"
    assert body["messages"] == [{"role": "user", "content": "user text with real value 63.5"}]


# Faults: each raises ProviderError naming the model, or succeeds on an allowed retry.


def test_rate_limit_retried_after_header() -> None:
    with AnthropicStub(faults=(Fault.RATE_LIMIT,)) as stub:
        started = time.monotonic()
        completion = provider_on(stub, max_retries=1).complete(small_prompt())
        elapsed = time.monotonic() - started

    assert completion.finish_reason == "tool_use"
    assert len(stub.received) == 2
    assert elapsed >= RETRY_AFTER_SECONDS


def test_rate_limit_without_retries() -> None:
    with AnthropicStub(faults=(Fault.RATE_LIMIT,)) as stub:
        with pytest.raises(ProviderError) as error:
            provider_on(stub).complete(small_prompt())

    message = str(error.value)
    assert "model 'stub-claude'" in message
    assert "HTTP 429" in message
    assert "rate limit was still reached without a retry by the SDK" in message
    assert len(stub.received) == 1


def test_server_error_retried() -> None:
    with AnthropicStub(faults=(Fault.SERVER_ERROR,)) as stub:
        completion = provider_on(stub, max_retries=1).complete(small_prompt())
    assert completion.finish_reason == "tool_use"
    assert len(stub.received) == 2


def test_server_error_without_retries() -> None:
    with AnthropicStub(faults=(Fault.SERVER_ERROR,)) as stub:
        with pytest.raises(ProviderError, match="HTTP 500") as error:
            provider_on(stub).complete(small_prompt())
    assert "model 'stub-claude'" in str(error.value)
    assert "rerun later" in str(error.value)


def test_dropped_connection_retried() -> None:
    with AnthropicStub(faults=(Fault.DISCONNECT,)) as stub:
        completion = provider_on(stub, max_retries=1).complete(small_prompt())
    assert completion.finish_reason == "tool_use"
    assert len(stub.received) == 2


def test_dropped_connection_without_retries() -> None:
    with AnthropicStub(faults=(Fault.DISCONNECT,)) as stub:
        with pytest.raises(ProviderError, match="connection failed without a retry by the SDK") as error:
            provider_on(stub).complete(small_prompt())
    assert stub.base_url in str(error.value)


def test_timeout_names_setting() -> None:
    with AnthropicStub(faults=(Fault.TIMEOUT,)) as stub:
        started = time.monotonic()
        with pytest.raises(ProviderError, match="timed out after 0.2 s") as error:
            provider_on(stub, timeout_seconds=0.2).complete(small_prompt())
        elapsed = time.monotonic() - started

    assert "raise timeout_seconds" in str(error.value)
    assert elapsed < 1.5


def test_truncated_body_raises() -> None:
    with AnthropicStub(faults=(Fault.TRUNCATED_BODY,)) as stub:
        with pytest.raises(ProviderError, match="not valid JSON") as error:
            provider_on(stub).complete(small_prompt())
    assert "model 'stub-claude'" in str(error.value)


def test_refusal_returned_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.providers.anthropic")
    with AnthropicStub(faults=(Fault.REFUSAL,)) as stub:
        completion = provider_on(stub).complete(small_prompt())

    assert completion.finish_reason == "refusal"
    assert completion.text == ""
    assert completion.output_tokens == USAGE["output_tokens"]
    assert "stub refusal explanation" in caplog.text
    assert "model 'stub-claude' refused a request" in caplog.text


@pytest.mark.parametrize(("structured_output", "output_format"), [("tool_schema", "json"), ("none", "csv")])
def test_max_tokens_returns_partial_answer(
    structured_output: str, output_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.providers.anthropic")
    with AnthropicStub(faults=(Fault.MAX_TOKENS,)) as stub:
        provider = provider_on(stub, structured_output=structured_output, max_output_tokens=64)
        completion = provider.complete(small_prompt(output_format))
        sent = received_json(stub)

    assert completion.finish_reason == "max_tokens"
    if structured_output == "tool_schema":
        assert completion.text == "{}"
    else:
        assert completion.text == json.dumps(answer_input(sent))[:9]
    assert "stop_reason 'max_tokens', max_tokens 64" in caplog.text
    assert "raise max_output_tokens or lower rows_per_request" in caplog.text


class _Message:
    """A Messages API message with only the attributes the provider reads."""

    def __init__(self, stop_reason: str, content: list) -> None:
        self.type = "message"
        self.content = content
        self.stop_reason = stop_reason
        self.usage = None


def test_unknown_stop_reason_raises() -> None:
    provider = AnthropicProvider(anthropic_config(), api_key=SECRET_KEY, max_retries=0)
    with pytest.raises(ProviderError, match="stop_reason 'pause_turn'") as error:
        provider.completion_from_message(_Message("pause_turn", []))
    assert "model 'stub-claude'" in str(error.value)


def test_missing_tool_call_raises() -> None:
    with AnthropicStub(faults=(Fault.NO_TOOL_CALL,)) as stub:
        with pytest.raises(ProviderError, match=f"no '{ANSWER_TOOL}' tool call") as error:
            provider_on(stub).complete(small_prompt())
    assert "['text']" in str(error.value)


def test_wrong_key_names_variable() -> None:
    with AnthropicStub(api_key=SECRET_KEY) as stub:
        provider = AnthropicProvider(anthropic_config(stub.base_url), api_key="sk-ant-wrong", max_retries=0)
        with pytest.raises(ProviderError, match="HTTP 401") as error:
            provider.complete(small_prompt())
    assert KEY_VARIABLE in str(error.value)


def test_base_url_with_version_path() -> None:
    with AnthropicStub() as stub:
        provider = AnthropicProvider(anthropic_config(stub.base_url + "/v1"), api_key=SECRET_KEY, max_retries=0)
        with pytest.raises(ProviderError, match="HTTP 404") as error:
            provider.complete(small_prompt())
    assert "check the model id 'claude-stub' and base_url" in str(error.value)
    assert stub.received[0].path == "/v1/v1/messages"


# Redaction of Messages API requests and responses.


def test_redactor_replaces_system_blocks() -> None:
    redactor = RequestRedactor()
    redactor.register("system 1.5", "system [REDACTED]")
    redactor.register("user 2.5", "user [REDACTED]")
    body = {
        "system": [{"type": "text", "text": "system 1.5"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "user 2.5"}]}],
    }

    redacted = json.loads(redactor.redact_body(json.dumps(body)))

    assert redacted["system"] == [{"type": "text", "text": "system [REDACTED]"}]
    assert redacted["messages"][0]["content"] == [{"type": "text", "text": "user [REDACTED]"}]


def test_redactor_rejects_unregistered_system() -> None:
    redactor = RequestRedactor()
    redactor.register("user", "user")
    body = {"system": "an unregistered system text", "messages": [{"role": "user", "content": "user"}]}
    with pytest.raises(RedactionError, match="not registered"):
        redactor.redact_body(json.dumps(body))


def stored_response(document: dict, status: int = 200) -> dict:
    return {
        "status": {"code": status, "message": "OK"},
        "headers": {"Content-Type": ["application/json"], **{name: [value] for name, value in SECRET_RESPONSE_HEADERS.items()}},
        "body": {"string": json.dumps(document).encode("utf-8")},
    }


def test_response_message_kept_without_headers() -> None:
    kept = redact_response(stored_response(message_body({"messages": []})))
    assert kept is not None
    assert set(kept["headers"]) == {"Content-Type"}


@pytest.mark.parametrize("stop_reason", ["refusal", "max_tokens"])
def test_response_refused_or_cut_message_kept(stop_reason: str) -> None:
    kept = redact_response(stored_response(message_body({"messages": []}, stop_reason=stop_reason)))
    assert kept is not None
    assert json.loads(kept["body"]["string"])["stop_reason"] == stop_reason


def test_response_unknown_stop_reason_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.recording.redaction")
    body = {**message_body({"messages": []}), "stop_reason": "pause_turn"}
    assert redact_response(stored_response(body)) is None
    assert "stop_reason 'pause_turn'" in caplog.text


def test_response_error_dropped() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}}
    assert redact_response(stored_response(error, status=529)) is None
    assert redact_response(stored_response(error)) is None


# Record, then replay through vcrpy.


@pytest.fixture
def stub():
    with AnthropicStub() as server:
        yield server


def make_case(prepared: PreparedDataset, subset: FeatureSubset, base_url: str) -> LLMCase:
    return LLMCase(prepared, anthropic_config(base_url, rows_per_request=5), get_strategy("naive"), subset, rows=10, replicate=0)


@pytest.fixture
def case(prepared: PreparedDataset, subset: FeatureSubset, stub: AnthropicStub, monkeypatch: pytest.MonkeyPatch) -> LLMCase:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    return make_case(prepared, subset, stub.base_url)


@pytest.fixture
def recorded(case: LLMCase, tmp_path: Path) -> list:
    return collect_completions(case, "record", tmp_path)


def interactions(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]


def real_decimals(text: str) -> set[str]:
    """Return the numbers with a decimal point in the example lines of a real user message."""
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return {number for line in lines for number in re.findall(r"\d+\.\d+", line)}


def test_replay_without_key_or_server(
    case: LLMCase, stub: AnthropicStub, tmp_path: Path, recorded: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.stop()
    monkeypatch.delenv(KEY_VARIABLE)
    replayed = collect_completions(case, "replay", tmp_path)

    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in recorded]
    assert [prompt for prompt, _ in replayed] == [prompt for prompt, _ in recorded]
    for (_, completion), request in zip(replayed, stub.received):
        assert json.loads(completion.text) == answer_input(json.loads(request.body))
        assert completion.finish_reason == "tool_use"
        assert (completion.input_tokens, completion.output_tokens) == (321, 17)
    assert len(stub.received) == 2


def test_record_sends_real_text_and_key(case: LLMCase, stub: AnthropicStub, recorded: list) -> None:
    assert len(stub.received) == 2
    for request, (prompt, _) in zip(stub.received, recorded):
        body = json.loads(request.body)
        assert body["system"] == prompt.system
        assert body["messages"][0]["content"] == prompt.user
        assert lower_headers(request.headers)["authorization"] == f"Bearer {SECRET_KEY}"


def test_cassette_holds_no_secret(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    path = case.key.cassette_path(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert SECRET_KEY not in text
    for value in SECRET_RESPONSE_HEADERS.values():
        assert value not in text
    for name in ("authorization", "x-api-key", "anthropic-organization-id", "cookie", "request-id", "x-stainless"):
        assert name not in text.lower()

    for interaction in interactions(path):
        assert set(interaction["request"]["headers"]) == {"content-type", DIGEST_HEADER}
        assert {name.lower() for name in interaction["response"]["headers"]} <= {"content-type"}


def test_cassette_holds_redacted_text_only(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    path = case.key.cassette_path(tmp_path)
    text = path.read_text(encoding="utf-8")

    stored = interactions(path)
    assert len(stored) == 2
    for interaction, (prompt, _) in zip(stored, recorded):
        body = json.loads(interaction["request"]["body"])
        assert body["system"] == prompt.system
        assert body["messages"][0]["content"] == prompt.redacted_user
        assert prompt.redacted_user != prompt.user

        decimals = real_decimals(prompt.user)
        assert decimals
        for value in decimals:
            assert re.search(r"(?<![\d.])" + re.escape(value) + r"(?!\d)", text) is None, value


def test_changed_setting_raises_mismatch(case: LLMCase, tmp_path: Path, recorded: list) -> None:
    changed = dataclasses.replace(case, model=dataclasses.replace(case.model, max_output_tokens=1000))
    with pytest.raises(CassetteMismatch) as error:
        collect_completions(changed, "replay", tmp_path)

    message = str(error.value)
    assert str(case.key.cassette_path(tmp_path)) in message
    assert f'- "max_tokens": {DEFAULT_MAX_TOKENS}' in message
    assert '+ "max_tokens": 1000' in message


def test_unregistered_system_not_recorded(
    case: LLMCase, stub: AnthropicStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = AnthropicProvider.request_arguments

    def with_extra_text(self, prompt):
        arguments = original(self, prompt)
        arguments["system"] += "\nExtra text that was never registered."
        return arguments

    monkeypatch.setattr(AnthropicProvider, "request_arguments", with_extra_text)
    with pytest.raises(RedactionError, match="not registered for redaction"):
        collect_completions(case, "record", tmp_path)

    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
    assert stub.received == []


def test_refusal_recorded_and_counted(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    with AnthropicStub(faults=(Fault.REFUSAL,)) as refusing:
        case = make_case(prepared, subset, refusing.base_url)
        recorded = collect_completions(case, "record", tmp_path)
        rerun = collect_completions(case, "record", tmp_path)
    replayed = collect_completions(case, "replay", tmp_path)

    assert len(refusing.received) == 2
    assert [completion.finish_reason for _, completion in recorded] == ["refusal", "tool_use"]
    assert [completion for _, completion in rerun] == [completion for _, completion in recorded]
    assert [completion for _, completion in replayed] == [completion for _, completion in recorded]
    assert [body["stop_reason"] for body in opened_bodies(case, tmp_path)] == ["refusal", "tool_use"]

    # The stub's answers hold no rows; only the stop reason tells the refusal from an empty answer.
    texts = [(completion.text, prompt.rows_requested) for prompt, completion in replayed]
    reasons = [completion.finish_reason for _, completion in replayed]
    schema = recorded[0][0].schema
    counted = validate_answers_with_copies(texts, schema, frozenset(), stop_reasons=reasons).validity.failures
    unlabelled = validate_answers_with_copies(texts, schema, frozenset()).validity.failures
    assert counted["refusal"] == 1
    assert unlabelled["refusal"] == 0
    assert unlabelled["empty answer"] == 1


def test_server_error_retried_not_recorded(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    with AnthropicStub(faults=(Fault.SERVER_ERROR,)) as failing:
        case = make_case(prepared, subset, failing.base_url)
        answers = collect_completions(case, "record", tmp_path)

    assert len(answers) == 2
    assert len(failing.received) == 3
    path = case.key.cassette_path(tmp_path)
    assert [item["response"]["status"]["code"] for item in interactions(path)] == [200, 200]
    assert "stub failure" not in path.read_text(encoding="utf-8")
