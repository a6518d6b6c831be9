"""Recording and replay of LLM answers with vcrpy, with real values and secrets redacted."""

from ehrbench.recording.cassettes import (
    CaseKey,
    CassetteMismatch,
    CassetteMissing,
    RecordMode,
    build_vcr,
    explain_mismatch,
)
from ehrbench.recording.redaction import DIGEST_HEADER, RedactionError, RequestRedactor
from ehrbench.recording.session import LLMCase, build_prompts, collect_completions, record_command

__all__ = [
    "DIGEST_HEADER",
    "CaseKey",
    "LLMCase",
    "CassetteMismatch",
    "CassetteMissing",
    "RecordMode",
    "RedactionError",
    "RequestRedactor",
    "build_vcr",
    "build_prompts",
    "collect_completions",
    "explain_mismatch",
    "record_command",
]
