"""Recover row records from the text of one LLM answer.

A prompt requests a batch of rows either as JSON ``{"rows": [{"<column>": value, ...}, ...]}``
(structured output) or as CSV with a header row. Answers also arrive as a bare JSON list, a list
of lists in column order or in the order of a ``columns`` list beside it, rows under another
key or one level deeper, JSON lines, JSON or CSV inside code fences with prose around them,
JSON cut off by the token limit, Markdown tables, a byte order mark, refusals or empty strings.
The container rules are listed in :mod:`ehrbench.parsing._containers`.

:func:`parse_answer` never raises on a ``str`` answer. It scans the text a bounded number of
times, so its run time grows linearly with the answer length. JSON values are decoded with
:mod:`json`, and CSV lines with :mod:`csv`, never with regular expressions on values. Checking
the recovered records against a schema is the job of :mod:`ehrbench.parsing.validity`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ehrbench.parsing._csv_rows import collect_csv
from ehrbench.parsing._json_rows import collect_json
from ehrbench.parsing._records import RowCollector

logger = logging.getLogger(__name__)

FORMAT_JSON = "json"
FORMAT_CSV = "csv"
FORMAT_NONE = "none"

FAILURE_EMPTY = "empty answer"
FAILURE_REFUSAL = "refusal"
FAILURE_NO_ROWS = "no JSON or CSV rows found"

#: Provider stop reasons that mark an answer as refused: Anthropic's ``refusal`` and OpenAI's
#: ``content_filter`` (content withheld by the provider's filter).
REFUSAL_STOP_REASONS = ("refusal", "content_filter")
FAILURE_UNREADABLE = "no complete row could be read"

_REFUSAL = re.compile(
    r"\b(?:i'm sorry|i am sorry|i apologi[sz]e|i can't|i cannot|i can not|i'm unable|"
    r"i am unable|i won't|i will not|as an ai)\b"
)
#: Number of leading characters searched for a refusal phrase.
_REFUSAL_WINDOW = 400
_BOM = "\ufeff"


@dataclass(frozen=True)
class ParsedAnswer:
    """Row records recovered from one answer.

    ``records`` holds one dict per recovered row, in answer order. Keys are spelled as the model
    wrote them with surrounding whitespace stripped, except that all keys of a record keep their
    original spelling when stripping would merge two of them. Values are decoded JSON values or
    stripped CSV strings. ``format`` is ``"json"``, ``"csv"`` or ``"none"``.
    ``unparseable_fragments`` counts row-like pieces that could not be read (a truncated last
    object, an invalid object, a list of the wrong length or under a header of unknown names, a
    CSV line with the wrong field count, a CSV row beside JSON rows).
    ``failure`` is empty when at least one record was recovered, and otherwise one of the
    ``FAILURE_*`` reasons of this module.
    """

    records: list[dict[str, object]]
    format: str
    unparseable_fragments: int
    failure: str


def parse_answer(text: str, columns: Sequence[str]) -> ParsedAnswer:
    """Parse the rows of one answer requested with the schema column names ``columns``.

    A leading byte order mark is ignored. JSON is tried first: every JSON object or array in
    the text that can start a row or a list of rows is decoded, and the complete rows inside
    truncated or invalid JSON are recovered one by one. Lists are mapped to ``columns`` by
    position, or to a header list that precedes them in the same array or that a ``columns``,
    ``header`` or ``fields`` key of their container gives.

    CSV tables start at a header line that names at least two of ``columns``
    (case-insensitive) and of which at least half of the fields are known columns. When some
    JSON record has a key that is a schema column, the JSON rows are kept, and the rows of CSV
    tables outside the JSON values count as unparseable fragments, because an answer in two
    formats is not read twice. Otherwise the CSV rows are kept when there are any, with the
    unparseable JSON fragments added to their count, so that a JSON object in prose such as
    ``{"temperature": 0.7}`` does not hide a CSV table.

    Raises TypeError or ValueError only for invalid arguments.
    """
    _check_arguments(text, columns)
    text = text.removeprefix(_BOM)
    if not text.strip():
        return ParsedAnswer([], FORMAT_NONE, 0, FAILURE_EMPTY)

    json_rows = RowCollector(columns)
    collect_json(text, json_rows)
    if json_rows.has_schema_row():
        csv_rows = RowCollector(columns)
        collect_csv(_outside_spans(text, json_rows.spans), csv_rows)
        other = len(csv_rows.records) + csv_rows.unparseable
        if other:
            logger.debug("counted %d CSV rows or fragments beside JSON rows as unparseable", other)
        return ParsedAnswer(json_rows.records, FORMAT_JSON, json_rows.unparseable + other, "")

    csv_rows = RowCollector(columns)
    collect_csv(text, csv_rows)
    if csv_rows.records:
        unparseable = csv_rows.unparseable + json_rows.unparseable
        return ParsedAnswer(csv_rows.records, FORMAT_CSV, unparseable, "")
    if json_rows.records:
        return ParsedAnswer(json_rows.records, FORMAT_JSON, json_rows.unparseable, "")

    if json_rows.unparseable:
        result = ParsedAnswer([], FORMAT_JSON, json_rows.unparseable, FAILURE_UNREADABLE)
    elif csv_rows.unparseable:
        result = ParsedAnswer([], FORMAT_CSV, csv_rows.unparseable, FAILURE_UNREADABLE)
    elif _REFUSAL.search(text[:_REFUSAL_WINDOW].lower().replace("\u2019", "'")):
        result = ParsedAnswer([], FORMAT_NONE, 0, FAILURE_REFUSAL)
    else:
        result = ParsedAnswer([], FORMAT_NONE, 0, FAILURE_NO_ROWS)
    logger.debug("answer of %d characters gave no row: %s", len(text), result.failure)
    return result


def _outside_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Return ``text`` with each of the ordered, disjoint ``spans`` replaced by a line break."""
    pieces = []
    position = 0
    for start, end in spans:
        pieces.append(text[position:start])
        position = end
    pieces.append(text[position:])
    return "\n".join(pieces)


def _check_arguments(text: object, columns: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text: expected the answer text as str, got {type(text).__name__}")
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise TypeError(f"columns: expected a list of column names, got {columns!r}")
    if not columns:
        raise ValueError("columns: the list is empty; pass the schema column names")
    bad = [name for name in columns if not isinstance(name, str)]
    if bad:
        raise TypeError(f"columns: column names must be str, got {bad!r}")
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns: duplicate names in {list(columns)!r}")
