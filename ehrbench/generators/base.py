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

    Three optional tables serve the privacy and fairness criteria:

    - ``seen_rows``: the training rows the generator was shown (an LLM's example rows), the
      members of the membership attacks. None means the whole training part: a generator
      fitted on it, or one that saw no training row at all (``real-holdout``).
    - ``copies``: rows the generator wrote that equal a training row and were therefore left
      out of ``synthetic``; privacy criteria score ``synthetic`` plus these rows.
    - ``groups``: the dataset's group columns for each row of ``synthetic`` (same index), for
      generators that know them although ``schema`` does not contain them.
    """

    generator: str
    strategy: str
    schema: TableSchema
    synthetic: pd.DataFrame
    validity: ValidityRecord
    requests: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    seen_rows: pd.DataFrame | None = None
    copies: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None

    def emitted(self) -> pd.DataFrame:
        """Return every row the generator wrote that fits the schema: ``synthetic`` plus ``copies``."""
        if self.copies is None or len(self.copies) == 0:
            return self.synthetic
        return pd.concat([self.synthetic, self.copies], ignore_index=True)
