"""Reference generators without an LLM: the ceiling and the floor of every criterion.

- ``real-holdout`` returns rows of the reference part, real rows no prompt ever showed: a
  perfect generator could do no better. A request for more rows than the part has returns
  every row once and repeats only as many as needed.
- ``independent-marginals`` samples each column on its own from the training part: it keeps
  every marginal and destroys every relation between columns.

Their rows are real values, so they are all counted valid. Both also give the dataset's group
columns of each row (``GenerationResult.groups``) for the fairness criteria: ``real-holdout``
the rows' own values, ``independent-marginals`` values drawn independently like every column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ehrbench.datasets import PreparedDataset
from ehrbench.generators.base import GenerationResult
from ehrbench.parsing import ValidityRecord
from ehrbench.schema import TableSchema, coerce_frame

REFERENCE_GENERATORS = ("real-holdout", "independent-marginals")


def generate_reference(
    name: str, prepared: PreparedDataset, schema: TableSchema, rows: int, replicate: int
) -> GenerationResult:
    """Return ``rows`` rows of ``schema`` from the reference generator ``name``."""
    if name not in REFERENCE_GENERATORS:
        raise ValueError(f"reference generator {name!r} is unknown; choose one of {list(REFERENCE_GENERATORS)}")
    rng = np.random.default_rng([rows, replicate, REFERENCE_GENERATORS.index(name)])
    group_columns = [column for column in prepared.dataset.group_columns if column not in schema.names]

    if name == "real-holdout":
        pool = prepared.reference
        if rows <= len(pool):
            index = rng.choice(len(pool), size=rows, replace=False)
        else:
            # Every pool row once, then as few repeats as the size needs.
            extra = rng.choice(len(pool), size=rows - len(pool), replace=True)
            index = np.concatenate([rng.permutation(len(pool)), extra])
        frame = pool.iloc[index].reset_index(drop=True)
    else:
        # Group columns are drawn after the schema columns, so adding them changes no other draw.
        train = prepared.train
        names = schema.names + group_columns
        frame = pd.DataFrame({column: train[column].to_numpy()[rng.integers(0, len(train), size=rows)] for column in names})

    synthetic = coerce_frame(frame, schema)
    groups = frame[group_columns].copy() if group_columns else None
    validity = ValidityRecord(requested=rows, answers=0, failed_answers=0, parsed=rows, valid=rows)
    return GenerationResult(
        generator=name, strategy="none", schema=schema, synthetic=synthetic, validity=validity, groups=groups
    )
