"""Tests of the OpenAI-compatible provider against the chat completions stub of tests/openai_stub.py.

The stub listens on 127.0.0.1 only. These tests cover structured outputs with a strict JSON
schema, a refusal, a truncated body, rate limits with ``Retry-After``, server errors and a
timeout, each on the provider itself (SDK retries) and, where it matters, through recording.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from ehrbench.datasets import PreparedDataset
from ehrbench.features import build_subsets
from ehrbench.parsing import training_row_keys, validate_answers_with_copies
from ehrbench.prompts import get_strategy
from ehrbench.providers import InvalidResponseBody, ModelConfig, OpenAICompatibleProvider
from ehrbench.recording import LLMCase, collect_completions
from cassette_files import opened_bodies
from sample_prompts import small_prompt
from openai_stub import REFUSAL, REFUSAL_TEXT, SCHEMA_ROWS, TRUNCATED, OpenAIStub

SECRET_KEY = "sk-openai-provider-test-secret-5e2a"


def provider_on(stub: OpenAIStub, max_retries: int = 0, **settings) -> OpenAICompatibleProvider:
    settings.setdefault("structured_output", "json_schema")
    config = ModelConfig("stub-gpt", model="gpt-stub", base_url=stub.base_url, api_key_env="K", **settings)
    return OpenAICompatibleProvider(config, api_key=SECRET_KEY, max_retries=max_retries)


def sent(stub: OpenAIStub, index: int = 0) -> dict:
    return json.loads(stub.received[index].body)


def test_strict_schema_sent_and_followed() -> None:
    prompt = small_prompt(age_minimum=0.0, age_missing_rate=0.1)
    with OpenAIStub(answers={1: SCHEMA_ROWS}) as stub:
        completion = provider_on(stub).complete(prompt)
        request = sent(stub)

    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    rows = response_format["json_schema"]["schema"]["properties"]["rows"]
    assert rows["minItems"] == rows["maxItems"] == 4
    assert rows["items"]["required"] == ["age", "race", "death"]
    assert rows["items"]["additionalProperties"] is False
    assert "prefixItems" not in json.dumps(response_format)

    outcome = validate_answers_with_copies([(completion.text, 4)], prompt.schema, frozenset())
    assert outcome.validity.valid == 4
    assert outcome.rows["race"].tolist() == ["black"] * 4


def test_refusal_counted() -> None:
    prompt = small_prompt(age_minimum=0.0, age_missing_rate=0.1)
    with OpenAIStub(answers={1: REFUSAL}) as stub:
        completion = provider_on(stub).complete(prompt)

    assert completion.text == REFUSAL_TEXT
    assert completion.finish_reason == "refusal"
    validity = validate_answers_with_copies(
        [(completion.text, 4)], prompt.schema, frozenset(), stop_reasons=[completion.finish_reason]
    ).validity
    assert validity.failures == {"refusal": 1}


def test_truncated_body_raises() -> None:
    with OpenAIStub(answers={1: TRUNCATED}) as stub:
        with pytest.raises(InvalidResponseBody, match="returned a body that is not valid JSON"):
            provider_on(stub).complete(small_prompt(age_minimum=0.0, age_missing_rate=0.1))
    assert len(stub.received) == 1


def test_rate_limit_retried_after_header() -> None:
    with OpenAIStub(failures=(429,), failure_headers={"Retry-After": "1"}) as stub:
        started = time.monotonic()
        completion = provider_on(stub, max_retries=1).complete(small_prompt(age_minimum=0.0, age_missing_rate=0.1))
        elapsed = time.monotonic() - started

    assert completion.finish_reason == "stop"
    assert len(stub.received) == 2
    assert elapsed >= 1.0


def test_server_error_raises_without_retries() -> None:
    with OpenAIStub(failures=(500,)) as stub:
        with pytest.raises(openai.InternalServerError):
            provider_on(stub).complete(small_prompt(age_minimum=0.0, age_missing_rate=0.1))
    assert len(stub.received) == 1


def test_timeout_raises() -> None:
    with OpenAIStub(stall={1}) as stub:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            provider_on(stub, timeout_seconds=0.3).complete(small_prompt(age_minimum=0.0, age_missing_rate=0.1))
        elapsed = time.monotonic() - started
    assert elapsed < 3.0


# Through recording: a refusal and a truncated body on the RHC case naive/k5, 10 rows in 2 requests.


def make_case(prepared: PreparedDataset, base_url: str) -> LLMCase:
    config = ModelConfig(
        "stub-gpt", model="gpt-stub", base_url=base_url, api_key_env="", structured_output="json_schema",
        rows_per_request=5, max_retries=1, retry_base_seconds=0.0,
    )
    subset = build_subsets(prepared, (5,))[0]
    return LLMCase(prepared, config, get_strategy("naive"), subset, rows=10, replicate=0)


def test_recording_stores_refusal_and_schema_rows(prepared: PreparedDataset, tmp_path: Path) -> None:
    with OpenAIStub(answers={1: REFUSAL, 2: SCHEMA_ROWS}) as stub:
        case = make_case(prepared, stub.base_url)
        recorded = collect_completions(case, "record", tmp_path)
    replayed = collect_completions(case, "replay", tmp_path)

    assert [completion for _, completion in replayed] == [completion for _, completion in recorded]
    assert [completion.finish_reason for _, completion in replayed] == ["refusal", "stop"]
    schema = replayed[0][0].schema
    outcome = validate_answers_with_copies(
        [(completion.text, prompt.rows_requested) for prompt, completion in replayed],
        schema,
        training_row_keys(prepared.train, schema),
        stop_reasons=[completion.finish_reason for _, completion in replayed],
    )
    assert outcome.validity.failures["refusal"] == 1
    assert outcome.validity.parsed == 5
    assert set(outcome.validity.rejections) <= {"exact copy", "beyond requested"}


def test_recording_retries_truncated_body(prepared: PreparedDataset, tmp_path: Path) -> None:
    with OpenAIStub(answers={1: TRUNCATED}) as stub:
        case = make_case(prepared, stub.base_url)
        recorded = collect_completions(case, "record", tmp_path)

    assert len(stub.received) == 3
    assert len(recorded) == 2
    assert [body["object"] for body in opened_bodies(case, tmp_path)] == ["chat.completion"] * 2
