"""Write the results of an ended batch into their cassettes, and count what was not recorded.

Each succeeded result goes in through ``cassette.append`` of a recording VCR. The vcrpy request
is a POST to the URL that the SDK calls live, with the JSON body that the SDK sends and a content
type, and the response dict has status 200 and the result's body. The request redaction, the
response filter and the sealing of stored bodies therefore apply exactly as for a live request. The cassette is then replayed through the provider, which proves that each stored
request matches the live one. A request that was not stored is counted as a
:class:`RequestFailure`, and the next run submits it again.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anthropic
import openai
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.request import Request

from ehrbench.parsing import parse_answer
from ehrbench.prompts import Prompt
from ehrbench.providers import (
    AnthropicProvider,
    Completion,
    ModelConfig,
    OpenAICompatibleProvider,
    ProviderError,
    make_provider,
    resolve_api_key,
)
from ehrbench.providers.anthropic_batch import AnthropicBatchClient
from ehrbench.providers.batch_api import BatchResult, BatchStatus
from ehrbench.providers.openai_batch import OpenAIBatchClient
from ehrbench.recording.batch_state import BatchState, StateEntry, remove_state
from ehrbench.recording.cassettes import CassetteError, RecordingError, build_vcr
from ehrbench.recording.cost import CostBudget, completion_cost
from ehrbench.recording.redaction import RedactionError, RequestRedactor
from ehrbench.recording.retry import AttemptsExhausted, raised_by_vcrpy
from ehrbench.recording.sender import RecordingRun
from ehrbench.recording.session import LLMCase, record_command

logger = logging.getLogger(__name__)

_API_ERRORS = (openai.APIError, anthropic.APIError, ProviderError, AttemptsExhausted)

#: Failed requests of one batch logged at WARNING; the others are logged at DEBUG.
LOGGED_FAILURES = 10


@dataclass(frozen=True)
class MissingRequest:
    """A request of a case that its cassette does not contain: its position, prompt and body digest."""

    case: LLMCase
    #: The cassette path relative to the cassette root, with ``/``.
    cassette: str
    index: int
    count: int
    prompt: Prompt
    digest: str

    @property
    def key(self) -> tuple[str, int, str]:
        """Return (cassette, index, digest), which ties a state file entry to this request."""
        return self.cassette, self.index, self.digest

    @property
    def label(self) -> str:
        return f"{self.case.key.model} {self.case.key.slug} batch {self.index + 1}/{self.count}"

    def entry(self) -> StateEntry:
        """Return the state file entry of this request."""
        return StateEntry(self.cassette, self.case.key.slug, self.index, self.count, self.digest)


@dataclass
class CaseRequests:
    """One case of a batch run: its cassette, prompts, redactor, missing requests and those recorded since."""

    case: LLMCase
    cassette: str
    path: Path
    prompts: list[Prompt]
    redactor: RequestRedactor
    missing: list[MissingRequest] = field(default_factory=list)
    recorded: set[int] = field(default_factory=set)

    def missing_indices(self) -> list[int]:
        """Return the positions of the requests that are still not recorded."""
        return [request.index for request in self.missing if request.index not in self.recorded]


@dataclass(frozen=True)
class Connection:
    """A model entry with its protocol name, its live provider and its batch client."""

    config: ModelConfig
    protocol: str
    provider: OpenAICompatibleProvider | AnthropicProvider
    client: OpenAIBatchClient | AnthropicBatchClient


@dataclass(frozen=True)
class RequestFailure:
    """A request that a batch did not record: where it belongs, which batch sent it, and why."""

    model: str
    case: str
    index: int
    count: int
    batch_id: str
    #: ``errored``, ``expired``, ``canceled``, ``no result``, ``dropped``, ``not stored`` or ``not matched``.
    reason: str
    detail: str

    def describe(self) -> str:
        """Return one line naming the model, case, request position, batch, reason and detail."""
        return (
            f"model {self.model!r} {self.case} batch {self.index + 1}/{self.count} (batch {self.batch_id}): "
            f"{self.reason}: {self.detail}"
        )


@dataclass
class BatchOutcome:
    """The counts of one ``ehrbench record --batch`` run: requests recorded and requests left to record.

    ``stale`` counts succeeded results that were not needed any more (the request was recorded
    meanwhile, or its prompt changed). ``unaffordable`` counts the requests (in
    ``unaffordable_cases`` cases) that ``--max-cost`` kept from being submitted, and ``waiting``
    the requests of selected cases in batches that this run could not resume.
    """

    recorded: int = 0
    failures: list[RequestFailure] = field(default_factory=list)
    stale: int = 0
    unaffordable: int = 0
    unaffordable_cases: int = 0
    waiting: int = 0
    submitted_batches: int = 0
    resumed_batches: int = 0

    def report_lines(self, budget: CostBudget) -> list[str]:
        """Return the lines that tell the user what was recorded and what is left, and why."""
        lines = [f"not recorded: {failure.describe()}" for failure in self.failures]
        lines.append(
            f"{self.recorded} requests recorded from {self.submitted_batches} new and {self.resumed_batches} "
            f"resumed batches; spent {budget.spent:.6f} USD at batch prices"
            + (f" (+{budget.unpriced_requests} requests without prices)" if budget.unpriced_requests else "")
        )
        if self.failures:
            lines.append(
                f"{len(self.failures)} requests are not recorded (listed above); rerun the same command to submit "
                "them again"
            )
        if self.waiting:
            lines.append(
                f"{self.waiting} requests wait in batches that this run did not resume (the warnings above name "
                "their state files and why); rerun with the cases and model entries that those files name"
            )
        if self.stale:
            lines.append(
                f"{self.stale} succeeded results were not stored, because their requests were recorded meanwhile "
                "or their prompts changed"
            )
        if self.unaffordable:
            lines.append(
                f"stopped by --max-cost {budget.max_cost:.6f} USD: {self.unaffordable} requests in "
                f"{self.unaffordable_cases} cases were not submitted, because their worst-case batch cost would "
                "exceed it. Rerun with a higher --max-cost to record them"
            )
        return lines


def replay_case(requests: CaseRequests) -> tuple[dict[int, Completion], dict[int, str]]:
    """Replay the stored requests of one case and return the completions and the missing requests' digests.

    Both are keyed by request position. Nothing is sent to the network, because vcrpy plays
    responses from the cassette or raises. The digest of a
    missing request is that of the body the SDK sent. A damaged cassette raises
    :class:`CassetteError`, and a stored response that the provider rejects :class:`RecordingError`.
    """
    case = requests.case
    provider = make_provider(case.model, resolve_api_key(case.model, replay=True), max_retries=0)
    answers, missing = {}, {}
    try:
        with build_vcr("replay", requests.redactor).use_cassette(str(requests.path)):
            for index, prompt in enumerate(requests.prompts):
                try:
                    answers[index] = provider.complete(prompt)
                except (CannotOverwriteExistingCassetteException, openai.APIConnectionError) as error:
                    if not raised_by_vcrpy(error):
                        raise
                    missing[index] = requests.redactor.last_digest
    except (openai.APIError, ProviderError) as error:
        raise RecordingError(
            f"{case.key.slug}: a stored response in {requests.path} cannot be replayed ({error}); delete the cassette "
            "and record the case again"
        ) from error
    except (yaml.YAMLError, KeyError, TypeError, IndexError, AttributeError, ValueError, OSError) as error:
        raise CassetteError(
            f"cassette {requests.path} cannot be read ({type(error).__name__}: {error}); delete it and record "
            f"the case again with: {record_command(case.key)}"
        ) from error
    return answers, missing


def write_results(
    state: BatchState,
    status: BatchStatus,
    results: list[BatchResult],
    connection: Connection,
    work: dict[str, CaseRequests],
    outcome: BatchOutcome,
    run: RecordingRun,
) -> None:
    """Store the succeeded ``results`` of the ended batch ``state`` in their cassettes and count the rest.

    ``work`` contains the cases of the run by cassette. The state file is removed afterwards,
    and the batch's files at the provider are deleted (a failed deletion is logged).
    """
    by_id = {result.custom_id: result for result in results}
    unknown = sorted(set(by_id) - set(state.requests))
    if unknown:
        logger.warning(
            "%s returned %d results for custom ids it was not sent, such as %r; ignored",
            state.label(), len(unknown), unknown[0],
        )  # fmt: skip
    grouped: dict[str, list[tuple[str, StateEntry]]] = defaultdict(list)
    for custom_id, entry in state.requests.items():
        grouped[entry.cassette].append((custom_id, entry))

    failures_before, recorded_before, stale_before = len(outcome.failures), outcome.recorded, outcome.stale
    for cassette, items in grouped.items():
        written = _append(work[cassette], items, by_id, state, status, connection, outcome)
        _verify(work[cassette], written, state, outcome, run)
    for number, failure in enumerate(outcome.failures[failures_before:]):
        # BatchOutcome.report_lines lists every failure, and the log shows the first ones of each batch.
        level = logging.WARNING if number < LOGGED_FAILURES else logging.DEBUG
        logger.log(level, "not recorded: %s", failure.describe())
    logger.info(
        "%s: %d results recorded, %d not recorded, %d no longer needed (recorded meanwhile or prompt changed)",
        state.label(), outcome.recorded - recorded_before, len(outcome.failures) - failures_before,
        outcome.stale - stale_before,
    )  # fmt: skip

    remove_state(state)
    try:
        connection.client.discard(state.batch_id)
    except _API_ERRORS as error:
        logger.warning(
            "%s: its files at the provider could not be deleted (%s: %s); delete them there, because its input "
            "contains the prompts", state.label(), type(error).__name__, error,
        )  # fmt: skip


def _append(requests: CaseRequests, items, by_id, state, status, connection, outcome) -> list[MissingRequest]:
    """Append the succeeded results of ``items`` to the cassette of ``requests`` and return the requests stored."""
    pending = {request.key: request for request in requests.missing if request.index not in requests.recorded}
    written = []
    with build_vcr("record", requests.redactor).use_cassette(str(requests.path)) as cassette:
        for custom_id, entry in items:
            failed = partial(RequestFailure, state.model, entry.case, entry.index, entry.count, state.batch_id)
            result = by_id.get(custom_id)
            if result is None:
                detail = status.detail or f"the batch ended with status {status.status!r} without a result for it"
                outcome.failures.append(failed("no result", detail))
                continue
            if result.status != "succeeded":
                outcome.failures.append(failed(result.status, result.error or "no detail given"))
                continue
            request = pending.pop((entry.cassette, entry.index, entry.digest), None)
            if request is None:
                outcome.stale += 1
                continue

            stored = len(cassette.data)
            try:
                cassette.append(_vcr_request(connection, request), _vcr_response(result.body))
            except RedactionError as error:
                outcome.failures.append(failed("not stored", f"the request redaction rejected it: {error}"))
                continue
            if len(cassette.data) == stored:
                outcome.failures.append(failed("dropped", "the response filters did not store the answer"))
            else:
                written.append(request)
    return written


def _vcr_request(connection: Connection, request: MissingRequest) -> Request:
    arguments = connection.provider.request_arguments(request.prompt)
    body = json.dumps(arguments, ensure_ascii=False).encode("utf-8")
    return Request("POST", connection.client.live_url, body, {"content-type": "application/json"})


def _vcr_response(body: dict) -> dict:
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"]},
        "body": {"string": json.dumps(body).encode("utf-8")},
    }


def _verify(
    requests: CaseRequests, written: list[MissingRequest], state: BatchState, outcome: BatchOutcome, run: RecordingRun
) -> None:
    """Replay the case, count each written request that replays as recorded and charge its cost."""
    if not written:
        return
    answers, _ = replay_case(requests)
    for request in written:
        completion = answers.get(request.index)
        if completion is None:
            outcome.failures.append(
                RequestFailure(
                    state.model, request.case.key.slug, request.index, request.count, state.batch_id, "not matched",
                    "the stored request does not replay, so the next run sends it again; report this as a bug",
                )  # fmt: skip
            )
            continue
        requests.recorded.add(request.index)
        outcome.recorded += 1
        _charge(request, completion, run)


def _charge(request: MissingRequest, completion: Completion, run: RecordingRun) -> None:
    config = request.case.model
    cost = completion_cost(config, request.prompt, completion)
    if cost is None:
        run.budget.unpriced_requests += 1
    else:
        cost *= config.batch_price_factor
        run.budget.spent += cost
    if run.progress is not None:
        rows = len(parse_answer(completion.text, request.prompt.schema.names).records)
        run.progress.request_done(request.label, rows, completion.output_tokens, cost)

