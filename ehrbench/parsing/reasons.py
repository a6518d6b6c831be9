"""Names of the reasons why a requested row did not become a valid row."""

from __future__ import annotations

MISSING_COLUMN = "missing column"
EXTRA_COLUMN = "extra column"
WRONG_TYPE = "wrong type"
OUT_OF_RANGE = "out of range"
UNKNOWN_CATEGORY = "unknown category"
EXACT_COPY = "exact copy of a training row"
BEYOND_REQUESTED = "beyond requested rows"
UNPARSEABLE = "unparseable"

#: Rejection reasons in the order in which records are checked. ``beyond requested rows``
#: counts the valid rows of an answer after the first ``requested`` ones, which are not kept.
#: ``unparseable`` counts the answer fragments that never became a record.
REJECTION_REASONS = (
    MISSING_COLUMN,
    EXTRA_COLUMN,
    WRONG_TYPE,
    OUT_OF_RANGE,
    UNKNOWN_CATEGORY,
    EXACT_COPY,
    BEYOND_REQUESTED,
    UNPARSEABLE,
)
