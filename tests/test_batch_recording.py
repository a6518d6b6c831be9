"""Tests of ``ehrbench record --batch``: batch API recording against the stubs of tests/batch_stub.py.

Every stub listens on 127.0.0.1 only, and every cassette goes to the test's own temporary
folder. Most tests record the RHC case naive/k5 with 20 rows, which is four requests of 5 rows;
the tests that need two cases add schema/k5. Each case costs a recording run and a replay, so
the tests use as few cases as they can.
Waits between polls and retries go to an injected sleep function, which stores them instead of
sleeping.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import random
from pathlib import Path

import anthropic
import pytest
import yaml

from ehrbench.cli import main
from ehrbench.prompts import get_strategy
from ehrbench.providers import ModelConfig, ModelConfigError, ProviderError, load_models, make_provider
from ehrbench.providers import openai_compatible
from ehrbench.providers.anthropic_batch import AnthropicBatchClient
from ehrbench.providers.batch_api import (
    CUSTOM_ID_PATTERN,
    BatchAPIError,
    BatchRequest,
    check_requests,
    split_requests,
)
from ehrbench.providers.openai_batch import OpenAIBatchClient
from ehrbench.recording import (
    CostBudget,
    LLMCase,
    RecordingError,
    RecordingRun,
    build_prompts,
    collect_completions,
    count_missing,
)
from ehrbench.recording import batch as batch_recording
from ehrbench.recording.batch import record_batches
from ehrbench.recording.batch_state import STATE_FOLDER, BatchStateError
from ehrbench.recording.cost import request_cost, worst_case_cost
from anthropic_stub import USAGE, answer_input
from batch_stub import RETRY_AFTER_SECONDS, AnthropicBatchStub, OpenAIBatchStub
from openai_stub import OpenAIStub, completion_text

KEY_VARIABLE = "EHRBENCH_TEST_BATCH_KEY"
SECRET_KEY = "sk-batch-recording-test-secret-9f3e"

PROTOCOLS = ("openai", "anthropic")

STATE_KEYS = {"version", "batch_id", "protocol", "model", "base_url", "submitted_at", "requests"}
ENTRY_KEYS = {"cassette", "case", "index", "count", "digest"}


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)


class RecordingSleep:
    """A sleep function that stores the requested waits, and raises KeyboardInterrupt at call ``interrupt_at``."""

    def __init__(self, interrupt_at: int = 0) -> None:
        self.waits: list[float] = []
        self.interrupt_at = interrupt_at

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == self.interrupt_at:
            raise KeyboardInterrupt


def make_stub(protocol: str, **settings) -> OpenAIBatchStub | AnthropicBatchStub:
    return OpenAIBatchStub(**settings) if protocol == "openai" else AnthropicBatchStub(**settings)


def make_model(protocol: str, base_url: str, **settings) -> ModelConfig:
    common = {"base_url": base_url, "api_key_env": KEY_VARIABLE, "rows_per_request": 5, "retry_base_seconds": 0}
    if protocol == "openai":
        return ModelConfig("batch-openai", structured_output="json_object_schema", **common, **settings)
    return ModelConfig("batch-anthropic", provider="anthropic", structured_output="tool_schema", **common, **settings)


def make_cases(prepared, subset, model: ModelConfig, strategies=("naive",), rows: int = 20) -> list[LLMCase]:
    return [LLMCase(prepared, model, get_strategy(name), subset, rows=rows, replicate=0) for name in strategies]


def make_run(sleep: RecordingSleep | None = None, max_cost: float | None = None) -> RecordingRun:
    return RecordingRun(CostBudget(max_cost), sleep=sleep or RecordingSleep(), rng=random.Random(7))


def state_files(root: Path) -> list[Path]:
    return sorted((root / STATE_FOLDER).glob("*.json"))


def escaped(text: str) -> str:
    """Return ``text`` as it appears inside a JSON string of a canonical request body."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def completion_of(protocol: str, case: LLMCase, index: int) -> str:
    """Return the completion text that the stub sends for request ``index`` of ``case``."""
    prompt = build_prompts(case)[index]
    arguments = make_provider(case.model, "unused", max_retries=0).request_arguments(prompt)
    if protocol == "openai":
        return completion_text(arguments["seed"])
    return json.dumps(answer_input(arguments))


# Results land in their cassettes, and replay cannot tell them from live recordings.


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_batch_cassettes_equal_live_ones(protocol: str, prepared, subset, tmp_path: Path) -> None:
    with make_stub(protocol) as stub:
        cases = make_cases(prepared, subset, make_model(protocol, stub.base_url))
        outcome = record_batches(cases, tmp_path / "batch", make_run(), poll_seconds=30)
        for case in cases:
            collect_completions(case, "record", tmp_path / "live")

    assert outcome.recorded == 4
    assert outcome.failures == []
    assert stub.creates == 1
    assert stub.batch_sizes == [4]
    for case in cases:
        batch_text = case.key.cassette_path(tmp_path / "batch").read_text(encoding="utf-8")
        live_text = case.key.cassette_path(tmp_path / "live").read_text(encoding="utf-8")
        assert batch_text == live_text
        replayed = collect_completions(case, "replay", tmp_path / "batch")
        expected = [completion_of(protocol, case, index) for index in range(4)]
        assert [completion.text for _, completion in replayed] == expected
    assert state_files(tmp_path / "batch") == []


def test_openai_input_lines_follow_protocol(prepared, subset, tmp_path: Path) -> None:
    with OpenAIBatchStub() as stub:
        model = make_model("openai", stub.base_url)
        cases = make_cases(prepared, subset, model)
        record_batches(cases, tmp_path, make_run())

    lines = stub.uploaded_lines()
    provider = make_provider(model, "unused", max_retries=0)
    expected = [provider.request_arguments(prompt) for case in cases for prompt in build_prompts(case)]
    assert [set(line) for line in lines] == [{"custom_id", "method", "url", "body"}] * 4
    assert {line["method"] for line in lines} == {"POST"}
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert [line["body"] for line in lines] == expected
    assert all(CUSTOM_ID_PATTERN.match(line["custom_id"]) for line in lines)
    assert sorted(stub.deleted) == ["batch_1-output", "file-1"]


def test_anthropic_batch_deleted_after_results(prepared, subset, tmp_path: Path) -> None:
    with AnthropicBatchStub() as stub:
        record_batches(make_cases(prepared, subset, make_model("anthropic", stub.base_url)), tmp_path, make_run())

    creates = [request for request in stub.received if request.path == "/v1/messages/batches"]
    assert stub.deleted == ["msgbatch_1"]
    assert [request.method for request in creates] == ["POST"]
    assert all(set(item) == {"custom_id", "params"} for item in json.loads(creates[0].body)["requests"])


# Resuming from the state file instead of paying twice.


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_resume_after_stop_does_not_resubmit(protocol: str, prepared, subset, tmp_path: Path) -> None:
    with make_stub(protocol, polls_until_ended=2) as stub:
        cases = make_cases(prepared, subset, make_model(protocol, stub.base_url))
        with pytest.raises(KeyboardInterrupt):
            record_batches(cases, tmp_path, make_run(RecordingSleep(interrupt_at=1)))
        saved = state_files(tmp_path)
        missing_after_stop = [count_missing(case, tmp_path) for case in cases]

        outcome = record_batches(cases, tmp_path, make_run())

    assert len(saved) == 1
    assert missing_after_stop == [4]
    assert stub.creates == 1
    assert outcome.resumed_batches == 1
    assert outcome.submitted_batches == 0
    assert outcome.recorded == 4
    assert [count_missing(case, tmp_path) for case in cases] == [0]
    assert state_files(tmp_path) == []


def test_unknown_batch_names_state_file(prepared, subset, tmp_path: Path) -> None:
    with make_stub("openai", polls_until_ended=2) as stub:
        cases = make_cases(prepared, subset, make_model("openai", stub.base_url))
        with pytest.raises(KeyboardInterrupt):
            record_batches(cases, tmp_path, make_run(RecordingSleep(interrupt_at=1)))
        state = state_files(tmp_path)[0]
        document = json.loads(state.read_text(encoding="utf-8"))
        state.write_text(json.dumps({**document, "batch_id": "batch_unknown"}), encoding="utf-8")

        with pytest.raises(RecordingError, match="does not know this batch") as error:
            record_batches(cases, tmp_path, make_run())

    assert "delete its state file" in str(error.value)
    assert str(state.parent) in str(error.value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_key_or_prompt_in_files(protocol: str, prepared, subset, tmp_path: Path) -> None:
    with make_stub(protocol, polls_until_ended=2) as stub:
        cases = make_cases(prepared, subset, make_model(protocol, stub.base_url))
        with pytest.raises(KeyboardInterrupt):
            record_batches(cases, tmp_path, make_run(RecordingSleep(interrupt_at=1)))
        state_text = state_files(tmp_path)[0].read_text(encoding="utf-8")
        record_batches(cases, tmp_path, make_run())

    prompts = [prompt for case in cases for prompt in build_prompts(case)]
    state = json.loads(state_text)
    assert set(state) == STATE_KEYS
    assert all(set(entry) == ENTRY_KEYS for entry in state["requests"].values())
    assert SECRET_KEY not in state_text
    assert all(escaped(prompt.user) not in state_text for prompt in prompts)
    assert all(escaped(prompt.system) not in state_text for prompt in prompts)
    assert any(SECRET_KEY in json.dumps(request.headers) for request in stub.received)

    for case in cases:
        text = case.key.cassette_path(tmp_path).read_text(encoding="utf-8")
        bodies = [interaction["request"]["body"] for interaction in yaml.safe_load(text)["interactions"]]
        assert SECRET_KEY not in text
        assert all(escaped(prompt.user) not in body for prompt in prompts for body in bodies)
        assert all(escaped(prompt.redacted_user) in " ".join(bodies) for prompt in build_prompts(case))


def test_unselected_state_left_alone(prepared, subset, tmp_path: Path) -> None:
    with OpenAIBatchStub(polls_until_ended=2) as stub:
        cases = make_cases(prepared, subset, make_model("openai", stub.base_url), ("naive", "schema"), rows=10)
        with pytest.raises(KeyboardInterrupt):
            record_batches(cases, tmp_path, make_run(RecordingSleep(interrupt_at=1)))

        partial_outcome = record_batches(cases[:1], tmp_path, make_run())
        saved = state_files(tmp_path)
        outcome = record_batches(cases, tmp_path, make_run())

    assert partial_outcome.waiting == 2
    assert partial_outcome.recorded == 0
    assert len(saved) == 1
    assert stub.creates == 1
    assert outcome.recorded == 4


def test_invalid_state_file_rejected(prepared, subset, tmp_path: Path) -> None:
    folder = tmp_path / STATE_FOLDER
    folder.mkdir()
    (folder / "openai-batch_9.json").write_text('{"version": 1, "batch_id": "batch_9"}', encoding="utf-8")
    cases = make_cases(prepared, subset, make_model("openai", "http://127.0.0.1:9/v1"))

    with pytest.raises(BatchStateError, match=r"openai-batch_9\.json is invalid \(KeyError"):
        record_batches(cases, tmp_path, make_run())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": true, "batch_id": "b"}', "version True is not 1"),
        ('{"version": 1.0, "batch_id": "b"}', "version 1.0 is not 1"),
        ("[" * 100_000 + "]" * 100_000, "cannot be read"),
    ],
)
def test_state_file_types_checked(prepared, subset, tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / STATE_FOLDER
    folder.mkdir()
    (folder / "openai-b.json").write_text(text, encoding="utf-8")
    cases = make_cases(prepared, subset, make_model("openai", "http://127.0.0.1:9/v1"))

    with pytest.raises(BatchStateError, match=re.escape(message)):
        record_batches(cases, tmp_path, make_run())


# Requests that a batch did not record.


FAULTS = {
    "openai": {1: "errored", 2: "expired", 4: "missing"},
    "anthropic": {1: "errored", 2: "canceled", 4: "expired"},
}
REASONS = {
    "openai": {0: "errored", 1: "expired", 3: "no result"},
    "anthropic": {0: "errored", 1: "canceled", 3: "expired"},
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failed_requests_reported_then_recorded(protocol: str, prepared, subset, tmp_path: Path) -> None:
    with make_stub(protocol, faults=FAULTS[protocol]) as stub:
        cases = make_cases(prepared, subset, make_model(protocol, stub.base_url))
        first = record_batches(cases, tmp_path, make_run())
        missing_between = [count_missing(case, tmp_path) for case in cases]
        second = record_batches(cases, tmp_path, make_run())

    assert {failure.index: failure.reason for failure in first.failures} == REASONS[protocol]
    assert {failure.case for failure in first.failures} == {"naive-k5-n20-r0"}
    assert {failure.batch_id for failure in first.failures} == {"batch_1" if protocol == "openai" else "msgbatch_1"}
    assert first.recorded == 1
    assert missing_between == [3]
    assert stub.batch_sizes == [4, 3]
    assert second.recorded == 3
    assert second.failures == []
    assert [count_missing(case, tmp_path) for case in cases] == [0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_filtered_result_not_stored(protocol: str, prepared, subset, tmp_path: Path) -> None:
    with make_stub(protocol, faults={3: "not_completion"}) as stub:
        cases = make_cases(prepared, subset, make_model(protocol, stub.base_url))
        first = record_batches(cases, tmp_path, make_run())
        missing_between = count_missing(cases[0], tmp_path)
        second = record_batches(cases, tmp_path, make_run())

    assert [(failure.case, failure.index, failure.reason) for failure in first.failures] == [
        ("naive-k5-n20-r0", 2, "dropped")
    ]
    assert missing_between == 1
    assert second.recorded == 1


def test_failed_batch_reports_every_request(prepared, subset, tmp_path: Path) -> None:
    with OpenAIBatchStub(final_status="failed") as stub:
        cases = make_cases(prepared, subset, make_model("openai", stub.base_url))
        outcome = record_batches(cases, tmp_path, make_run())

    assert len(outcome.failures) == 4
    assert {failure.reason for failure in outcome.failures} == {"no result"}
    assert {failure.detail for failure in outcome.failures} == {"invalid_input: stub validation failure"}
    assert state_files(tmp_path) == []


# Cost cap, egress guard and retries.


def test_budget_stops_before_submitting(prepared, subset, tmp_path: Path) -> None:
    with OpenAIBatchStub() as stub:
        model = make_model("openai", stub.base_url, input_price_per_million=2.0, output_price_per_million=8.0)
        cases = make_cases(prepared, subset, model)
        first_cost = worst_case_cost(model, build_prompts(cases[0])[0])
        outcome = record_batches(cases, tmp_path, make_run(max_cost=first_cost * 0.4))

    assert outcome.unaffordable == 4
    assert outcome.unaffordable_cases == 1
    assert stub.creates == 0
    assert stub.received == []
    assert state_files(tmp_path) == []


def test_budget_uses_batch_price_factor(prepared, subset, tmp_path: Path) -> None:
    with OpenAIBatchStub() as stub:
        model = make_model("openai", stub.base_url, input_price_per_million=2.0, output_price_per_million=8.0)
        cases = make_cases(prepared, subset, model)
        first_cost = worst_case_cost(model, build_prompts(cases[0])[0])
        run = make_run(max_cost=first_cost * 0.75)
        outcome = record_batches(cases, tmp_path, run)

    assert stub.batch_sizes == [1]
    assert outcome.recorded == 1
    assert outcome.unaffordable == 3
    assert outcome.unaffordable_cases == 1
    assert run.budget.spent == pytest.approx(request_cost(model, 321, 17) * 0.5)


def test_egress_rejects_credentialed_remote(
    prepared, subset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = copy.copy(prepared.dataset)
    dataset.access = "credentialed"
    credentialed = dataclasses.replace(prepared, dataset=dataset)
    # The stub plays a remote endpoint here, so a request that escaped the guard would reach it.
    monkeypatch.setattr(openai_compatible, "is_loopback", lambda url: False)

    with OpenAIBatchStub() as stub:
        cases = make_cases(credentialed, subset, make_model("openai", stub.base_url))
        with pytest.raises(ProviderError, match="is credentialed data"):
            record_batches(cases, tmp_path, make_run())

    assert stub.received == []
    assert not tmp_path.joinpath(STATE_FOLDER).exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_poll_survives_rate_limit(protocol: str, prepared, subset, tmp_path: Path) -> None:
    sleep = RecordingSleep()
    limited = ((429, {"Retry-After": str(RETRY_AFTER_SECONDS)}),)
    with make_stub(protocol, status_failures=limited) as stub:
        cases = make_cases(prepared, subset, make_model(protocol, stub.base_url))
        outcome = record_batches(cases, tmp_path, make_run(sleep), poll_seconds=30)

    assert outcome.recorded == 4
    assert sleep.waits == [RETRY_AFTER_SECONDS, 30]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_create_retried_after_rate_limit_only(protocol: str, prepared, subset, tmp_path: Path) -> None:
    sleep = RecordingSleep()
    with make_stub(protocol, create_failures=((429, {"Retry-After": "3"}),)) as limited:
        cases = make_cases(prepared, subset, make_model(protocol, limited.base_url))
        outcome = record_batches(cases, tmp_path / "limited", make_run(sleep))
    with make_stub(protocol, create_failures=((500, {}),)) as failing:
        cases = make_cases(prepared, subset, make_model(protocol, failing.base_url))
        with pytest.raises(RecordingError, match="may have created the batch anyway"):
            record_batches(cases, tmp_path / "failing", make_run())

    assert outcome.recorded == 4
    assert sleep.waits[0] == 3.0
    create_path = "/v1/batches" if protocol == "openai" else "/v1/messages/batches"
    assert sum(request.path == create_path for request in failing.received) == 1
    assert failing.creates == 0


def test_endpoint_without_batch_api(prepared, subset, tmp_path: Path) -> None:
    with OpenAIStub() as stub:
        cases = make_cases(prepared, subset, make_model("openai", stub.base_url))
        with pytest.raises(RecordingError, match="'batch-openai' .*: submitting a batch failed: NotFoundError"):
            record_batches(cases, tmp_path, make_run())

    assert [request.path for request in stub.received] == ["/v1/files"]
    assert state_files(tmp_path) == []


def test_requests_split_at_limit(prepared, subset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limited = functools.partial(OpenAIBatchClient, max_requests=3)
    monkeypatch.setitem(batch_recording.BATCH_CLIENTS, "openai-compatible", ("openai", limited))
    with OpenAIBatchStub() as stub:
        cases = make_cases(prepared, subset, make_model("openai", stub.base_url))
        outcome = record_batches(cases, tmp_path, make_run())

    assert stub.batch_sizes == [3, 1]
    assert outcome.submitted_batches == 2
    assert outcome.recorded == 4


# The providers layer on its own.


def test_split_requests_by_count_and_bytes() -> None:
    requests = [BatchRequest(f"r{number}", {"text": "x" * size}) for number, size in enumerate((10, 10, 30, 5))]

    def size_of(request: BatchRequest) -> int:
        return len(request.arguments["text"])

    by_count = split_requests(requests, max_count=2, max_bytes=100, size_of=size_of)
    by_bytes = split_requests(requests, max_count=10, max_bytes=30, size_of=size_of)

    assert [[request.custom_id for request in batch] for batch in by_count] == [["r0", "r1"], ["r2", "r3"]]
    assert [[request.custom_id for request in batch] for batch in by_bytes] == [["r0", "r1"], ["r2"], ["r3"]]
    with pytest.raises(BatchAPIError, match="takes 30 bytes, more than the 20 bytes"):
        split_requests(requests, max_count=10, max_bytes=20, size_of=size_of)


@pytest.mark.parametrize(
    ("custom_ids", "message"),
    [(["ok", "ok"], "occurs twice"), (["has space"], "is invalid"), (["x" * 65], "is invalid"), ([], "at least one")],
)
def test_check_requests_rejects(custom_ids: list[str], message: str) -> None:
    with pytest.raises(BatchAPIError, match=message):
        check_requests([BatchRequest(custom_id, {}) for custom_id in custom_ids])


def test_results_url_on_other_host_rejected() -> None:
    with AnthropicBatchStub(results_address="http://127.0.0.2:9") as stub:
        client = AnthropicBatchClient(anthropic.Anthropic(api_key=SECRET_KEY, base_url=stub.base_url, max_retries=0))
        params = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "text"}]}
        batch_id = client.submit([BatchRequest("r0", params)])
        client.poll(batch_id)
        with pytest.raises(BatchAPIError, match="is not on the configured endpoint"):
            client.results(batch_id)

    assert not any(request.path.endswith("/results") for request in stub.received)


def test_anthropic_results_keep_usage() -> None:
    with AnthropicBatchStub(polls_until_ended=0) as stub:
        client = AnthropicBatchClient(anthropic.Anthropic(api_key=SECRET_KEY, base_url=stub.base_url, max_retries=0))
        params = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "text"}]}
        results = client.results(client.submit([BatchRequest("r0", params)]))

    assert [(result.custom_id, result.status) for result in results] == [("r0", "succeeded")]
    assert results[0].body["usage"] == USAGE


# Model entry and command line.


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "half", True])
def test_batch_price_factor_checked(value: object) -> None:
    with pytest.raises(ModelConfigError, match="batch_price_factor"):
        ModelConfig("m", batch_price_factor=value)


def test_batch_price_factor_loaded(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.m]\nbase_url = "http://127.0.0.1:9/v1"\nbatch_price_factor = 0.25\n', encoding="utf-8")

    assert load_models(path)["m"].batch_price_factor == 0.25
    assert ModelConfig("default").batch_price_factor == 0.5


def write_models(folder: Path, base_url: str, extra: str = "") -> Path:
    path = folder / "models.toml"
    path.write_text(
        f'[models.stub-model]\nbase_url = "{base_url}"\napi_key_env = ""\nstructured_output = "json_object_schema"\n'
        f"rows_per_request = 5\nretry_base_seconds = 0\n{extra}\n",
        encoding="utf-8",
    )
    return path


def record_arguments(models: Path, cassettes: Path, *extra: str) -> list[str]:
    return [
        "record", "--models-file", str(models), "--cassettes", str(cassettes), "--strategies", "naive",
        "--feature-sets", "5", "--rows", "10", *extra,
    ]  # fmt: skip


def test_cli_batch_records(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with OpenAIBatchStub() as stub:
        models = write_models(tmp_path, stub.base_url)
        status = main(record_arguments(models, tmp_path / "cassettes", "--batch", "--batch-poll-seconds", "0.01"))

    assert status == 0
    assert "2 requests recorded from 1 new and 0 resumed batches" in capsys.readouterr().err
    assert stub.creates == 1
    assert len(list((tmp_path / "cassettes").rglob("*.yaml"))) == 1


def test_cli_batch_failure_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with OpenAIBatchStub(faults={2: "errored"}) as stub:
        models = write_models(tmp_path, stub.base_url)
        status = main(record_arguments(models, tmp_path / "cassettes", "--batch", "--batch-poll-seconds", "0.01"))

    error = capsys.readouterr().err
    assert status == 2
    assert "not recorded: model 'stub-model' naive-k5-n10-r0 batch 2/2 (batch batch_1): errored" in error
    assert "rerun the same command" in error


def test_cli_batch_budget_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prices = "input_price_per_million = 2.0\noutput_price_per_million = 8.0"
    with OpenAIBatchStub() as stub:
        models = write_models(tmp_path, stub.base_url, prices)
        status = main(record_arguments(models, tmp_path / "cassettes", "--batch", "--max-cost", "0.000001"))

    assert status == 3
    assert "stopped by --max-cost 0.000001 USD: 2 requests in 1 cases were not submitted" in capsys.readouterr().err
    assert stub.received == []


def test_cli_poll_seconds_needs_batch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    models = write_models(tmp_path, "http://127.0.0.1:9/v1")

    assert main(record_arguments(models, tmp_path, "--batch-poll-seconds", "5")) == 2
    assert "--batch-poll-seconds applies only with --batch" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_cli_poll_seconds_invalid(value: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["record", "--batch", "--batch-poll-seconds", value])

    assert "--batch-poll-seconds" in capsys.readouterr().err
