"""The LLM generator: a case's answers, replayed or recorded, parsed into valid rows."""

from __future__ import annotations

from pathlib import Path

from ehrbench.generators.base import GenerationResult
from ehrbench.parsing import training_row_keys, validate_answers_with_copies
from ehrbench.recording import LLMCase, RecordMode, collect_completions


def generate_llm(case: LLMCase, mode: RecordMode, cassette_root: Path) -> GenerationResult:
    """Generate the rows of ``case`` and keep the valid ones with a validity record.

    A row that copies a training row exactly is rejected, as are rows that break the schema.
    The privacy criteria still need the copies and the example rows the prompts showed, so
    both are returned (``copies`` and ``seen_rows``).
    """
    answers = collect_completions(case, mode, cassette_root)
    schema = answers[0][0].schema
    training_keys = training_row_keys(case.prepared.train, schema)
    outcome = validate_answers_with_copies(
        [(completion.text, prompt.rows_requested) for prompt, completion in answers],
        schema,
        training_keys,
        stop_reasons=[completion.finish_reason for _, completion in answers],
    )
    shown = sorted({label for prompt, _ in answers for label in prompt.shown_rows})
    return GenerationResult(
        generator=case.model.name,
        strategy=case.strategy.name,
        schema=schema,
        synthetic=outcome.rows,
        validity=outcome.validity,
        seen_rows=case.prepared.train.loc[shown, schema.names],
        copies=outcome.copies,
        requests=len(answers),
        input_tokens=_total(completion.input_tokens for _, completion in answers),
        output_tokens=_total(completion.output_tokens for _, completion in answers),
    )


def _total(counts) -> int | None:
    counts = list(counts)
    return None if any(count is None for count in counts) else sum(counts)
