"""Tests of recording that survives rate limits, server errors, timeouts, kills and cost caps.

Every test records against the chat completions stub of tests/openai_stub.py on 127.0.0.1, into
its own temporary folder. Waits between retries go to an injected sleep function, which stores
them instead of sleeping, and jitter comes from a seeded random source. A stalled request (one
the stub holds until it is released) marks a known point in a recording: no test depends on
how long anything takes.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx2
import openai
import pytest
import yaml

from ehrbench.cli import main
from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.prompts import get_strategy
from ehrbench.providers import ModelConfig, ModelConfigError
from ehrbench.recording import (
    CassetteWriteError,
    CostBudget,
    LLMCase,
    RecordingError,
    RecordingProgress,
    RecordingRun,
    build_prompts,
    collect_completions,
    count_missing,
)
from ehrbench.recording.cost import (
    CHARACTERS_PER_TOKEN,
    DEFAULT_OUTPUT_TOKENS,
    estimate_input_tokens,
    request_cost,
    worst_case_cost,
)
from ehrbench.recording.progress import ClearProgressFilter
from ehrbench.recording.retry import (
    MAX_WAIT_SECONDS,
    AttemptsExhausted,
    backoff_delay,
    call_with_retries,
    classify_failure,
    parse_retry_after,
)
from anthropic_stub import RETRY_AFTER_SECONDS as ANTHROPIC_RETRY_AFTER
from anthropic_stub import AnthropicStub, Fault
from openai_stub import OpenAIStub, completion_text

# The ``ehrbench`` command line in a fresh interpreter, as the console script starts it.
COMMAND = [sys.executable, "-c", "import sys; from ehrbench.cli import main; sys.exit(main())"]

#: Maximum time a test waits for the stub or a subprocess before it fails. Working code never
#: reaches it, so no result depends on it.
SAFETY_TIMEOUT = 120.0

MODEL_ENTRY = """
[models.stub-model]
base_url = "{base_url}"
api_key_env = ""
structured_output = "json_object_schema"
rows_per_request = 5
timeout_seconds = 30
retry_base_seconds = 0
{extra}
"""


class RecordingSleep:
    """A sleep function that stores the requested waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_case(
    prepared: PreparedDataset, subset: FeatureSubset, base_url: str, rows: int = 10, **settings
) -> LLMCase:
    settings = {"api_key_env": "", "rows_per_request": 5, "max_retries": 3, "retry_base_seconds": 0.5} | settings
    model = ModelConfig("stub-model", base_url=base_url, **settings)
    return LLMCase(prepared, model, get_strategy("naive"), subset, rows=rows, replicate=0)


def make_run(sleep: RecordingSleep, **settings) -> RecordingRun:
    return RecordingRun(sleep=sleep, rng=random.Random(7), **settings)


def stored_count(path: Path) -> int:
    return len(yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"])


def request_seed(request) -> int:
    return json.loads(request.body)["seed"]


def write_models(folder: Path, base_url: str, extra: str = "") -> Path:
    path = folder / "models.toml"
    path.write_text(MODEL_ENTRY.format(base_url=base_url, extra=extra), encoding="utf-8")
    return path


def record_arguments(models: Path, cassettes: Path, rows: int) -> list[str]:
    return [
        "record", "--models-file", str(models), "--cassettes", str(cassettes),
        "--strategies", "naive", "--feature-sets", "5", "--rows", str(rows),
    ]  # fmt: skip


# The retry policy as pure functions.


def test_retry_after_seconds_and_milliseconds() -> None:
    assert parse_retry_after({"Retry-After": "7"}, now=0.0) == 7.0
    assert parse_retry_after({"retry-after": "2.5"}, now=0.0) == 2.5
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "7"}, now=0.0) == 0.25


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    later = email.utils.formatdate(now + 30, usegmt=True)
    earlier = email.utils.formatdate(now - 30, usegmt=True)

    assert parse_retry_after({"Retry-After": later}, now=now) == 30.0
    assert parse_retry_after({"Retry-After": earlier}, now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "-3", "nan", "inf", ""])
def test_retry_after_invalid_ignored(value: str) -> None:
    assert parse_retry_after({"Retry-After": value}, now=0.0) is None


def test_retry_after_absent() -> None:
    assert parse_retry_after({"content-type": "application/json"}, now=0.0) is None


def test_backoff_full_jitter_bounds() -> None:
    rng = random.Random(3)
    for attempt in range(1, 12):
        ceiling = min(MAX_WAIT_SECONDS, 0.5 * 2 ** (attempt - 1))
        draws = [backoff_delay(attempt, 0.5, rng) for _ in range(200)]
        assert min(draws) >= 0.0
        assert max(draws) <= ceiling
        assert max(draws) > 0.5 * ceiling


def test_backoff_seeded_draw_repeats() -> None:
    first = [backoff_delay(attempt, 1.0, random.Random(11)) for attempt in (1, 2, 3)]
    second = [backoff_delay(attempt, 1.0, random.Random(11)) for attempt in (1, 2, 3)]
    assert first == second


def test_backoff_honours_capped_retry_after() -> None:
    rng = random.Random(0)
    assert backoff_delay(1, 0.5, rng, retry_after=7.0) == 7.0
    assert backoff_delay(5, 0.5, rng, retry_after=0.0) == 0.0
    assert backoff_delay(1, 0.5, rng, retry_after=10_000.0) == MAX_WAIT_SECONDS
    assert backoff_delay(10_000, 1.0, rng) <= MAX_WAIT_SECONDS


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt must be at least 1, got 0"):
        backoff_delay(0, 1.0, random.Random(0))


def status_error(status: int, headers: dict[str, str]) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, headers=headers, request=request)
    return openai.APIStatusError("stub failure", response=response, body=None)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 529])
def test_classify_retryable_statuses(status: int) -> None:
    failure = classify_failure(status_error(status, {"Retry-After": "4"}), now=0.0)
    assert failure is not None
    assert failure.reason == f"HTTP {status}"
    assert failure.retry_after == 4.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_classify_client_errors_final(status: int) -> None:
    assert classify_failure(status_error(status, {}), now=0.0) is None


def test_classify_timeout_and_connection() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    timeout = classify_failure(openai.APITimeoutError(request=request), now=0.0)
    assert timeout is not None
    assert timeout.reason == "timeout"

    try:
        raise openai.APIConnectionError(request=request) from ConnectionRefusedError("refused")
    except openai.APIConnectionError as error:
        connection = classify_failure(error, now=0.0)
    assert connection is not None
    assert connection.reason == "connection error (ConnectionRefusedError: refused)"
    assert classify_failure(ValueError("not a request failure"), now=0.0) is None


def test_call_with_retries_gives_up() -> None:
    sleep = RecordingSleep()
    calls = []

    def always_503():
        calls.append(1)
        raise status_error(503, {})

    with pytest.raises(AttemptsExhausted, match=r"gave up after 3 attempts; the last failed with HTTP 503 \(") as error:
        call_with_retries(always_503, "request", max_retries=2, base_seconds=1.0, sleep=sleep, rng=random.Random(5))
    assert len(calls) == 3
    assert len(sleep.waits) == 2
    assert error.value.attempts == 3
    assert isinstance(error.value.__cause__, openai.APIStatusError)


def test_call_with_retries_final_error_unchanged() -> None:
    sleep = RecordingSleep()
    with pytest.raises(openai.APIStatusError):
        call_with_retries(lambda: (_ for _ in ()).throw(status_error(400, {})), "request", 3, 1.0, sleep=sleep)
    assert sleep.waits == []


# Retries against the stub.


def test_429_retry_after_honoured(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.recording.retry")
    sleep = RecordingSleep()
    with OpenAIStub(failures=(429,), failure_headers={"Retry-After": "7"}) as stub:
        case = make_case(prepared, subset, stub.base_url)
        answers = collect_completions(case, "record", tmp_path, make_run(sleep))

    assert sleep.waits == [7.0]
    assert len(stub.received) == 3
    assert [completion.text for _, completion in answers] == [completion_text(prompt.seed) for prompt, _ in answers]
    assert stored_count(case.key.cassette_path(tmp_path)) == 2
    assert "naive-k5-n10-r0 batch 1/2: HTTP 429 on attempt 1 of 4; retrying in 7.00 s" in caplog.text


def test_500_twice_then_success(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.recording.retry")
    sleep = RecordingSleep()
    with OpenAIStub(failures=(500, 500), failure_headers={}) as stub:
        case = make_case(prepared, subset, stub.base_url)
        answers = collect_completions(case, "record", tmp_path, make_run(sleep))

    expected_rng = random.Random(7)
    assert sleep.waits == [backoff_delay(1, 0.5, expected_rng), backoff_delay(2, 0.5, expected_rng)]
    assert len(stub.received) == 4
    assert len(answers) == 2
    assert stored_count(case.key.cassette_path(tmp_path)) == 2
    assert "HTTP 500 on attempt 1 of 4" in caplog.text
    assert "HTTP 500 on attempt 2 of 4" in caplog.text


def test_timeout_then_success(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ehrbench.recording.retry")
    sleep = RecordingSleep()
    with OpenAIStub(stall={1}) as stub:
        # The stalled request is never answered, so the client times out whatever the timeout.
        case = make_case(prepared, subset, stub.base_url, timeout_seconds=0.5)
        answers = collect_completions(case, "record", tmp_path, make_run(sleep))

    assert len(sleep.waits) == 1
    assert len(stub.received) == 3
    assert request_seed(stub.received[0]) == request_seed(stub.received[1])
    assert [completion.text for _, completion in answers] == [completion_text(prompt.seed) for prompt, _ in answers]
    assert "batch 1/2: timeout on attempt 1 of 4" in caplog.text


def test_gives_up_naming_case_and_batch(prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path) -> None:
    sleep = RecordingSleep()
    with OpenAIStub(failures=(200, 503, 503, 503, 503), failure_headers={}) as stub:
        case = make_case(prepared, subset, stub.base_url)
        with pytest.raises(RecordingError) as error:
            collect_completions(case, "record", tmp_path, make_run(sleep))

    message = str(error.value)
    path = case.key.cassette_path(tmp_path)
    assert "naive-k5-n10-r0 batch 2/2" in message
    assert "gave up after 4 attempts; the last failed with HTTP 503 (InternalServerError: Error code: 503" in message
    assert str(path) in message
    assert len(sleep.waits) == 3
    assert len(stub.received) == 5
    assert stored_count(path) == 1


def test_client_error_not_retried(prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path) -> None:
    sleep = RecordingSleep()
    with OpenAIStub(failures=(400,)) as stub:
        case = make_case(prepared, subset, stub.base_url)
        with pytest.raises(RecordingError, match="batch 1/2: BadRequestError"):
            collect_completions(case, "record", tmp_path, make_run(sleep))

    assert sleep.waits == []
    assert len(stub.received) == 1
    assert not case.key.cassette_path(tmp_path).exists()


def test_anthropic_rate_limit_retried(prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path) -> None:
    sleep = RecordingSleep()
    with AnthropicStub(faults=(Fault.RATE_LIMIT, Fault.SERVER_ERROR)) as stub:
        model = ModelConfig(
            "stub-claude", provider="anthropic", base_url=stub.base_url, api_key_env="",
            structured_output="tool_schema", rows_per_request=5, max_retries=2, retry_base_seconds=0.5,
        )  # fmt: skip
        case = LLMCase(prepared, model, get_strategy("naive"), subset, rows=10, replicate=0)
        answers = collect_completions(case, "record", tmp_path, make_run(sleep))

    assert len(answers) == 2
    assert len(stub.received) == 4
    assert sleep.waits[0] == ANTHROPIC_RETRY_AFTER
    assert 0.0 <= sleep.waits[1] <= 1.0
    assert len(sleep.waits) == 2


# Kill safety.


def test_sigkill_keeps_finished_batches(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    with OpenAIStub(stall={3}) as stub:
        models = write_models(tmp_path, stub.base_url)
        process = subprocess.Popen(
            COMMAND + record_arguments(models, cassettes, rows=20),
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            arrived = stub.wait_for_requests(3, timeout=SAFETY_TIMEOUT)
        finally:
            process.kill()
            process.wait(timeout=SAFETY_TIMEOUT)
    assert arrived, "the recording never sent its third request"
    assert process.returncode == -signal.SIGKILL

    [path] = cassettes.rglob("*.yaml")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    stored_seeds = [json.loads(item["request"]["body"])["seed"] for item in document["interactions"]]
    assert stored_seeds == [request_seed(request) for request in stub.received[:2]]

    with OpenAIStub() as second:
        write_models(tmp_path, second.base_url)
        completed = subprocess.run(
            COMMAND + record_arguments(models, cassettes, rows=20),
            cwd=tmp_path, capture_output=True, text=True, timeout=SAFETY_TIMEOUT, check=False,
        )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    sent_again = [request_seed(request) for request in second.received]
    assert len(sent_again) == 2
    assert sent_again[0] == request_seed(stub.received[2])
    assert set(sent_again).isdisjoint(stored_seeds)
    assert stored_count(path) == 4
    assert "2 of 4 requests are in" in completed.stderr


def test_count_missing_after_partial_recording(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path
) -> None:
    with OpenAIStub(failures=(200, 400)) as stub:
        case = make_case(prepared, subset, stub.base_url)
        assert count_missing(case, tmp_path) == 2
        with pytest.raises(RecordingError):
            collect_completions(case, "record", tmp_path, make_run(RecordingSleep()))
        assert count_missing(case, tmp_path) == 1
        requests_before = len(stub.received)

        collect_completions(case, "record", tmp_path, make_run(RecordingSleep()))

    assert len(stub.received) == requests_before + 1
    assert count_missing(case, tmp_path) == 0


def test_cassette_write_is_atomic(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIStub(failures=(200, 400)) as stub:
        case = make_case(prepared, subset, stub.base_url)
        path = case.key.cassette_path(tmp_path)
        with pytest.raises(RecordingError):
            collect_completions(case, "record", tmp_path, make_run(RecordingSleep()))
        before = path.read_bytes()

        def failing_replace(source, target):
            raise OSError("disk full while saving")

        monkeypatch.setattr(os, "replace", failing_replace)
        with pytest.raises(CassetteWriteError, match="disk full while saving") as error:
            collect_completions(case, "record", tmp_path, make_run(RecordingSleep()))

    assert str(path) in str(error.value)
    assert len(stub.received) == 3
    assert path.read_bytes() == before
    assert stored_count(path) == 1
    assert [item.name for item in path.parent.iterdir()] == [path.name]


# Cost cap.


def test_request_cost_from_tokens() -> None:
    priced = ModelConfig("priced", input_price_per_million=2.0, output_price_per_million=8.0)
    assert request_cost(priced, 1_000_000, 0) == 2.0
    assert request_cost(priced, 500_000, 250_000) == pytest.approx(3.0)
    assert request_cost(ModelConfig("unpriced"), 10, 10) is None


def test_worst_case_cost_estimates(prepared: PreparedDataset, subset: FeatureSubset) -> None:
    case = make_case(prepared, subset, "http://127.0.0.1:9/v1")
    prompt = build_prompts(case)[0]
    tokens = estimate_input_tokens(prompt)
    assert tokens * CHARACTERS_PER_TOKEN >= len(prompt.system) + len(prompt.user)

    limited = ModelConfig("m", input_price_per_million=1.0, output_price_per_million=1.0, max_output_tokens=100)
    unlimited = ModelConfig("m", input_price_per_million=1.0, output_price_per_million=1.0)
    assert worst_case_cost(limited, prompt) == pytest.approx((tokens + 100) / 1e6)
    assert worst_case_cost(unlimited, prompt) == pytest.approx((tokens + DEFAULT_OUTPUT_TOKENS) / 1e6)


def test_budget_requires_prices(prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path) -> None:
    with OpenAIStub() as stub:
        case = make_case(prepared, subset, stub.base_url)
        run = make_run(RecordingSleep(), budget=CostBudget(1.0))
        with pytest.raises(ModelConfigError, match="has no input_price_per_million and no output_price_per_million"):
            collect_completions(case, "record", tmp_path, run)
    assert stub.received == []


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_budget_rejects_invalid_cap(value: float) -> None:
    with pytest.raises(ValueError, match="max_cost must be a finite number"):
        CostBudget(value)


def test_max_cost_stops_before_exceeding(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # With no input price every request has the same worst case: 1000 output tokens at 1 USD per million.
    prices = "input_price_per_million = 0\noutput_price_per_million = 1.0\nmax_output_tokens = 1000"
    answered = 17 / 1e6
    worst = 1000 / 1e6
    cap = 2.5 * answered + worst
    cassettes = tmp_path / "cassettes"
    with OpenAIStub() as stub:
        models = write_models(tmp_path, stub.base_url, prices)
        code = main(record_arguments(models, cassettes, rows=20) + ["--max-cost", repr(cap)])

    error = capsys.readouterr().err
    assert code == 3
    assert len(stub.received) == 3
    assert "naive-k5-n20-r0 batch 4/4 was not sent: its worst case of 0.001000 USD" in error
    assert f"Spent {3 * answered:.6f} USD of {cap:.6f} USD; 1 requests in 1 cases are left to record" in error
    [path] = cassettes.rglob("*.yaml")
    assert stored_count(path) == 3


def test_max_cost_rejects_unpriced_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    models = write_models(tmp_path, "http://127.0.0.1:9/v1")
    code = main(record_arguments(models, tmp_path / "cassettes", rows=10) + ["--max-cost", "1"])

    assert code == 2
    assert "model 'stub-model' has no input_price_per_million" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "nan", "ten"])
def test_max_cost_option_invalid(tmp_path: Path, capsys: pytest.CaptureFixture, value: str) -> None:
    with pytest.raises(SystemExit):
        main(["record", "--max-cost", value])
    assert "--max-cost" in capsys.readouterr().err


# Progress display.


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_counts() -> None:
    clock = FakeClock()
    progress = RecordingProgress(4, io.StringIO(), clock)
    progress.request_sent()
    clock.now += 10.0
    progress.request_done("case batch 1/2", rows=5, output_tokens=300, cost=0.0125)
    progress.request_done("case batch 2/2", rows=4, output_tokens=200, cost=None)
    progress.case_done()

    assert progress.line() == (
        "cases 1/4 | requests 2 | rows 9 | output tokens 500 | cost 0.012500 USD (+1 requests without prices) | "
        "50.0 tokens/s"
    )


def test_progress_logs_without_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ehrbench.recording.progress")
    stream = io.StringIO()
    progress = RecordingProgress(2, stream, FakeClock())
    progress.request_done("naive-k5-n10-r0 batch 1/2", rows=5, output_tokens=17, cost=0.5)
    progress.request_done("naive-k5-n10-r0 batch 2/2", rows=5, output_tokens=17, cost=0.5)
    progress.close()

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("naive-k5-n10-r0 batch 1/2 done | cases 0/2 | requests 1 | rows 5 |")
    assert stream.getvalue() == ""


def test_progress_rewrites_terminal_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ehrbench.recording.progress")
    stream = TerminalStream()
    progress = RecordingProgress(1, stream, FakeClock())
    progress.request_done("batch 1/2", rows=12, output_tokens=17, cost=0.0)
    first = progress.line()
    progress.request_done("batch 2/2", rows=0, output_tokens=17, cost=0.0)
    second = progress.line()
    progress.close()

    assert stream.getvalue() == "\r" + first + "\r" + second + " " * (len(first) - len(second)) + "\n"
    assert caplog.records == []


def test_progress_cleared_before_log_record() -> None:
    stream = TerminalStream()
    progress = RecordingProgress(1, stream, FakeClock())
    progress.request_done("batch 1/1", rows=1, output_tokens=1, cost=0.0)
    shown_width = len(progress.line())

    record = logging.LogRecord("ehrbench", logging.WARNING, __file__, 1, "retrying", None, None)
    assert ClearProgressFilter(progress).filter(record) is True
    assert stream.getvalue().endswith("\r" + " " * shown_width + "\r")


def test_progress_during_recording(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ehrbench.recording.progress")
    progress = RecordingProgress(1, io.StringIO(), FakeClock())
    with OpenAIStub() as stub:
        case = make_case(prepared, subset, stub.base_url, input_price_per_million=1.0, output_price_per_million=1.0)
        collect_completions(case, "record", tmp_path, make_run(RecordingSleep(), progress=progress))

    assert progress.requests == 2
    assert progress.output_tokens == 34
    assert progress.cost == pytest.approx(2 * (321 + 17) / 1e6)
    assert [record.getMessage().split(" | ")[0] for record in caplog.records] == [
        "naive-k5-n10-r0 batch 1/2 done",
        "naive-k5-n10-r0 batch 2/2 done",
    ]


# Concurrency.


def test_concurrency_keeps_batch_order(prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path) -> None:
    with OpenAIStub(stall={1}) as stub:
        # The first request to arrive is held until another request of its group was answered.
        releaser = threading.Thread(
            target=lambda: stub.wait_for_answers(1, timeout=SAFETY_TIMEOUT) and stub.release(), daemon=True
        )
        releaser.start()
        case = make_case(prepared, subset, stub.base_url, rows=20, max_concurrency=2)
        answers = collect_completions(case, "record", tmp_path, make_run(RecordingSleep()))
        releaser.join(timeout=SAFETY_TIMEOUT)

    prompts = build_prompts(case)
    assert [prompt.seed for prompt, _ in answers] == [prompt.seed for prompt in prompts]
    assert [completion.text for _, completion in answers] == [completion_text(prompt.seed) for prompt in prompts]
    first_arrival = request_seed(stub.received[0])
    assert stub.answered_seeds[1] == first_arrival
    assert set(stub.answered_seeds[:2]) == {prompts[0].seed, prompts[1].seed}
    assert len(stub.received) == 4

    replayed = collect_completions(case, "replay", tmp_path)
    assert [completion.text for _, completion in replayed] == [completion.text for _, completion in answers]


def test_concurrency_config_checked() -> None:
    with pytest.raises(ModelConfigError, match="max_concurrency must be a finite number of at least 1, got 0"):
        ModelConfig("m", max_concurrency=0)
    with pytest.raises(ModelConfigError, match="max_retries is 2.0; expected int"):
        ModelConfig("m", max_retries=2.0)
    with pytest.raises(ModelConfigError, match="retry_base_seconds must be a finite number of at least 0"):
        ModelConfig("m", retry_base_seconds=-1)
    with pytest.raises(ModelConfigError, match="output_price_per_million is 'free'; expected int or float or null"):
        ModelConfig("m", output_price_per_million="free")
    with pytest.raises(ModelConfigError, match="input_price_per_million must be a finite number of at least 0"):
        ModelConfig("m", input_price_per_million=float("nan"))
