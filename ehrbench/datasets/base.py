"""The dataset interface and the fixed three-part split.

Every dataset loads into one table with one row per patient or ICU stay (see
:mod:`ehrbench.schema` for dtypes), declares the kind of each column, and is split once into:

- ``train``: the only rows any prompt may show, and what TRTR trains on;
- ``reference``: what the ``real-holdout`` generator returns;
- ``test``: real rows that utility and privacy criteria are measured on.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from sklearn.model_selection import train_test_split

from ehrbench.schema import ColumnKind, TableSchema, infer_schema

logger = logging.getLogger(__name__)

AccessClass = Literal["open", "credentialed"]

#: Fractions of the train, reference and test parts.
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)

#: Seed of the split, fixed so that every run and every cassette uses the same parts.
SPLIT_SEED = 20250601


@dataclass(frozen=True)
class Constraint:
    """A logical rule between columns, stated in words for prompts; ``columns`` are the ones it names."""

    text: str
    columns: tuple[str, ...]


class DatasetError(RuntimeError):
    """A dataset could not be found or read; the message names the file and the fix."""


class Dataset(ABC):
    """A real EHR dataset.

    Subclasses set the class attributes and implement :meth:`load_frame`.
    """

    #: Short name used in options, cassette paths and the leaderboard.
    name: str
    #: Outcome column: 1.0 for in-hospital (or study) death, 0.0 otherwise.
    label: str
    #: Columns that name the site of a row, coarsest first (eICU: region, then hospital); empty
    #: when the data has no site. The cross-site criterion uses each in turn.
    site_columns: tuple[str, ...] = ()
    #: Demographic columns that the group-based strategy conditions on.
    group_columns: tuple[str, ...] = ()
    #: ``open`` data may be sent to any endpoint; ``credentialed`` data may not be shared.
    access: AccessClass = "open"
    #: Columns of the loaded frame that are identifiers, never features.
    id_columns: tuple[str, ...] = ()
    #: What the rows are, as prompts name it: "ICU stays from ...".
    title: str = "a clinical dataset"

    @abstractmethod
    def load_frame(self) -> pd.DataFrame:
        """Load the whole cohort as one frame with dtypes as described in :mod:`ehrbench.schema`."""

    @abstractmethod
    def column_kinds(self) -> dict[str, ColumnKind]:
        """Return the kind of every schema column (features and label), in a stable order."""

    def descriptions(self) -> dict[str, str]:
        """Return a short clinical description of each column, shown in prompts."""
        return {}

    def units(self) -> dict[str, str]:
        """Return the unit of each numeric column, shown in prompts."""
        return {}

    def constraints(self) -> list[Constraint]:
        """Return the logical rules between columns that the schema-constrained prompt states."""
        return []

    def fingerprint(self) -> str:
        """Return a short digest that changes whenever the loaded data changes."""
        frame = self.load_frame()
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class PreparedDataset:
    """A loaded dataset with its schema (inferred on ``train``) and its three parts.

    ``whole`` is the complete dataset when the parts are cut to one site, else None.
    """

    dataset: Dataset
    schema: TableSchema
    train: pd.DataFrame
    reference: pd.DataFrame
    test: pd.DataFrame
    whole: PreparedDataset | None = None

    @property
    def name(self) -> str:
        return self.dataset.name

    def real_rows(self) -> pd.DataFrame:
        """Return every row of the complete dataset (all three parts, also for a site), fresh index."""
        source = self.whole if self.whole is not None else self
        return pd.concat([source.train, source.reference, source.test], ignore_index=True)


def split_frame(frame: pd.DataFrame, label: str, seed: int = SPLIT_SEED) -> tuple[pd.DataFrame, ...]:
    """Split ``frame`` into train, reference and test parts, stratified on ``label``.

    Returns three frames whose sizes follow :data:`SPLIT_FRACTIONS`; the index is reset.
    """
    train_fraction, reference_fraction, test_fraction = SPLIT_FRACTIONS
    if frame[label].isna().any():
        raise ValueError(f"label: column {label!r} has missing values; drop those rows first")
    if frame[label].nunique() < 2:
        raise ValueError(f"label: column {label!r} has a single class; a split cannot be stratified")

    train, rest = train_test_split(
        frame, train_size=train_fraction, stratify=frame[label], random_state=seed
    )
    reference, test = train_test_split(
        rest,
        train_size=reference_fraction / (reference_fraction + test_fraction),
        stratify=rest[label],
        random_state=seed,
    )
    return tuple(part.reset_index(drop=True) for part in (train, reference, test))


def prepare(dataset: Dataset) -> PreparedDataset:
    """Load ``dataset``, split it and infer its schema on the training part."""
    frame = dataset.load_frame()
    kinds = dataset.column_kinds()
    missing = [name for name in kinds if name not in frame.columns]
    if missing:
        raise DatasetError(f"dataset {dataset.name!r}: the loaded frame lacks columns {missing}")

    train, reference, test = split_frame(frame, dataset.label)
    schema = infer_schema(train, dataset.label, kinds, dataset.descriptions(), dataset.units())
    logger.info(
        "dataset %s: %d rows (train %d, reference %d, test %d), %d features, label rate %.4f",
        dataset.name,
        len(frame),
        len(train),
        len(reference),
        len(test),
        len(schema.feature_names),
        float(frame[dataset.label].mean()),
    )
    return PreparedDataset(dataset, schema, train, reference, test)
