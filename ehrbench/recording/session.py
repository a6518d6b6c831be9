"""A recording session: the prompts of one LLM case sent through its cassette."""

from __future__ import annotations

import logging
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
from ehrbench.recording.redaction import RequestRedactor

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
    #: ``column-value`` of the source site when ``prepared`` holds one site's rows only.
    site: str = ""

    @property
    def key(self) -> CaseKey:
        return CaseKey(
            self.prepared.name, self.model.name, self.strategy.name, self.subset.label, self.rows, self.replicate, self.site
        )


def record_command(key: CaseKey) -> str:
    """Return the shell command that records the cassette of ``key``."""
    command = (
        f"ehrbench record --dataset {key.dataset} --models {key.model} --strategies {key.strategy} "
        f"--feature-sets {key.feature_set} --rows {key.rows} --replicates {key.replicate + 1}"
    )
    return command + " --cross-site" if key.site else command


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


def collect_completions(case: LLMCase, mode: RecordMode, cassette_root: Path) -> list[tuple[Prompt, Completion]]:
    """Send every prompt of ``case`` through its cassette and return the answers.

    Replay raises :class:`CassetteMissing` when the cassette does not exist,
    :class:`CassetteMismatch` when a request is not in it and :class:`CassetteError` when the
    file cannot be read. Recording first checks that the dataset may be sent to the endpoint,
    then appends the missing requests to the cassette; a failed request raises
    :class:`RecordingError` naming the case, and the batches completed before it are kept.
    """
    if mode not in RECORD_MODES:
        raise ValueError(f"mode {mode!r} is invalid; use one of {RECORD_MODES}")
    path = case.key.cassette_path(cassette_root)
    if mode == "replay" and not path.exists():
        raise CassetteMissing(f"no cassette at {path}; record it with: {record_command(case.key)}")
    if mode == "record":
        check_egress(case.prepared.dataset, case.model)

    prompts = build_prompts(case)
    redactor = RequestRedactor()
    for prompt in prompts:
        redactor.register(prompt.system, prompt.system)
        redactor.register(prompt.user, prompt.redacted_user)

    api_key = resolve_api_key(case.model, replay=mode == "replay")
    provider = make_provider(case.model, api_key, max_retries=0 if mode == "replay" else 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _send_all(case, prompts, provider, build_vcr(mode, redactor), redactor, path)
    except (yaml.YAMLError, KeyError, TypeError, IndexError, AttributeError, ValueError, OSError) as error:
        # Errors raised while vcrpy loads or plays a damaged file; without a file they are bugs.
        if not path.exists():
            raise
        raise CassetteError(
            f"cassette {path} cannot be read ({type(error).__name__}: {error}); delete it and "
            f"record again with: {record_command(case.key)}"
        ) from error


def _send_all(case, prompts, provider, recorder, redactor, path) -> list[tuple[Prompt, Completion]]:
    answers = []
    with recorder.use_cassette(str(path)):
        for index, prompt in enumerate(prompts):
            batch = f"batch {index + 1}/{len(prompts)}"
            try:
                completion = provider.complete(prompt)
            except (CannotOverwriteExistingCassetteException, openai.APIConnectionError) as error:
                if not _caused_by_missing_request(error):
                    raise RecordingError(_failure(case, batch, path, error)) from error
                detail = explain_mismatch(path, redactor.last_redacted_body, redactor.last_digest)
                raise CassetteMismatch(
                    f"{case.key.slug} {batch}: {detail}\nRecord the case again with: {record_command(case.key)}"
                ) from None
            except (openai.APIError, ProviderError) as error:
                raise RecordingError(_failure(case, batch, path, error)) from error
            logger.info("%s: %s completed (%s output tokens)", case.key.slug, batch, completion.output_tokens)
            answers.append((prompt, completion))
    return answers


def _failure(case: LLMCase, batch: str, path: Path, error: BaseException) -> str:
    return (
        f"model {case.model.name!r} ({case.model.base_url or 'default endpoint'}) failed on "
        f"{case.key.slug} {batch}: {type(error).__name__}: {error}. Completed batches stay in {path}; "
        f"rerun to record the rest: {record_command(case.key)}"
    )


def _caused_by_missing_request(error: BaseException) -> bool:
    cause = error
    while cause is not None:
        if isinstance(cause, CannotOverwriteExistingCassetteException):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
