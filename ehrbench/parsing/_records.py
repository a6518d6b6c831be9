"""Collect the row records and unreadable fragments of one answer, and decode JSON fragments."""

from __future__ import annotations

import json
from collections.abc import Sequence

#: Returned by :func:`decode_json` for text that is not valid JSON.
INVALID = object()


class RowCollector:
    """Records and the count of unreadable fragments, gathered while scanning one answer."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.folded = {name.strip().lower() for name in columns}
        self.records: list[dict[str, object]] = []
        self.unparseable = 0
        self._list_keys: list[str] | None = None

    def start_array(self) -> None:
        """Forget the header list of the previous array."""
        self._list_keys = None

    def add_top_level(self, value: object) -> None:
        """Add a decoded JSON value found outside any array: a container, a row or a list."""
        self.start_array()
        if isinstance(value, dict):
            rows = self._container_rows(value)
            if rows is None:
                self.add_element(value)
                return
            value = rows
        for element in value:
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
            keys = self._list_keys or self.columns
            if len(value) == len(keys):
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

    def _container_rows(self, value: dict) -> list | None:
        # {"rows": [...]} in any case, or an object with no column key and exactly one list.
        for key, item in value.items():
            if key.strip().lower() == "rows" and isinstance(item, list):
                return item
        if any(key.strip().lower() in self.folded for key in value):
            return None
        lists = [item for item in value.values() if isinstance(item, list)]
        return lists[0] if len(lists) == 1 else None

    def _is_header_list(self, value: list) -> bool:
        if len(value) < 2 or not all(isinstance(name, str) for name in value):
            return False
        folded = [name.strip().lower() for name in value]
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
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("repeated key in a JSON object")
    return dict(pairs)
