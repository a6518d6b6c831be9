"""A recording session: the prompts of one LLM case sent through its cassette."""

from __future__ import annotations

import functools
import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import openai
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.prompts import Prompt, PromptContext, PromptStrategy
from ehrbench.providers import (
    Completion,
    ModelConfig,
    ProviderError,
    check_egress,
    make_provider,
    resolve_api_key,
)
from ehrbench.recording.cassettes import (
    RECORD_MODES,
    CaseKey,
    CassetteError,
    CassetteMismatch,
    CassetteMissing,
    RecordingError,
    RecordMode,
    build_vcr,
    explain_mismatch,
)
from ehrbench.recording.cost import check_prices
from ehrbench.recording.redaction import RequestRedactor
from ehrbench.recording.retry import AttemptsExhausted, raised_by_vcrpy
from ehrbench.recording.sealing import SealKeyMismatch, seal_key
from ehrbench.recording.sender import Batch, BatchFailed, RecordingRun, send_missing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMCase:
    """One LLM benchmark case: which data, model, strategy, features, size and replicate."""

    prepared: PreparedDataset
    model: ModelConfig
    strategy: PromptStrategy
    subset: FeatureSubset
    rows: int
    replicate: int
    #: ``column-value`` of the source site when ``prepared`` contains one site's rows only.
    site: str = ""

    @property
    def key(self) -> CaseKey:
        return CaseKey(
            self.prepared.name, self.model.name, self.strategy.name, self.subset.label, self.rows, self.replicate, self.site
        )


def record_command(key: CaseKey, options: Sequence[str] = ()) -> str:
    """Return the shell command that records the cassette of ``key``, with the extra ``options``."""
    command = (
        f"ehrbench record --dataset {key.dataset} --models {key.model} --strategies {key.strategy} "
        f"--feature-sets {key.feature_set} --rows {key.rows} --replicates {key.replicate + 1}"
    )
    if key.site:
        command += " --cross-site"
    return " ".join([command, *(shlex.quote(option) for option in options)])


def build_prompts(case: LLMCase) -> list[Prompt]:
    """Return the prompts of every batch of ``case``, in request order."""
    strategy = case.strategy
    schema = strategy.generation_schema(case.prepared, case.subset)
    plans = strategy.plan_batches(case.prepared, schema, case.rows, case.model.rows_per_request)
    return [
        strategy.build(
            PromptContext(
                case.prepared,
                schema,
                plan.rows,
                case.replicate,
                index,
                output_format=case.model.output_format,
                group=plan.group,
            )
        )
        for index, plan in enumerate(plans)
    ]


def collect_completions(
    case: LLMCase, mode: RecordMode, cassette_root: Path, run: RecordingRun | None = None
) -> list[tuple[Prompt, Completion]]:
    """Send every prompt of ``case`` through its cassette and return the answers in batch order.

    Replay raises :class:`CassetteMissing` when the cassette does not exist,
    :class:`CassetteMismatch` when a request is not in it and :class:`CassetteError` when the
    file cannot be read. Recording first checks that the dataset may be sent to the endpoint,
    replays the requests that the cassette contains, then sends the missing ones with the
    retry policy of :mod:`ehrbench.recording.retry` and saves each answer as it arrives (see
    :mod:`ehrbench.recording.sender`). A request that fails for good raises
    :class:`RecordingError` naming the case and the batch; :class:`BudgetExhausted` stops
    before a request that ``run.budget`` cannot afford. The completed batches are kept either
    way. ``run`` carries the cost cap and progress line of a whole run (default: neither).
    """
    if mode not in RECORD_MODES:
        raise ValueError(f"mode {mode!r} is invalid; use one of {RECORD_MODES}")
    path = case.key.cassette_path(cassette_root)
    if mode == "replay" and not path.exists():
        raise CassetteMissing(f"no cassette at {path}; record it with: {record_command(case.key)}")
    if mode == "record":
        check_egress(case.prepared.dataset, case.model)
        run = run or RecordingRun()
        if run.budget.max_cost is not None:
            check_prices(case.model)

    prompts, redactor = _prompts_and_redactor(case)
    provider = _build_provider(case, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if mode == "replay":
            recorder = build_vcr(mode, redactor)
            answers, _ = _replay_stored(case, prompts, provider, recorder, redactor, path, strict=True)
            return [(prompt, answers[index]) for index, prompt in enumerate(prompts)]
        return _record_missing(case, prompts, provider, redactor, path, run)
    except SealKeyMismatch as error:
        raise CassetteMismatch(f"{error}\nRecord the case again with: {record_command(case.key)}") from None
    except (yaml.YAMLError, KeyError, TypeError, IndexError, AttributeError, ValueError, OSError) as error:
        # Errors raised while vcrpy loads or plays a damaged file; without a file they are bugs.
        if not path.exists():
            raise
        raise CassetteError(
            f"cassette {path} cannot be read ({type(error).__name__}: {error}); delete it and "
            f"record again with: {record_command(case.key)}"
        ) from error


def count_missing(case: LLMCase, cassette_root: Path) -> int:
    """Return how many requests of ``case`` its cassette does not contain, replaying the others.

    Nothing is sent to the network. A cassette that cannot be read raises :class:`CassetteError`.
    """
    path = case.key.cassette_path(cassette_root)
    prompts, redactor = _prompts_and_redactor(case)
    if not path.exists():
        return len(prompts)
    provider = _build_provider(case, "replay")
    try:
        recorder = build_vcr("replay", redactor)
        _, missing = _replay_stored(case, prompts, provider, recorder, redactor, path, strict=False)
    except (yaml.YAMLError, KeyError, TypeError, IndexError, AttributeError, ValueError, OSError) as error:
        raise CassetteError(f"cassette {path} cannot be read ({type(error).__name__}: {error})") from error
    return len(missing)


def _prompts_and_redactor(case: LLMCase) -> tuple[list[Prompt], RequestRedactor]:
    """Return the prompts of ``case`` and the redactor that stores them and seals their answers."""
    prompts = build_prompts(case)
    redactor = RequestRedactor()
    for prompt in prompts:
        redactor.register(prompt.system, prompt.system)
        redactor.register(prompt.user, prompt.redacted_user)
    if prompts:
        schema = prompts[0].schema
        # Cached, because replaying what is stored and recording the rest each load the cassette.
        redactor.seal_key = functools.cache(lambda: seal_key(case.prepared.real_rows(), schema))
    return prompts, redactor


def _build_provider(case: LLMCase, mode: RecordMode):
    api_key = resolve_api_key(case.model, replay=mode == "replay")
    # The SDK never retries: replay has nothing to retry, and recording applies the policy of
    # ehrbench.recording.retry, which logs each retry and honours the model entry's settings.
    return make_provider(case.model, api_key, max_retries=0)


def _replay_stored(case, prompts, provider, recorder, redactor, path, strict):
    """Replay the prompts that the cassette contains; return the answers and the missing indices.

    With ``strict`` a missing request raises :class:`CassetteMismatch`.
    """
    answers = {}
    missing = []
    with recorder.use_cassette(str(path)):
        for index, prompt in enumerate(prompts):
            batch = f"batch {index + 1}/{len(prompts)}"
            try:
                completion = provider.complete(prompt)
            except (CannotOverwriteExistingCassetteException, openai.APIConnectionError) as error:
                if not raised_by_vcrpy(error):
                    raise RecordingError(_failure(case, batch, path, error)) from error
                if not strict:
                    missing.append(index)
                    continue
                detail = explain_mismatch(path, redactor.last_redacted_body, redactor.last_digest)
                raise CassetteMismatch(
                    f"{case.key.slug} {batch}: {detail}\nRecord the case again with: {record_command(case.key)}"
                ) from None
            except (openai.APIError, ProviderError) as error:
                # Nothing left the process: vcrpy played a stored response that the SDK or provider rejects.
                raise CassetteError(
                    f"cassette {path}: the stored answer of {case.key.slug} {batch} cannot be replayed "
                    f"({type(error).__name__}: {error}); delete the cassette and record the case again with: "
                    f"{record_command(case.key)}"
                ) from error
            level = logging.INFO if strict else logging.DEBUG
            logger.log(level, "%s: %s completed (%s output tokens)", case.key.slug, batch, completion.output_tokens)
            answers[index] = completion
    return answers, missing


def _record_missing(case, prompts, provider, redactor, path, run) -> list[tuple[Prompt, Completion]]:
    answers, missing = {}, list(range(len(prompts)))
    if path.exists():
        recorder = build_vcr("replay", redactor)
        answers, missing = _replay_stored(case, prompts, provider, recorder, redactor, path, strict=False)
        logger.info(
            "%s: %d of %d requests are in %s; sending %d", case.key.slug, len(answers), len(prompts), path, len(missing)
        )

    batches = [Batch(index, f"{case.key.slug} batch {index + 1}/{len(prompts)}", prompts[index]) for index in missing]
    try:
        answers.update(send_missing(provider, case.model, batches, build_vcr("record", redactor), path, run))
    except BatchFailed as failed:
        batch = f"batch {failed.batch.index + 1}/{len(prompts)}"
        raise RecordingError(_failure(case, batch, path, failed.__cause__, run.rerun_options)) from failed.__cause__
    return [(prompt, answers[index]) for index, prompt in enumerate(prompts)]


def _failure(case: LLMCase, batch: str, path: Path, error: BaseException, options: Sequence[str] = ()) -> str:
    detail = str(error) if isinstance(error, AttemptsExhausted) else f"{type(error).__name__}: {error}"
    kept = f"Completed requests stay in {path}" if path.exists() else "No request of this case was stored yet"
    return (
        f"model {case.model.name!r} ({case.model.base_url or 'default endpoint'}) failed on "
        f"{case.key.slug} {batch}: {detail}. {kept}; "
        f"rerun to record the rest: {record_command(case.key, options)}"
    )
