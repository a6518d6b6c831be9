"""Find the rows arrays and the header of a JSON object that wraps rows.

A container is an object such as ``{"rows": [...]}``. The rules, shared by decoded objects here
and by the recovery of invalid JSON in :mod:`ehrbench.parsing._json_rows`, are, in order:

1. Every list under a key ``rows`` (any case, surrounding spaces ignored) is a rows array. All
   of them are read, so ``{"rows": [...], "Rows": [...]}`` gives the rows of both.
2. Otherwise an object with a key that is a schema column is a row, not a container.
3. Otherwise the only list value is the rows array. With several list values, the lists whose
   first element is an object or a list are rows arrays, and when there are none the object
   is a row (one that will miss columns).
4. Otherwise an object whose values are all objects, at least one of them a row, is a
   collection of rows keyed by id, such as ``{"rows": {"1": {...}, "2": {...}}}``.
5. Otherwise, for a top-level object only, its object values are searched one level down with
   these rules, so ``{"data": {"rows": [...]}}`` gives its rows.

A value under a key ``columns``, ``header`` or ``fields`` (any case) is never a rows array but
the header of the list rows beside it: they map to its names by position. A header that is not
a list of distinct schema column names is :data:`INVALID_HEADER`, and list rows under it are
counted as unparseable rather than mapped by guess.
"""

from __future__ import annotations

ROWS_KEY = "rows"
HEADER_KEYS = frozenset({"columns", "header", "fields"})

#: Header of a container whose header value does not name schema columns.
INVALID_HEADER = object()

#: A rows array with the header that maps its list rows: a list of names, None or INVALID_HEADER.
RowsArray = tuple[list, object]


def fold(key: str) -> str:
    """Return ``key`` stripped and in lower case, as keys are compared with column names."""
    return key.strip().lower()


def header_names(value: object, folded_columns: set[str]) -> object:
    """Return the stripped names of a header value, or INVALID_HEADER."""
    if not isinstance(value, list) or not value:
        return INVALID_HEADER
    if not all(isinstance(name, str) for name in value):
        return INVALID_HEADER
    folded = [fold(name) for name in value]
    if len(set(folded)) != len(folded) or not all(name in folded_columns for name in folded):
        return INVALID_HEADER
    return [name.strip() for name in value]


def container_rows(
    value: dict, folded_columns: set[str], top_level: bool = True
) -> list[RowsArray] | None:
    """Return the rows arrays of the container ``value``, or None when ``value`` is a row."""
    header = None
    rows_arrays: list[list] = []
    lists: list[list] = []
    objects: list[dict] = []
    is_row = False
    for key, item in value.items():
        name = fold(key)
        if name == ROWS_KEY and isinstance(item, list):
            rows_arrays.append(item)
        elif name in folded_columns:
            is_row = True
        elif name in HEADER_KEYS:
            header = header_names(item, folded_columns)
        elif isinstance(item, list):
            lists.append(item)
        elif isinstance(item, dict):
            objects.append(item)

    if rows_arrays:
        return [(array, header) for array in rows_arrays]
    if is_row:
        return None
    if lists:
        if len(lists) > 1:
            lists = [item for item in lists if item and isinstance(item[0], (dict, list))]
        return [(array, header) for array in lists] or None
    if objects and len(objects) == len(value):
        if any(_is_row(item, folded_columns) for item in objects):
            return [(objects, header)]
    if not top_level:
        return None
    return _rows_one_level_down(objects, header, folded_columns)


def _rows_one_level_down(
    objects: list[dict], header: object, folded_columns: set[str]
) -> list[RowsArray] | None:
    found: list[RowsArray] = []
    for item in objects:
        for array, inner_header in container_rows(item, folded_columns, top_level=False) or []:
            found.append((array, header if inner_header is None else inner_header))
    return found or None


def _is_row(value: dict, folded_columns: set[str]) -> bool:
    return any(fold(key) in folded_columns for key in value)
