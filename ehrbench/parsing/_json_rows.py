"""Find JSON rows in answer text, including the complete rows of truncated or invalid JSON.

Strings are skipped whole while brackets are counted, so brackets inside values never count.
Each character is scanned a bounded number of times, so the run time is linear in the text
length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ehrbench.parsing._records import INVALID, RowCollector, decode_json

_OPENING = re.compile(r"[{\[]")
_STRUCTURAL = re.compile(r'[{}\[\]"]')
_WHITESPACE = re.compile(r"\s*")


def _tokens(text: str, start: int) -> Iterator[tuple[str, int, int | None]]:
    """Yield ``(character, index, end)`` for each bracket and each string from ``start``.

    A string token has character ``'"'`` and ``end`` just past its closing quote, or ``None``
    when the text ends inside the string (which ends the iteration).
    """
    position = start
    while True:
        match = _STRUCTURAL.search(text, position)
        if match is None:
            return
        index = match.start()
        character = text[index]
        if character != '"':
            yield character, index, index + 1
            position = index + 1
            continue
        end = _string_end(text, index)
        yield character, index, end
        if end is None:
            return
        position = end


def _string_end(text: str, opening: int) -> int | None:
    position = opening + 1
    while True:
        quote = text.find('"', position)
        if quote < 0:
            return None
        backslashes = 0
        while text[quote - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return quote + 1
        position = quote + 1


def _span_end(text: str, start: int) -> int | None:
    """Return the index just past the bracket that closes the one at ``start``, or None."""
    depth = 0
    for character, index, end in _tokens(text, start):
        if end is None:
            return None
        if character in "{[":
            depth += 1
        elif character in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _may_start_rows(text: str, start: int) -> bool:
    # '{' must open an object with a quoted key (single quotes too, so that Python dicts are
    # counted as unreadable) and '[' a list of objects or lists. Braces and citations in
    # prose are skipped.
    following = _WHITESPACE.match(text, start + 1).end()
    if following >= len(text):
        return False
    if text[start] == "{":
        return text[following] in "\"'"
    return text[following] in "{["


def collect_json(text: str, collector: RowCollector) -> None:
    """Add the rows of every JSON object or array in ``text`` that can hold rows."""
    position = 0
    while True:
        match = _OPENING.search(text, position)
        if match is None:
            return
        start = match.start()
        if not _may_start_rows(text, start):
            position = start + 1
            continue

        end = _span_end(text, start)
        value = INVALID if end is None else decode_json(text[start:end])
        if value is not INVALID:
            collector.add_top_level(value)
        else:
            _recover_rows(text, start, collector)

        if end is None:
            return
        position = end


def _recover_rows(text: str, start: int, collector: RowCollector) -> None:
    """Add the readable elements of the truncated or invalid JSON value at ``start``."""
    if text[start] == "[":
        array_start = start
    else:
        array_start = _rows_array_start(text, start, collector.folded)
    if array_start is None:
        collector.unparseable += 1
        return
    _recover_array(text, array_start, collector)


def _rows_array_start(text: str, start: int, folded_columns: set[str]) -> int | None:
    """Return the index of the first array directly inside the object at ``start``.

    Returns None when the object has no such array or has a key that is a column name,
    because then the object is a row itself.
    """
    depth = 0
    for character, index, end in _tokens(text, start):
        if end is None:
            return None
        if character == "[" and depth == 1:
            return index
        if character in "{[":
            depth += 1
        elif character in "}]":
            depth -= 1
            if depth == 0:
                return None
        elif depth == 1 and _is_key(text, end):
            if text[index + 1 : end - 1].strip().lower() in folded_columns:
                return None
    return None


def _is_key(text: str, string_end: int) -> bool:
    following = _WHITESPACE.match(text, string_end).end()
    return following < len(text) and text[following] == ":"


def _recover_array(text: str, array_start: int, collector: RowCollector) -> None:
    """Add each balanced element of the array at ``array_start`` and count the rest."""
    collector.start_array()
    depth = 0
    element_start = gap_start = array_start + 1
    for character, index, end in _tokens(text, array_start):
        if character == '"':
            if depth == 1:
                collector.count_scalars(text[gap_start:index])
                collector.unparseable += 1
                gap_start = end
            elif end is None:
                collector.unparseable += 1
            if end is None:
                return
            continue

        if character in "{[":
            depth += 1
            if depth == 2:
                collector.count_scalars(text[gap_start:index])
                element_start = index
            continue

        depth -= 1
        if depth == 1:
            collector.add_fragment(text[element_start : index + 1])
            gap_start = index + 1
        elif depth == 0:
            collector.count_scalars(text[gap_start:index])
            return

    # The text ended inside the array: a cut-off element counts once.
    if depth >= 2:
        collector.unparseable += 1
    else:
        collector.count_scalars(text[gap_start:])
