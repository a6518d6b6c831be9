"""Tokenize JSON-like answer text into brackets and strings, and find where a value ends.

Strings are matched whole by one regular expression, so brackets inside string values never
count. A string that reaches a line break or the end of the text without its closing quote is
cut: JSON strings cannot hold a raw line break, so the value around it was cut off (for example
by a model that stopped mid-row and started again on the next line). Each call scans the text
once from its start index, so its run time is linear in the scanned length.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

#: Token kinds besides the four bracket characters.
STRING = '"'
CUT_STRING = "cut"
OPENINGS = frozenset("{[")
CLOSINGS = frozenset("}]")

# A bracket, or a string up to its closing quote (group 1) or up to the line break or text end
# that cuts it. Possessive quantifiers keep the match linear when no closing quote follows.
_TOKEN = re.compile(r'[{}\[\]]|"[^"\\\n\r]*+(?:\\[^\n\r][^"\\\n\r]*+)*+("?)')
_WHITESPACE = re.compile(r"\s*")


def tokens(text: str, start: int) -> Iterator[tuple[str, int, int]]:
    """Yield ``(kind, index, end)`` for each bracket and string from ``start``.

    ``kind`` is the bracket character, :data:`STRING` or :data:`CUT_STRING`, and ``end`` is the
    index just past the token. A cut string is the last token yielded.
    """
    for match in _TOKEN.finditer(text, start):
        index = match.start()
        character = text[index]
        if character != '"':
            yield character, index, index + 1
        elif match.group(1):
            yield STRING, index, match.end()
        else:
            yield CUT_STRING, index, match.end()
            return


@dataclass
class ValueScan:
    """End of the JSON object or array that opens at a start index.

    ``end`` is the index just past its closing bracket, or None when the value is cut off.
    ``stop`` is where the scan stopped: ``end``, the start of a cut string's line break, or
    the text end. ``closed`` lists the ``(start, end)`` spans of the brackets that did close
    inside a cut-off value, in closing order, and is empty when ``end`` is set.
    """

    end: int | None
    stop: int
    closed: list[tuple[int, int]] = field(default_factory=list)


def scan_value(text: str, start: int) -> ValueScan:
    """Scan the object or array that opens at ``start`` and return where it ends."""
    # array('q') keeps a deep stack of open brackets compact: '[' * 5_000_000 needs 40 MB.
    stack = array("q")
    closed: list[tuple[int, int]] = []
    for kind, index, end in tokens(text, start):
        if kind in OPENINGS:
            stack.append(index)
        elif kind in CLOSINGS:
            opening = stack.pop()
            if not stack:
                return ValueScan(end, end)
            closed.append((opening, end))
        elif kind == CUT_STRING:
            return ValueScan(None, end, closed)
    return ValueScan(None, len(text), closed)


def may_start_rows(text: str, start: int) -> bool:
    """Tell whether the bracket at ``start`` can open rows or a container of rows.

    '{' must open an object with a quoted key (single quotes too, so that Python dicts are
    counted as unreadable) and '[' a list of objects or lists. Braces and citations in prose
    are skipped.
    """
    following = _WHITESPACE.match(text, start + 1).end()
    if following >= len(text):
        return False
    if text[start] == "{":
        return text[following] in "\"'"
    return text[following] in "{["


def is_key(text: str, string_end: int) -> bool:
    """Tell whether the string that ends at ``string_end`` is followed by a colon."""
    following = _WHITESPACE.match(text, string_end).end()
    return following < len(text) and text[following] == ":"
