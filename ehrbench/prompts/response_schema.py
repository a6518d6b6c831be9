"""The JSON schema of an answer: ``{"rows": [record, ...]}`` with typed, ordered record keys.

Only the data dictionary goes into it (types and category vocabularies), never an observed range
or any other value computed from real rows, so the request body stays free of patient data
outside the user message.
"""

from __future__ import annotations

from ehrbench.schema import Column, TableSchema


def column_schema(column: Column) -> dict:
    """Return the JSON schema of one cell; null is allowed where the column has missing values."""
    if column.kind == "categorical":
        cell: dict = {"type": "string", "enum": list(column.categories)}
    elif column.kind == "binary":
        cell = {"type": "integer", "enum": [0, 1]}
    else:
        cell = {"type": "integer" if column.integer else "number"}
    if column.missing_rate > 0:
        return {"anyOf": [cell, {"type": "null"}]}
    return cell


def answer_schema(schema: TableSchema, rows: int, arrays: bool = False) -> dict:
    """Return the JSON schema of an answer holding exactly ``rows`` records of ``schema``.

    Records are objects keyed by column name, or with ``arrays`` arrays in column order.
    """
    if arrays:
        record = {
            "type": "array",
            "prefixItems": [column_schema(column) for column in schema.columns],
            "items": False,
            "minItems": len(schema.columns),
            "maxItems": len(schema.columns),
        }
    else:
        record = {
            "type": "object",
            "properties": {column.name: column_schema(column) for column in schema.columns},
            "required": schema.names,
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "properties": {"rows": {"type": "array", "items": record, "minItems": rows, "maxItems": rows}},
        "required": ["rows"],
        "additionalProperties": False,
    }
