"""Recording and replay of LLM answers with vcrpy: real values and secrets redacted, answers sealed."""

from ehrbench.recording.cassettes import (
    RECORD_MODES,
    CaseKey,
    CassetteError,
    CassetteMismatch,
    CassetteMissing,
    CassetteWriteError,
    RecordingError,
    RecordMode,
    build_vcr,
    explain_mismatch,
)
from ehrbench.recording.cost import BudgetExhausted, CostBudget, check_prices
from ehrbench.recording.progress import RecordingProgress
from ehrbench.recording.redaction import DIGEST_HEADER, RedactionError, RequestRedactor
from ehrbench.recording.sender import RecordingRun
from ehrbench.recording.session import LLMCase, build_prompts, collect_completions, count_missing, record_command
from ehrbench.recording.batch import record_batches
from ehrbench.recording.batch_results import BatchOutcome, RequestFailure
from ehrbench.recording.batch_state import BatchStateError

__all__ = [
    "DIGEST_HEADER",
    "RECORD_MODES",
    "BatchOutcome",
    "BatchStateError",
    "BudgetExhausted",
    "CaseKey",
    "CassetteError",
    "LLMCase",
    "CassetteMismatch",
    "CassetteMissing",
    "CassetteWriteError",
    "CostBudget",
    "RecordMode",
    "RecordingError",
    "RecordingProgress",
    "RecordingRun",
    "RedactionError",
    "RequestFailure",
    "RequestRedactor",
    "build_vcr",
    "build_prompts",
    "check_prices",
    "collect_completions",
    "count_missing",
    "explain_mismatch",
    "record_batches",
    "record_command",
]
