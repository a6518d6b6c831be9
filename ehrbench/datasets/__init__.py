"""Real EHR datasets: loaders, the shared interface and the fixed split."""

from __future__ import annotations

import os
from pathlib import Path

from ehrbench.datasets.base import Constraint, Dataset, DatasetError, PreparedDataset, prepare, split_frame
from ehrbench.datasets.rhc import RHC

#: Environment variable that names the eICU-CRD folder when no ``--eicu-dir`` is given.
EICU_DIR_VARIABLE = "EHRBENCH_EICU_DIR"

DATASET_NAMES = ("rhc", "eicu")


def resolve_eicu_dir(eicu_dir: str | os.PathLike | None = None) -> Path | None:
    """Return the eICU folder from ``eicu_dir`` or the environment, or None when neither is set."""
    value = eicu_dir or os.environ.get(EICU_DIR_VARIABLE)
    return Path(value).expanduser() if value else None


def get_dataset(name: str, eicu_dir: str | os.PathLike | None = None) -> Dataset:
    """Return the dataset called ``name`` (one of :data:`DATASET_NAMES`)."""
    if name == "rhc":
        return RHC()
    if name == "eicu":
        from ehrbench.datasets.eicu import EICU

        folder = resolve_eicu_dir(eicu_dir)
        if folder is None:
            raise DatasetError(
                "dataset 'eicu' needs an eICU-CRD folder: pass --eicu-dir DIR or set "
                f"{EICU_DIR_VARIABLE} to the folder that holds patient.csv.gz"
            )
        return EICU(folder)
    raise DatasetError(f"dataset {name!r} is unknown; choose one of {list(DATASET_NAMES)}")


__all__ = [
    "Constraint",
    "DATASET_NAMES",
    "EICU_DIR_VARIABLE",
    "Dataset",
    "DatasetError",
    "PreparedDataset",
    "get_dataset",
    "prepare",
    "resolve_eicu_dir",
    "split_frame",
]
