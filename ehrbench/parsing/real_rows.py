"""Find real patient rows written in a text, in every form a prompt or an answer carries them.

A row of a real dataset can reach a text in two ways: a prompt shows it as an example, or a
model writes it back. Prompts render values with :func:`~ehrbench.prompts.base.show_value`, which
keeps four significant digits, so a model that copies an example writes the four-digit form.
:class:`RealRowFinder` therefore compares parsed records at four, five and six significant
digits (:data:`COMPARED_DIGITS`), and rendered forms at the four digits prompts show.

Recording does not depend on this search, because it seals every stored response body
(:mod:`ehrbench.recording.sealing`). It serves the proof that no committed cassette contains a
real row (request bodies, and any body left in clear) and the checks of statistics-only
prompts.

Two checks run on each text:

1. **Records.** Every record that :func:`~ehrbench.parsing.answers.parse_answer` recovers, in any
   format it reads, is keyed on the schema columns (names matched ignoring case and surrounding
   spaces, extra keys ignored) and looked up among the real rows.
2. **Rendered forms.** Each real row is rendered the ways a prompt writes rows: a JSON object,
   a JSON array in column order, a CSV line and a ``column=value`` line. Every innermost
   bracketed fragment and every line of the text is compared with them, ignoring whitespace and
   case, so a row is found where the parser would not look for one (a request body, prose).

A match reports its form and position, never the values, so that reporting it leaks nothing.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import pandas as pd

from ehrbench.parsing._values import _read_number, read_binary
from ehrbench.parsing.answers import parse_answer
from ehrbench.prompts.base import format_rows, show_value
from ehrbench.schema import Column, TableSchema

logger = logging.getLogger(__name__)

#: Significant digits of the values prompts show.
SHOWN_DIGITS = 4

#: Significant digits at which parsed records are compared, each in turn, so that a row written
#: at five or six digits is not missed because its four-digit rounding differs from the real one.
COMPARED_DIGITS = (SHOWN_DIGITS, 5, 6)

#: Names of the forms a match can have.
FORM_RECORD = "parsed record"
FORM_FRAGMENT = "JSON fragment"
FORM_LINE = "line"

_INNERMOST_ARRAY = re.compile(r"\[[^\[\]]*\]")
_INNERMOST_OBJECT = re.compile(r"\{[^{}]*\}")
_WHITESPACE = re.compile(r"\s+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n|\\n")


@dataclass(frozen=True)
class RowMatch:
    """One real row found in a text: how it was written and where.

    ``position`` is the character offset (from 0) of a fragment or line, and the index (from 0)
    of a parsed record among the records of the text.
    """

    form: str
    position: int


class RealRowFinder:
    """Find the rows of ``real`` (a frame with every ``schema`` column) written in a text.

    ``real`` contains the rows to protect, usually every part of a real dataset. Building the
    finder renders each row four ways, so it costs O(rows x columns) once; :meth:`find` costs
    O(length of the text).
    """

    def __init__(self, real: pd.DataFrame, schema: TableSchema) -> None:
        if not isinstance(real, pd.DataFrame):
            raise TypeError(f"real: expected a pandas DataFrame, got {type(real).__name__}")
        absent = [name for name in schema.names if name not in real.columns]
        if absent:
            raise KeyError(f"real: the frame lacks the schema columns {absent}")

        self.schema = schema
        self._lookup = {name.strip().lower(): column for name, column in ((c.name, c) for c in schema.columns)}
        frame = real[schema.names]
        rows = list(frame.itertuples(index=False, name=None))
        self._keys = {
            digits: {tuple(_shown_key(value, column, digits) for value, column in zip(row, schema.columns)) for row in rows}
            for digits in COMPARED_DIGITS
        }
        self._forms = _rendered_forms(frame, schema)
        logger.debug("finder over %d real rows and %d rendered forms", len(frame), len(self._forms))

    def find(self, text: str) -> list[RowMatch]:
        """Return every real row found in ``text``, records first, in text order within each form."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected str, got {type(text).__name__}")
        if not text.strip():
            return []
        matches = [RowMatch(FORM_RECORD, index) for index in self._matching_records(text)]
        for pattern in (_INNERMOST_ARRAY, _INNERMOST_OBJECT):
            for fragment in pattern.finditer(text):
                if _normalise(fragment.group()) in self._forms:
                    matches.append(RowMatch(FORM_FRAGMENT, fragment.start()))
        start = 0
        for end, next_start in [(match.start(), match.end()) for match in _LINE_BREAK.finditer(text)] + [(len(text), len(text))]:
            if _normalise(text[start:end]).strip(",") in self._forms:
                matches.append(RowMatch(FORM_LINE, start))
            start = next_start
        return matches

    def contains(self, text: str) -> bool:
        """Return True when ``text`` contains at least one real row."""
        return bool(self.find(text))

    def _matching_records(self, text: str) -> list[int]:
        """Return the positions (record order, from 0) of the parsed records that equal a real row."""
        records = parse_answer(text, self.schema.names).records
        matching = []
        for index, record in enumerate(records):
            values = {}
            for name, value in record.items():
                column = self._lookup.get(str(name).strip().lower())
                if column is not None:
                    values.setdefault(column.name, value)
            if len(values) < len(self.schema.columns):
                continue
            for digits in COMPARED_DIGITS:
                key = tuple(_shown_key(values[column.name], column, digits) for column in self.schema.columns)
                if key in self._keys[digits]:
                    matching.append(index)
                    break
        return matching


def _shown_key(value: object, column: Column, digits: int = SHOWN_DIGITS) -> object:
    """Return ``value`` as compared: a number at ``digits`` significant digits, a category in lower case."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if column.kind == "categorical":
        text = str(value).strip().lower()
        return None if text in ("", "null", "nan", "none", "na", "n/a") else text
    if column.kind == "binary":
        reason, number = read_binary(value)
    else:
        reason, number = _read_number(float(value) if isinstance(value, bool) else value)
    if reason is not None:
        return ("unreadable", str(value))
    if math.isnan(number):
        return None
    return float(f"{number:.{digits}g}")


def _rendered_forms(frame: pd.DataFrame, schema: TableSchema) -> set[str]:
    """Return every row of ``frame`` rendered as prompts write rows, normalised by :func:`_normalise`."""
    forms: set[str] = set()
    for output_format in ("json", "json-arrays"):
        forms.update(_normalise(line) for line in format_rows(frame, schema, output_format, show_value).splitlines())
    csv_lines = format_rows(frame, schema, "csv", show_value).splitlines()[1:]
    forms.update(_normalise(line) for line in csv_lines)
    for row in frame.itertuples(index=False, name=None):
        pairs = [f"{column.name}={show_value(value)}" for column, value in zip(schema.columns, row)]
        forms.add(_normalise(",".join(pairs)))
    return forms


def _normalise(text: str) -> str:
    """Return ``text`` without whitespace, in lower case, with ``;`` read as ``,``."""
    return _WHITESPACE.sub("", text).lower().replace(";", ",")
