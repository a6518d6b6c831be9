"""Read CSV tables, with a header row of known columns, from answer text.

A table starts at a header line and runs to a code fence, to the header of another table or to
the end of the text. Inside it, a line with the header's field count is a row. A line with
another count of at least two fields is a broken row, counted as unparseable, when it directly
follows the header, a row or a broken row, and prose otherwise. A line without the delimiter is
prose, except that a last line without spaces right after a row is a row cut off by the token
limit. Prose is skipped, so rows after a remark such as "Here are ten more:" are still read. A
quoted field may span lines, as :mod:`csv` reads it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from ehrbench.parsing._records import RowCollector

#: CSV delimiters tried on a header line. On a tie, the earlier one wins.
_CSV_DELIMITERS = (",", "\t", ";", "|")
#: Characters of a Markdown table rule such as ``|---|:--:|``.
_MARKDOWN_RULE = frozenset("|-: ")
# NOTE: a quoted field that spans more lines than this is not joined, so its first line counts
# as a broken row and its other lines are read as lines of their own. The bound keeps a stray
# opening quote from swallowing the rest of the table.
_MAX_RECORD_LINES = 20
_BOM = "\ufeff"


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


def _prepare_line(line: str, delimiter: str) -> str:
    content = line.strip().lstrip(_BOM)
    if delimiter == "|":
        content = content.strip("|")
    return content


def _split_csv_line(line: str, delimiter: str) -> list[str] | None:
    content = _prepare_line(line, delimiter)
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
    """
    folded_names = [name.lower() for name in names]
    unique_names = len(set(names)) == len(names)
    after_row = True
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith("```"):
            return index + 1
        if not stripped or (delimiter == "|" and set(stripped) <= _MARKDOWN_RULE):
            after_row = after_row and bool(stripped)
            index += 1
            continue
        fields, next_index = _read_record(lines, index, delimiter)
        if fields is not None and [field.lower() for field in fields] == folded_names:
            index = next_index
            continue
        if _starts_other_table(fields, stripped, names, delimiter, collector.folded):
            return index
        if fields is not None and len(fields) < 2:
            # A last line without the delimiter or spaces, right after a row, is taken as a
            # row cut off by the token limit. Other lines without the delimiter are prose.
            if next_index == len(lines) and after_row and " " not in stripped:
                collector.unparseable += 1
            after_row = False
            index = next_index
            continue
        # NOTE: a header that repeats a name cannot be mapped to dict records, so each of
        # its rows counts as unparseable.
        if fields is None or len(fields) != len(names) or not unique_names:
            if after_row:
                collector.unparseable += 1
            index = next_index
            continue
        collector.records.append(dict(zip(names, fields)))
        after_row = True
        index = next_index
    return index


def _starts_other_table(
    fields: list[str] | None, line: str, names: list[str], delimiter: str, folded: set[str]
) -> bool:
    """Tell whether a line inside a table is the header of another table.

    ``fields`` are the line's fields for the current ``delimiter``, or None when they could
    not be read. A header with other names, in another order or with another delimiter starts
    another table.
    """
    if fields is not None and len(fields) > 1:
        if not any(field.lower() in folded for field in fields):
            return False
    header = _csv_header(line, folded)
    if header is None:
        return False
    other_names, other_delimiter = header
    same_names = [name.lower() for name in other_names] == [name.lower() for name in names]
    return other_delimiter != delimiter or not same_names


def _read_record(lines: list[str], index: int, delimiter: str) -> tuple[list[str] | None, int]:
    """Return the fields of the CSV record that starts at line ``index`` and the next index.

    A quoted field may continue on the following lines. A record still open after
    ``_MAX_RECORD_LINES`` lines, or at the end of the text, gives None and the index after its
    first line.
    """
    if '"' not in lines[index]:
        return _split_csv_line(lines[index], delimiter), index + 1

    window_end = min(index + _MAX_RECORD_LINES, len(lines))
    source = _RecordLines(lines, index, window_end, delimiter)
    reader = csv.reader(source, delimiter=delimiter, skipinitialspace=True)
    try:
        fields = next(reader)
    except (csv.Error, StopIteration):
        return None, index + 1
    if source.exhausted:
        return None, index + 1
    return [field.strip() for field in fields], index + reader.line_num


class _RecordLines:
    """Lines ``start`` to ``stop`` for :func:`csv.reader`, noting a request for one more.

    The reader requests the next line only while a quoted field is open, so ``exhausted``
    tells that the record did not close within the window.
    """

    def __init__(self, lines: list[str], start: int, stop: int, delimiter: str) -> None:
        self._lines = lines
        self._next = start
        self._stop = stop
        self._delimiter = delimiter
        self.exhausted = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._next >= self._stop:
            self.exhausted = True
            raise StopIteration
        line = _prepare_line(self._lines[self._next], self._delimiter)
        self._next += 1
        return line + "\n"
