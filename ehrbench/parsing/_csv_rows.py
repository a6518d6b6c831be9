"""Read CSV tables, with a header row of known columns, from answer text."""

from __future__ import annotations

import csv

from ehrbench.parsing._records import RowCollector

#: CSV delimiters tried on a header line. On a tie, the earlier one wins.
_CSV_DELIMITERS = (",", "\t", ";", "|")
#: Characters of a Markdown table rule such as ``|---|:--:|``.
_MARKDOWN_RULE = frozenset("|-: ")


def collect_csv(text: str, collector: RowCollector) -> None:
    """Add the rows of every CSV table in ``text`` that starts with a header of known columns."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        header = _csv_header(lines[index], collector.folded)
        index += 1
        if header is not None:
            names, delimiter = header
            index = _read_csv_table(lines, index, names, delimiter, collector)


def _csv_header(line: str, folded_columns: set[str]) -> tuple[list[str], str] | None:
    """Return the field names and delimiter when ``line`` is a header of known columns."""
    best: tuple[list[str], str] | None = None
    best_matches = 0
    for delimiter in _CSV_DELIMITERS:
        if delimiter not in line:
            continue
        names = _split_csv_line(line, delimiter)
        if names is None:
            continue
        matches = sum(1 for name in names if name.lower() in folded_columns)
        if matches > best_matches:
            best, best_matches = (names, delimiter), matches

    if best is None or best_matches < min(2, len(folded_columns)):
        return None
    if 2 * best_matches < len(best[0]):
        return None
    return best


def _split_csv_line(line: str, delimiter: str) -> list[str] | None:
    content = line.strip()
    if delimiter == "|":
        content = content.strip("|")
    try:
        fields = next(csv.reader([content], delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, StopIteration):
        return None
    return [field.strip() for field in fields]


def _read_csv_table(
    lines: list[str], index: int, names: list[str], delimiter: str, collector: RowCollector
) -> int:
    """Add the rows of the table whose header precedes line ``index``.

    Returns the index of the first line after the table.

    The table ends at a code fence, at a line without the delimiter, or at blank lines that
    are not followed by a line with the header's field count.
    """
    folded_names = [name.lower() for name in names]
    unique_names = len(set(names)) == len(names)
    previous_was_row = False
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            index = _skip_blank_lines(lines, index)
            if not _continues_table(lines, index, len(names), delimiter):
                return index
            previous_was_row = False
            continue
        if stripped.startswith("```"):
            return index + 1
        if delimiter == "|" and set(stripped) <= _MARKDOWN_RULE:
            index += 1
            continue
        if delimiter not in stripped:
            # A last line without the delimiter or spaces, right after a row, is taken as a
            # row cut off by the token limit. Other such lines are prose after the table.
            if index == len(lines) - 1 and previous_was_row and " " not in stripped:
                collector.unparseable += 1
            return index

        fields = _split_csv_line(stripped, delimiter)
        index += 1
        previous_was_row = False
        if fields is not None and [field.lower() for field in fields] == folded_names:
            continue
        # NOTE: a header that repeats a name cannot be mapped to dict records, so each of
        # its rows counts as unparseable.
        if fields is None or len(fields) != len(names) or not unique_names:
            collector.unparseable += 1
            continue
        collector.records.append(dict(zip(names, fields)))
        previous_was_row = True
    return index


def _skip_blank_lines(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _continues_table(lines: list[str], index: int, field_count: int, delimiter: str) -> bool:
    if index >= len(lines):
        return False
    stripped = lines[index].strip()
    if stripped.startswith("```") or delimiter not in stripped:
        return False
    fields = _split_csv_line(stripped, delimiter)
    return fields is not None and len(fields) == field_count
