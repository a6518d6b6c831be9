"""A recording session: the prompts of one LLM case sent through its cassette."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import openai
from vcr.errors import CannotOverwriteExistingCassetteException

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.prompts import Prompt, PromptContext, PromptStrategy
from ehrbench.providers import Completion, ModelConfig, OpenAICompatibleProvider, resolve_api_key
from ehrbench.recording.cassettes import (
    CaseKey,
    CassetteMismatch,
    CassetteMissing,
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

    @property
    def key(self) -> CaseKey:
        return CaseKey(self.prepared.name, self.model.name, self.strategy.name, self.subset.label, self.rows, self.replicate)


def record_command(key: CaseKey) -> str:
    """Return the shell command that records the cassette of ``key``."""
    return (
        f"ehrbench record --dataset {key.dataset} --models {key.model} --strategies {key.strategy} "
        f"--feature-sets {key.feature_set} --rows {key.rows} --replicates {key.replicate + 1}"
    )


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

    Replay raises :class:`CassetteMissing` when the cassette does not exist and
    :class:`CassetteMismatch` when a request is not in it; recording appends the missing
    requests to the cassette.
    """
    path = case.key.cassette_path(cassette_root)
    if mode == "replay" and not path.exists():
        raise CassetteMissing(f"no cassette at {path}; record it with: {record_command(case.key)}")

    prompts = build_prompts(case)
    redactor = RequestRedactor()
    for prompt in prompts:
        redactor.register(prompt.system, prompt.system)
        redactor.register(prompt.user, prompt.redacted_user)

    api_key = resolve_api_key(case.model, replay=mode == "replay")
    provider = OpenAICompatibleProvider(case.model, api_key, max_retries=0 if mode == "replay" else 2)
    path.parent.mkdir(parents=True, exist_ok=True)

    answers = []
    with build_vcr(mode, redactor).use_cassette(str(path)):
        for index, prompt in enumerate(prompts):
            try:
                completion = provider.complete(prompt)
            except (CannotOverwriteExistingCassetteException, openai.APIConnectionError) as error:
                if _caused_by_missing_request(error):
                    raise CassetteMismatch(explain_mismatch(path, redactor.last_redacted_body)) from None
                raise
            logger.info("%s: batch %d/%d answered (%s output tokens)", case.key.slug, index + 1, len(prompts), completion.output_tokens)
            answers.append((prompt, completion))
    return answers


def _caused_by_missing_request(error: BaseException) -> bool:
    cause = error
    while cause is not None:
        if isinstance(cause, CannotOverwriteExistingCassetteException):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
