"""Recording and replay of LLM answers with vcrpy, with real values and secrets redacted."""

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
from ehrbench.recording.redaction import DIGEST_HEADER, RedactionError, RequestRedactor
from ehrbench.recording.session import LLMCase, build_prompts, collect_completions, record_command

__all__ = [
    "DIGEST_HEADER",
    "RECORD_MODES",
    "CaseKey",
    "CassetteError",
    "LLMCase",
    "CassetteMismatch",
    "CassetteMissing",
    "RecordMode",
    "RecordingError",
    "RedactionError",
    "RequestRedactor",
    "build_vcr",
    "build_prompts",
    "collect_completions",
    "explain_mismatch",
    "record_command",
]
