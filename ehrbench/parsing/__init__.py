"""Turn LLM answers into validated rows and count what was lost on the way.

:mod:`ehrbench.parsing.answers` recovers row records from answer text, and
:mod:`ehrbench.parsing.validity` checks them against a :class:`~ehrbench.schema.TableSchema`.
"""

from __future__ import annotations

from ehrbench.parsing.answers import ParsedAnswer, parse_answer
from ehrbench.parsing.validity import (
    REJECTION_REASONS,
    AnswersOutcome,
    ValidationOutcome,
    ValidityRecord,
    training_row_keys,
    validate_answers,
    validate_answers_with_copies,
    validate_records,
)

__all__ = [
    "REJECTION_REASONS",
    "AnswersOutcome",
    "ParsedAnswer",
    "ValidationOutcome",
    "ValidityRecord",
    "parse_answer",
    "training_row_keys",
    "validate_answers",
    "validate_answers_with_copies",
    "validate_records",
]
