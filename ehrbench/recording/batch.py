"""Record the missing requests of many cases through the provider's batch API (``ehrbench record --batch``).

One run takes these steps:

1. check that each case's dataset may be sent to its model's endpoint, and that each model
   has prices when ``--max-cost`` is set;
2. replay every cassette to find the requests it does not contain, and check that the batch
   body of each one has the digest of the body that the SDK sends live;
3. resume the batches whose state files (:mod:`ehrbench.recording.batch_state`) name
   selected cases, and leave their requests out of the new batches;
4. submit the rest, in case order, as far as ``--max-cost`` allows at the worst-case cost
   times the model's ``batch_price_factor``, splitting at the API's limits and saving a
   state file per batch as soon as the provider accepts it;
5. poll every batch until it has ended, then write each succeeded result into its cassette
   (:mod:`ehrbench.recording.batch_results`), remove the state file and delete the batch's
   files at the provider.

A result is written with ``cassette.append``, so the request redaction and the response
filters of live recording apply to it unchanged, and replay cannot tell how it was recorded.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import anthropic
import openai

from ehrbench.providers import ModelConfig, ProviderError, check_egress, make_provider, resolve_api_key
from ehrbench.providers.anthropic_batch import AnthropicBatchClient
from ehrbench.providers.batch_api import BatchRequest, BatchStatus, Caller
from ehrbench.providers.openai_batch import OpenAIBatchClient
from ehrbench.recording.batch_results import (
    BatchOutcome,
    CaseRequests,
    Connection,
    MissingRequest,
    replay_case,
    write_results,
)
from ehrbench.recording.batch_state import BatchState, load_states, save_state, state_folder
from ehrbench.recording.cassettes import RecordingError
from ehrbench.recording.cost import check_prices, worst_case_cost
from ehrbench.recording.redaction import body_digest, canonical_json
from ehrbench.recording.retry import AttemptsExhausted, call_with_retries, classify_failure, sdk_error
from ehrbench.recording.sender import RecordingRun
from ehrbench.recording.session import LLMCase, _prompts_and_redactor

logger = logging.getLogger(__name__)

#: Seconds between two status requests of the same batch unless ``--batch-poll-seconds`` sets it.
DEFAULT_POLL_SECONDS = 60.0

#: The batch client and protocol name of each ``provider`` value of the model list.
BATCH_CLIENTS = {"openai-compatible": ("openai", OpenAIBatchClient), "anthropic": ("anthropic", AnthropicBatchClient)}

_API_ERRORS = (openai.APIError, anthropic.APIError, ProviderError, AttemptsExhausted)


class SubmissionUncertain(RuntimeError):
    """Creating a batch failed in a way that may have created it anyway, so it is not retried."""


def record_batches(
    cases: list[LLMCase],
    cassette_root: Path,
    run: RecordingRun | None = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
) -> BatchOutcome:
    """Record the requests that the cassettes of ``cases`` miss through each model's batch API.

    Returns what was recorded and, by case and batch, what was not (errored, expired or
    canceled requests, missing results, results that the response filters dropped) and what
    ``run.budget`` left unsubmitted. Those requests are missing from their cassettes, so the
    next run submits them again. ``poll_seconds`` (> 0) is the wait between two rounds of status
    requests.

    Raises :class:`~ehrbench.providers.ProviderError` before anything is sent when a dataset may
    not go to its endpoint. Raises :class:`RecordingError` when a batch API call fails for good;
    the submitted batches keep their state files, so a rerun resumes them. Raises
    :class:`~ehrbench.recording.batch_state.BatchStateError` for a state file that cannot be read.
    """
    valid_number = isinstance(poll_seconds, (int, float)) and not isinstance(poll_seconds, bool)
    if not (valid_number and math.isfinite(poll_seconds) and poll_seconds > 0):
        raise ValueError(f"poll_seconds must be a finite number of seconds > 0, got {poll_seconds!r}")
    run = run or RecordingRun()
    for case in cases:
        check_egress(case.prepared.dataset, case.model)
        if run.budget.max_cost is not None:
            check_prices(case.model)

    by_cassette = {_relative(case.key.cassette_path(cassette_root), cassette_root): case for case in cases}
    work = {cassette: _find_missing(case, cassette_root) for cassette, case in by_cassette.items()}
    outcome = BatchOutcome()
    resumable, claimed = _sort_states(load_states(cassette_root), by_cassette, outcome)
    missing = [request for requests in work.values() for request in requests.missing]
    new = [request for request in missing if request.key not in claimed]

    affordable = _affordable(new, run)
    outcome.unaffordable = len(new) - affordable
    outcome.unaffordable_cases = len({request.cassette for request in new[affordable:]})
    models = {state.model for state in resumable} | {request.case.model.name for request in new[:affordable]}
    connections = {
        name: _connect(next(case.model for case in cases if case.model.name == name), run) for name in sorted(models)
    }

    submitted = _submit_all(new[:affordable], connections, cassette_root, run)
    outcome.submitted_batches = len(submitted)
    outcome.resumed_batches = len(resumable)
    _collect(resumable + submitted, connections, work, outcome, run, poll_seconds, cassette_root)
    for requests in work.values():
        if not requests.missing_indices() and run.progress is not None:
            run.progress.case_done()
    return outcome


def _relative(path: Path, root: Path) -> str:
    return Path(path).relative_to(Path(root)).as_posix()


def _find_missing(case: LLMCase, cassette_root: Path) -> CaseRequests:
    """Replay the cassette of ``case`` and return its missing requests with their live digests."""
    path = case.key.cassette_path(cassette_root)
    prompts, redactor = _prompts_and_redactor(case)
    requests = CaseRequests(case, _relative(path, cassette_root), path, prompts, redactor)
    _, live_digests = replay_case(requests)
    provider = make_provider(case.model, resolve_api_key(case.model, replay=True), max_retries=0)
    for index, live_digest in live_digests.items():
        arguments = provider.request_arguments(prompts[index])
        digest = body_digest(canonical_json(_json_body(arguments)))
        if digest != live_digest:
            raise RecordingError(
                f"{case.key.slug} batch {index + 1}/{len(prompts)}: the batch request body has digest {digest} but "
                f"the SDK sends {live_digest}, so a batch result could never be replayed; nothing was submitted. "
                "Record without --batch, and report this as a bug"
            )
        requests.missing.append(MissingRequest(case, requests.cassette, index, len(prompts), prompts[index], digest))
    return requests


def _json_body(arguments: dict) -> str:
    # The SDKs send the keyword arguments as the JSON body unchanged; the digest check of
    # _find_missing proves it for every request before it is submitted.
    return json.dumps(arguments, ensure_ascii=False)


def _sort_states(states: list[BatchState], by_cassette: dict[str, LLMCase], outcome: BatchOutcome):
    """Split the state files into batches this run resumes and the (cassette, index, digest) keys they hold."""
    resumable, claimed = [], set()
    for state in states:
        keys = {(entry.cassette, entry.index, entry.digest) for entry in state.requests.values()}
        reason = _not_resumable(state, by_cassette)
        selected = [entry for entry in state.requests.values() if entry.cassette in by_cassette]
        if reason:
            logger.warning(
                "%s (state file %s) is not resumed: %s. Its %d requests of selected cases are not submitted "
                "again; rerun with the cases and model entry it names, or delete the file after checking the "
                "batch at the provider",
                state.label(), state.path, reason, len(selected),
            )  # fmt: skip
            outcome.waiting += len(selected)
        else:
            resumable.append(state)
        claimed |= keys
    return resumable, claimed


def _not_resumable(state: BatchState, by_cassette: dict[str, LLMCase]) -> str:
    unselected = sorted({entry.case for entry in state.requests.values() if entry.cassette not in by_cassette})
    if unselected:
        return f"its cases {unselected} are not selected"
    model = by_cassette[next(iter(state.requests.values())).cassette].model
    protocol = BATCH_CLIENTS.get(model.provider, ("",))[0]
    if model.name != state.model or protocol != state.protocol or (model.base_url or "") != state.base_url:
        return (
            f"it was sent with model {state.model!r} over {state.protocol} to "
            f"{state.base_url or 'the default endpoint'}, but the selected case uses model {model.name!r} over "
            f"{protocol or model.provider} to {model.base_url or 'the default endpoint'}"
        )
    return ""


def _affordable(requests: list[MissingRequest], run: RecordingRun) -> int:
    """Return how many of ``requests``, in order, fit under ``--max-cost`` at their worst-case batch cost."""
    budget = run.budget
    if budget.max_cost is None:
        return len(requests)
    total = budget.spent
    for count, request in enumerate(requests):
        model = request.case.model
        total += worst_case_cost(model, request.prompt) * model.batch_price_factor
        if total > budget.max_cost:
            logger.warning(
                "%s and the %d requests after it are not submitted: their worst-case batch cost would take the "
                "spending over --max-cost %.6f USD", request.label, len(requests) - count - 1, budget.max_cost,
            )  # fmt: skip
            return count
    return len(requests)


def _connect(config: ModelConfig, run: RecordingRun) -> Connection:
    """Build the provider and the batch client of ``config``, with the retry policy of its entry."""
    if config.provider not in BATCH_CLIENTS:
        raise ProviderError(
            f"model {config.name!r}: provider {config.provider!r} has no batch API client; record without --batch"
        )
    protocol, client_class = BATCH_CLIENTS[config.provider]
    provider = make_provider(config, resolve_api_key(config, replay=False), max_retries=0)
    return Connection(config, protocol, provider, client_class(provider.client, call=_caller(config, run)))


def _caller(config: ModelConfig, run: RecordingRun) -> Caller:
    def call(send, label, repeatable):
        attempt = send if repeatable else _unless_uncertain(send, label)
        return call_with_retries(
            attempt, f"model {config.name!r}: {label}", config.max_retries, config.retry_base_seconds,
            sleep=run.sleep, rng=run.rng,
        )  # fmt: skip

    return call


def _unless_uncertain(send, label: str):
    """Wrap ``send`` so that only a rejection by rate limit (HTTP 429) is retried."""

    def attempt():
        try:
            return send()
        except Exception as error:
            failure = classify_failure(error, time.time())
            if failure is None or failure.reason == "HTTP 429":
                raise
            raise SubmissionUncertain(
                f"{label} failed with {failure.reason}, so the provider may have created the batch anyway; it was "
                "not sent again. Check the provider's list of batches, cancel a duplicate, then rerun"
            ) from error

    return attempt


def _submit_all(requests: list[MissingRequest], connections: dict[str, Connection], root: Path, run: RecordingRun):
    """Submit ``requests`` per model, split at the API's limits, and save a state file per batch."""
    by_model: dict[str, list[MissingRequest]] = defaultdict(list)
    for request in requests:
        by_model[request.case.model.name].append(request)
    states = []
    for name, model_requests in by_model.items():
        connection = connections[name]
        entries = {f"r{number:05d}-{request.digest[7:23]}": request for number, request in enumerate(model_requests)}
        batch_requests = [
            BatchRequest(custom_id, connection.provider.request_arguments(request.prompt))
            for custom_id, request in entries.items()
        ]
        for chunk in connection.client.split(batch_requests):
            if run.progress is not None:
                run.progress.request_sent()
            batch_id = _api(connection, "submitting a batch", lambda: connection.client.submit(chunk), root, submitted=False)
            # NOTE: a process killed between the provider's response and the save below loses the
            # batch id, so the batch runs and is billed, and the next run submits its requests again.
            state = BatchState(
                batch_id, connection.protocol, name, connection.config.base_url or "",
                {item.custom_id: entries[item.custom_id].entry() for item in chunk},
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )  # fmt: skip
            states.append(save_state(root, state))
            logger.info("%s: submitted %d requests; state in %s", state.label(), len(chunk), states[-1].path)
    return states


def _collect(
    states: list[BatchState],
    connections: dict[str, Connection],
    work: dict[str, CaseRequests],
    outcome: BatchOutcome,
    run: RecordingRun,
    poll_seconds: float,
    root: Path,
) -> None:
    """Poll ``states`` until each batch has ended, then write its results.

    A stop (Ctrl-C, SIGTERM) is logged and raised again, and leaves the state files in place.
    """
    waiting = list(states)
    last_status: dict[str, str] = {}
    try:
        while waiting:
            for state in list(waiting):
                client = connections[state.model].client
                status: BatchStatus = _api(
                    connections[state.model], f"polling {state.label()}", lambda: client.poll(state.batch_id), root
                )
                # An unchanged status is logged at DEBUG, so a day of polling does not flood the log.
                line = status.describe()
                level = logging.INFO if last_status.get(state.batch_id) != line else logging.DEBUG
                logger.log(level, "%s: %s", state.label(), line)
                last_status[state.batch_id] = line
                if status.ended:
                    results = _api(
                        connections[state.model], f"reading the results of {state.label()}",
                        lambda: client.results(state.batch_id), root,
                    )  # fmt: skip
                    write_results(state, status, results, connections[state.model], work, outcome, run)
                    waiting.remove(state)
            if waiting:
                run.sleep(poll_seconds)
    except (KeyboardInterrupt, SystemExit):
        logger.warning(
            "stopped while %d batches are still running at the provider; their state files stay in %s, and the "
            "same command run again collects their results without submitting them again",
            len(waiting), state_folder(root),
        )  # fmt: skip
        raise


def _api(connection: Connection, action: str, send, root: Path, submitted: bool = True):
    """Return what ``send`` (a batch client call) returns, or raise :class:`RecordingError` naming the model.

    ``submitted`` is False for the call that creates a batch, where HTTP 404 means that the
    endpoint has no batch API rather than that it lost a batch.
    """
    try:
        return send()
    except (*_API_ERRORS, SubmissionUncertain) as error:
        config = connection.config
        if submitted and getattr(sdk_error(error), "status_code", None) == 404:
            raise RecordingError(
                f"model {config.name!r} ({config.base_url or 'default endpoint'}): {action} failed: the provider "
                f"does not know this batch (HTTP 404: {error}). If it was deleted or belongs to another account, "
                f"delete its state file in {state_folder(root)}; the next run then submits its requests again"
            ) from error
        raise RecordingError(
            f"model {config.name!r} ({config.base_url or 'default endpoint'}): {action} failed: "
            f"{type(error).__name__}: {error}. Batches submitted before keep their state files in "
            f"{state_folder(root)}, so the same command run again resumes them"
        ) from error
