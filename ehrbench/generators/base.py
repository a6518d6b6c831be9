"""The result type that every generator returns."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ehrbench.parsing import ValidityRecord
from ehrbench.schema import TableSchema


@dataclass
class GenerationResult:
    """The synthetic rows of one case and how they were obtained.

    ``synthetic`` contains the valid rows only, with ``schema``'s columns and dtypes. Token counts
    are None for generators that do not call a model.
    """

    generator: str
    strategy: str
    schema: TableSchema
    synthetic: pd.DataFrame
    validity: ValidityRecord
    requests: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
