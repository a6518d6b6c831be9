"""Send the requests of one case that its cassette does not contain yet, saving after each group.

Requests go out in groups of at most ``max_concurrency`` of the model, each group through
its own vcrpy cassette context. vcrpy writes the cassette when a context closes, so every
completed group is on disk before the next one is sent. With ``max_concurrency = 1`` that is
one context per request, and a recording killed at any point (even with SIGKILL) keeps every
completed request. With N > 1 requests in flight, the answers of an unfinished group are lost
on SIGKILL. A group cannot be saved member by member because vcrpy patches the HTTP client of
the whole process for one cassette at a time, so concurrent requests share one context.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import openai
import vcr

from ehrbench.parsing import parse_answer
from ehrbench.prompts import Prompt
from ehrbench.providers import Completion, ModelConfig, ProviderError
from ehrbench.recording.cost import BudgetExhausted, CostBudget, worst_case_cost
from ehrbench.recording.progress import RecordingProgress
from ehrbench.recording.retry import AttemptsExhausted, call_with_retries

logger = logging.getLogger(__name__)

_PROVIDER_ERRORS = (openai.APIError, anthropic.APIError, ProviderError, AttemptsExhausted)


@dataclass
class RecordingRun:
    """State shared by the cases of one recording run: the cost cap, the progress line and the clock.

    ``sleep`` waits between retries and ``rng`` draws their jitter; tests replace both.
    ``rerun_options`` are the command-line options that a rerun hint must repeat, such as
    ``("--models-file", "my-models.toml")``.
    """

    budget: CostBudget = field(default_factory=CostBudget)
    progress: RecordingProgress | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    rerun_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Batch:
    """One request of a case: its position (from 0), its label for messages and its prompt."""

    index: int
    label: str
    prompt: Prompt


class BatchFailed(Exception):
    """A request failed for good; ``__cause__`` is the error, ``batch`` the request."""

    def __init__(self, batch: Batch) -> None:
        super().__init__(batch.label)
        self.batch = batch


def send_missing(
    provider,
    config: ModelConfig,
    batches: list[Batch],
    recorder: vcr.VCR,
    path: Path,
    run: RecordingRun,
) -> dict[int, Completion]:
    """Send ``batches`` to ``provider`` (configured by ``config``) through the cassette at ``path``.

    Returns the answers by batch index.
    Raises :class:`BudgetExhausted` before a group whose worst-case cost does not fit in the
    cap of ``run.budget``, and :class:`BatchFailed` for the first request (in batch order)
    that failed for good. The answers of the groups before, and of the other requests of the
    failed group, are saved in the cassette either way.
    """
    answers: dict[int, Completion] = {}
    pending = list(batches)
    with ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="ehrbench-send") as pool:
        while pending:
            group = pending[: config.max_concurrency]
            affordable = run.budget.affordable(config, [batch.prompt for batch in group])
            if affordable == 0:
                raise _budget_exhausted(config, group[0], len(pending), run.budget)
            group = group[:affordable]
            answers.update(_send_group(provider, config, group, recorder, path, run, pool))
            pending = pending[len(group) :]
    return answers


def _send_group(provider, config, group, recorder, path, run, pool) -> dict[int, Completion]:
    if run.progress is not None:
        run.progress.request_sent()
    with recorder.use_cassette(str(path)):
        if len(group) == 1:
            # One request is sent from this thread, so SIGTERM interrupts it at once.
            futures = [_call_here(_send_one, provider, config, group[0], run)]
        else:
            # NOTE: on SIGTERM the context saves the finished answers, but the pool still waits
            # for the requests in flight before the process exits.
            futures = [pool.submit(_send_one, provider, config, batch, run) for batch in group]
        errors = [future.exception() for future in futures]
    # The context has closed, so every answer of the group is in the cassette file now.

    answers = {}
    for batch, future, error in zip(group, futures, errors):
        if error is None:
            answers[batch.index] = future.result()
            _count(config, batch, answers[batch.index], run)
    for batch, error in zip(group, errors):
        if error is not None:
            if not isinstance(error, _PROVIDER_ERRORS):
                raise error
            raise BatchFailed(batch) from error
    return answers


def _send_one(provider, config: ModelConfig, batch: Batch, run: RecordingRun) -> Completion:
    return call_with_retries(
        lambda: provider.complete(batch.prompt),
        batch.label,
        max_retries=config.max_retries,
        base_seconds=config.retry_base_seconds,
        sleep=run.sleep,
        rng=run.rng,
    )


def _call_here(function, *arguments) -> Future:
    future: Future = Future()
    try:
        future.set_result(function(*arguments))
    except Exception as error:
        future.set_exception(error)
    return future


def _count(config, batch: Batch, completion: Completion, run: RecordingRun) -> None:
    cost = run.budget.charge(config, batch.prompt, completion)
    logger.debug("%s completed (%s output tokens)", batch.label, completion.output_tokens)
    if run.progress is not None:
        rows = len(parse_answer(completion.text, batch.prompt.schema.names).records)
        run.progress.request_done(batch.label, rows, completion.output_tokens, cost)


def _budget_exhausted(config, batch: Batch, missing: int, budget: CostBudget) -> BudgetExhausted:
    return BudgetExhausted(
        f"{batch.label} was not sent: its worst case of {worst_case_cost(config, batch.prompt):.6f} USD would take "
        f"the {budget.spent:.6f} USD spent over --max-cost {budget.max_cost:.6f} USD",
        missing,
    )
