"""Collect the row records and unreadable fragments of one answer, and decode JSON fragments."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ehrbench.parsing._containers import INVALID_HEADER, RowsArray, container_rows, fold

#: Returned by :func:`decode_json` for text that is not valid JSON.
INVALID = object()


class RowCollector:
    """Records and the count of unreadable fragments, gathered while scanning one answer.

    ``spans`` lists the ``(start, end)`` text spans read as JSON values, so that CSV can be
    searched in the rest of the text.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.folded = {fold(name) for name in columns}
        self.records: list[dict[str, object]] = []
        self.unparseable = 0
        self.spans: list[tuple[int, int]] = []
        self._list_keys: list[str] | None = None
        self._header: object = None

    def spawn(self) -> RowCollector:
        """Return an empty collector for the same columns, to try a reading before keeping it."""
        return RowCollector(self.columns)

    def absorb(self, other: RowCollector) -> None:
        """Add the records and the unparseable count of ``other``."""
        self.records.extend(other.records)
        self.unparseable += other.unparseable

    def has_schema_row(self) -> bool:
        """Tell whether a record has at least one key that is a schema column."""
        return any(
            any(fold(str(key)) in self.folded for key in record) for record in self.records
        )

    def start_array(self, header: object = None) -> None:
        """Start a rows array whose list rows map to ``header``, or by position when None.

        The header list of the previous array is forgotten.
        """
        self._list_keys = None
        self._header = header

    def add_top_level(self, value: object) -> None:
        """Add a decoded JSON value found outside any array: a container, a row or a list."""
        self.start_array()
        if not isinstance(value, dict):
            self.add_arrays([(value, None)])
            return
        arrays = container_rows(value, self.folded)
        if arrays is None:
            self.add_element(value)
        else:
            self.add_arrays(arrays)

    def add_arrays(self, arrays: list[RowsArray]) -> None:
        """Add the elements of decoded rows arrays, each with the header of its container."""
        for array, header in arrays:
            self.start_array(header)
            for element in array:
                self.add_element(element)

    def add_element(self, value: object) -> None:
        """Add one element of a rows array."""
        if isinstance(value, dict):
            self.records.append(_strip_keys(value))
            return
        if isinstance(value, list):
            if self._is_header_list(value):
                self._list_keys = [name.strip() for name in value]
                return
            keys = self._list_keys or self._header or self.columns
            if keys is not INVALID_HEADER and len(value) == len(keys):
                self.records.append(dict(zip(keys, value)))
                return
        self.unparseable += 1

    def add_fragment(self, fragment: str) -> None:
        """Decode one balanced element of a rows array and add it."""
        value = decode_json(fragment)
        if value is INVALID:
            self.unparseable += 1
        else:
            self.add_element(value)

    def count_scalars(self, gap: str) -> None:
        """Count the comma-separated values between array elements, which are never rows."""
        self.unparseable += sum(1 for piece in gap.split(",") if piece.strip())

    def _is_header_list(self, value: list) -> bool:
        if len(value) < 2 or not all(isinstance(name, str) for name in value):
            return False
        folded = [fold(name) for name in value]
        return len(set(folded)) == len(folded) and all(name in self.folded for name in folded)


def _strip_keys(record: dict) -> dict[str, object]:
    stripped = {key.strip(): value for key, value in record.items()}
    return stripped if len(stripped) == len(record) else dict(record)


def decode_json(fragment: str) -> object:
    """Return the decoded JSON value of ``fragment``, or ``INVALID``."""
    try:
        return json.loads(fragment, object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, RecursionError):
        return INVALID


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json keeps the last of repeated keys, but a row with a repeated column is ambiguous.
    # A container with a repeated "rows" key is read by the recovery of invalid JSON instead.
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("repeated key in a JSON object")
    return dict(pairs)
