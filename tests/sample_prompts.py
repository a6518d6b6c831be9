"""A small prompt of three columns (age, race, death) for the provider tests."""

from __future__ import annotations

from ehrbench.prompts import Prompt
from ehrbench.schema import Column, TableSchema


def small_prompt(output_format: str = "json", age_minimum: float = 18.0, age_missing_rate: float = 0.0) -> Prompt:
    """Return a prompt for 4 rows whose user text carries one real value, 63.5."""
    schema = TableSchema(
        (
            Column("age", "numeric", minimum=age_minimum, maximum=101.8, missing_rate=age_missing_rate),
            Column("race", "categorical", categories=("black", "other", "white")),
            Column("death", "binary"),
        ),
        "death",
    )
    return Prompt(
        strategy="naive",
        system="system text",
        user="user text with real value 63.5",
        redacted_user="user text with real value [REDACTED]",
        schema=schema,
        rows_requested=4,
        seed=1234,
        output_format=output_format,
    )
