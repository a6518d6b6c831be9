"""Find JSON rows in answer text, including the complete rows of truncated or invalid JSON.

Each object or array that can hold rows is decoded whole when it is valid. Otherwise its rows
arrays are found with the container rules of :mod:`ehrbench.parsing._containers` and read
element by element, counting each unreadable element. A value that never closes, such as an
unclosed ``{"`` in prose before the answer or a first attempt cut off mid-row, would hide the
JSON after it, so the values that do close inside it are read as well when the cut-off value
itself gave no row.

Every scan is linear in the length it covers, and each character is covered by a bounded
number of scans, so the run time is linear in the text length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ehrbench.parsing._containers import (
    HEADER_KEYS,
    INVALID_HEADER,
    ROWS_KEY,
    container_rows,
    fold,
    header_names,
)
from ehrbench.parsing._json_scan import (
    CLOSINGS,
    CUT_STRING,
    OPENINGS,
    STRING,
    is_key,
    may_start_rows,
    scan_value,
    tokens,
)
from ehrbench.parsing._records import INVALID, RowCollector, decode_json

_OPENING = re.compile(r"[{\[]")


def collect_json(text: str, collector: RowCollector) -> None:
    """Add the rows of every JSON object or array in ``text`` that can hold rows."""
    position = 0
    while True:
        match = _OPENING.search(text, position)
        if match is None:
            return
        start = match.start()
        if not may_start_rows(text, start):
            position = start + 1
            continue

        scan = scan_value(text, start)
        if scan.end is not None:
            _read_closed_value(text, start, scan.end, collector)
        else:
            _read_cut_value(text, start, scan.closed, collector)
        collector.spans.append((start, scan.stop))
        position = scan.stop


def _read_closed_value(text: str, start: int, end: int, collector: RowCollector) -> None:
    value = decode_json(text[start:end])
    if value is INVALID:
        _recover_value(text, start, collector)
    else:
        collector.add_top_level(value)


def _read_cut_value(
    text: str, start: int, closed: list[tuple[int, int]], collector: RowCollector
) -> None:
    """Add the rows of the cut-off value at ``start``, or of the values closed inside it.

    ``closed`` lists the spans of the values that closed inside it. When the cut-off value
    gives no schema row, it is taken as prose or an abandoned attempt, and the values closed
    inside it are read from its second character on. When it does give rows, only the values
    closed after the part it consumed are read. Those values are kept only when they give a
    schema row, and then the cut-off value is dropped unless it gave rows itself.
    """
    # NOTE: an unclosed value inside the cut-off one is searched only one level down, as a
    # container. After two unclosed '{"' in prose, a truncated answer keeps only its rows
    # written as objects, its cut-off row is not counted, and list rows count as one fragment.
    attempt = collector.spawn()
    resume = _recover_value(text, start, attempt)
    attempt_has_rows = attempt.has_schema_row()
    if not attempt_has_rows:
        resume = start + 1

    inner = collector.spawn()
    cursor = resume
    for opening, end in sorted(closed):
        if opening >= cursor and may_start_rows(text, opening):
            _read_closed_value(text, opening, end, inner)
            cursor = end

    if not inner.has_schema_row():
        collector.absorb(attempt)
        return
    if attempt_has_rows:
        collector.absorb(attempt)
    collector.absorb(inner)


def _recover_value(text: str, start: int, collector: RowCollector) -> int:
    """Add the readable rows of the invalid or cut-off value at ``start``.

    Returns the index after the part that was read, where a search for more JSON may resume.
    """
    if text[start] == "[":
        collector.start_array()
        return _recover_array(text, start, collector)
    found, resume = _recover_object(text, start, collector, top_level=True)
    if not found:
        collector.unparseable += 1
    return resume


@dataclass
class _Member:
    """An object or array value directly inside an object, with its folded key."""

    key: str | None
    kind: str
    start: int
    end: int | None = None


def _object_members(
    text: str, start: int, folded: set[str]
) -> tuple[list[_Member], bool, bool]:
    """Return the object and array members of the object at ``start`` and two flags.

    The flags tell whether the object is a row, because one of its keys is a schema column,
    and whether one of its keys is a header key.
    """
    members: list[_Member] = []
    is_row = has_header = False
    depth = 0
    key = None
    key_end = start
    for kind, index, end in tokens(text, start):
        if kind in OPENINGS:
            depth += 1
            if depth == 2:
                name = None
                if key is not None and text[key_end:index].strip() == ":":
                    name = key
                members.append(_Member(name, kind, index))
                key = None
        elif kind in CLOSINGS:
            depth -= 1
            if depth == 1:
                members[-1].end = end
            elif depth == 0:
                break
        elif kind == CUT_STRING:
            break
        elif depth == 1 and kind == STRING and is_key(text, end):
            key, key_end = fold(text[index + 1 : end - 1]), end
            is_row = is_row or key in folded
            has_header = has_header or (key in HEADER_KEYS and key not in folded)
    return members, is_row, has_header


def _recover_object(
    text: str, start: int, collector: RowCollector, top_level: bool
) -> tuple[bool, int]:
    """Add the rows arrays of the invalid or cut-off object at ``start``.

    Follows the container rules of :mod:`ehrbench.parsing._containers`. Returns whether a rows
    array was found, and the index after the last part read (``start + 1`` when none was).
    """
    members, is_row, has_header = _object_members(text, start, collector.folded)
    header = INVALID_HEADER if has_header else None
    for member in members:
        if member.kind == "[" and member.key in HEADER_KEYS and member.key not in collector.folded:
            header = _decode_header(text, member, collector.folded)
    arrays = [m for m in members if m.kind == "[" and m.key == ROWS_KEY]
    if not arrays and is_row:
        return False, start + 1
    if not arrays:
        arrays = [m for m in members if m.kind == "[" and m.key not in HEADER_KEYS]
        if len(arrays) > 1:
            arrays = [m for m in arrays if may_start_rows(text, m.start)]

    resume = start + 1
    for member in arrays:
        collector.start_array(header)
        resume = _recover_array(text, member.start, collector)
    if arrays or not top_level:
        return bool(arrays), resume

    found = False
    for member in members:
        if member.kind == "{":
            member_found, member_resume = _recover_nested_object(text, member, collector)
            if member_found:
                found, resume = True, member_resume
    return found, resume


def _recover_nested_object(
    text: str, member: _Member, collector: RowCollector
) -> tuple[bool, int]:
    """Add the rows of an object value one level down, valid or not."""
    if member.end is None:
        return _recover_object(text, member.start, collector, top_level=False)
    value = decode_json(text[member.start : member.end])
    if value is INVALID:
        return _recover_object(text, member.start, collector, top_level=False)

    arrays = container_rows(value, collector.folded, top_level=False)
    if arrays is None:
        return False, member.start + 1
    collector.add_arrays(arrays)
    return True, member.end


def _decode_header(text: str, member: _Member, folded: set[str]) -> object:
    if member.end is None:
        return INVALID_HEADER
    return header_names(decode_json(text[member.start : member.end]), folded)


def _recover_array(text: str, array_start: int, collector: RowCollector) -> int:
    """Add each balanced element of the array at ``array_start`` and count the rest.

    Returns the index after the array, the start of a cut-off element plus one, or the index
    where the text was cut between elements.
    """
    depth = 0
    element_start = gap_start = array_start + 1
    for kind, index, end in tokens(text, array_start):
        if kind in (STRING, CUT_STRING):
            if depth == 1:
                collector.count_scalars(text[gap_start:index])
                collector.unparseable += 1
                gap_start = end
            elif kind == CUT_STRING:
                collector.unparseable += 1
                return element_start + 1
            if kind == CUT_STRING:
                return end
            continue

        if kind in OPENINGS:
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
            return end

    # The text ended inside the array: a cut-off element counts once.
    if depth >= 2:
        collector.unparseable += 1
        return element_start + 1
    collector.count_scalars(text[gap_start:])
    return len(text)
