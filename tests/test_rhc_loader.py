"""Tests of the RHC loader and of the fixed train/reference/test split on RHC.

The expected counts come from the SurvSet copy of the RHC study: 5,735 patients, of whom 3,722
died within the 180-day follow-up. Each mapping is checked against the raw SurvSet frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from SurvSet.data import SurvLoader

from ehrbench.datasets import RHC, prepare, split_frame
from ehrbench.datasets.base import SPLIT_FRACTIONS, PreparedDataset

ROWS = 5735
LABEL_RATE = 0.649

#: Part sizes of the 60/20/20 split of 5,735 rows: 3,441 train rows, then the other 2,294 halved.
PART_SIZES = (3441, 1147, 1147)

#: SurvSet columns stored as "Yes"/"No" text, and the treatment column stored as "RHC"/"No RHC".
YES_NO_COLUMNS = ("card", "dnr1", "gastr", "hema", "meta", "neuro", "ortho", "renal", "resp", "seps", "trauma")

#: SurvSet columns stored as 0/1 codes.
ZERO_ONE_COLUMNS = (
    "amihx", "cardiohx", "chfhx", "chrpulhx", "dementhx", "gibledhx", "immunhx",
    "liverhx", "malighx", "psychhx", "renalhx", "transhx",
)


@pytest.fixture(scope="module")
def rhc() -> RHC:
    return RHC()


@pytest.fixture(scope="module")
def frame(rhc: RHC) -> pd.DataFrame:
    return rhc.load_frame()


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return SurvLoader().load_dataset(ds_name="rhc")["df"].reset_index(drop=True)


@pytest.fixture(scope="module")
def prepared(rhc: RHC) -> PreparedDataset:
    return prepare(rhc)


def row_hashes(frame: pd.DataFrame) -> set[int]:
    return set(pd.util.hash_pandas_object(frame, index=False).tolist())


# Rows, label and columns.


def test_row_count(frame: pd.DataFrame) -> None:
    assert len(frame) == ROWS


def test_label_rate(frame: pd.DataFrame) -> None:
    assert frame["death"].notna().all()
    assert set(frame["death"].unique()) == {0.0, 1.0}
    assert frame["death"].mean() == pytest.approx(LABEL_RATE, abs=0.0005)


def test_label_is_survival_event(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    assert (frame["death"].to_numpy() == raw["event"].astype(float).to_numpy()).all()


def test_no_survival_or_id_columns(frame: pd.DataFrame) -> None:
    for name in ("time", "event", "pid"):
        assert name not in frame.columns


def test_source_prefixes_removed(frame: pd.DataFrame) -> None:
    prefixed = [name for name in frame.columns if name.startswith(("num_", "fac_"))]
    assert prefixed == []


def test_kinds_cover_every_column(rhc: RHC, frame: pd.DataFrame) -> None:
    assert list(rhc.column_kinds()) == list(frame.columns)
    assert rhc.column_kinds()["death"] == "binary"


def test_numeric_and_binary_columns_are_float(rhc: RHC, frame: pd.DataFrame) -> None:
    for name, kind in rhc.column_kinds().items():
        if kind in ("numeric", "binary"):
            assert frame[name].dtype == np.float64, name


def test_binary_columns_hold_zero_and_one(rhc: RHC, frame: pd.DataFrame) -> None:
    binary = [name for name, kind in rhc.column_kinds().items() if kind == "binary"]
    assert len(binary) == len(YES_NO_COLUMNS) + len(ZERO_ONE_COLUMNS) + 2  # swang1 and the label

    for name in binary:
        assert set(frame[name].dropna().unique()) == {0.0, 1.0}, name


def test_categorical_columns_hold_strings(rhc: RHC, frame: pd.DataFrame) -> None:
    categorical = [name for name, kind in rhc.column_kinds().items() if kind == "categorical"]
    assert sorted(categorical) == ["ca", "cat1", "cat2", "income", "ninsclas", "race", "sex"]

    for name in categorical:
        assert frame[name].dtype == object, name
        assert all(isinstance(value, str) for value in frame[name].dropna()), name


def test_yes_no_columns_mapped(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    for name in YES_NO_COLUMNS:
        expected = (raw[f"fac_{name}"].astype(str) == "Yes").astype(float).to_numpy()
        assert (frame[name].to_numpy() == expected).all(), name


def test_rhc_treatment_mapped(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    expected = (raw["fac_swang1"].astype(str) == "RHC").astype(float).to_numpy()
    assert (frame["swang1"].to_numpy() == expected).all()
    assert frame["swang1"].sum() == 2184


def test_zero_one_columns_kept(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    for name in ZERO_ONE_COLUMNS:
        expected = raw[f"fac_{name}"].astype(str).astype(float).to_numpy()
        assert (frame[name].to_numpy() == expected).all(), name


def test_three_level_cancer_stays_categorical(rhc: RHC, frame: pd.DataFrame) -> None:
    assert rhc.column_kinds()["ca"] == "categorical"
    assert set(frame["ca"].unique()) == {"No", "Yes", "Metastatic"}


def test_zero_weight_becomes_missing(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    zero = (raw["num_wtkilo1"] == 0.0).to_numpy()
    assert zero.sum() == 515

    weight = frame["wtkilo1"].to_numpy()
    assert np.isnan(weight[zero]).all()
    assert not np.isnan(weight[~zero]).any()
    assert (weight[~zero] == raw["num_wtkilo1"].to_numpy()[~zero]).all()
    assert (frame["wtkilo1"] == 0.0).sum() == 0


def test_secondary_category_missing_becomes_nan(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    marked = (raw["fac_cat2"].astype(str) == "missing").to_numpy()
    assert marked.sum() == 4535
    assert frame["cat2"].isna().to_numpy().tolist() == marked.tolist()
    assert "missing" not in set(frame["cat2"].dropna())


def test_numeric_columns_unchanged(rhc: RHC, frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    numeric = [name for name, kind in rhc.column_kinds().items() if kind == "numeric" and name != "wtkilo1"]
    for name in numeric:
        expected = raw[f"num_{name}"].astype(float)
        pd.testing.assert_series_equal(frame[name], expected, check_names=False)


def test_fingerprint_repeatable(rhc: RHC) -> None:
    assert rhc.fingerprint() == RHC().fingerprint()


# The split.


def test_split_part_sizes(prepared: PreparedDataset) -> None:
    sizes = (len(prepared.train), len(prepared.reference), len(prepared.test))
    assert sizes == PART_SIZES
    assert len(prepared.train) == int(SPLIT_FRACTIONS[0] * ROWS)


def test_split_is_stratified(prepared: PreparedDataset, frame: pd.DataFrame) -> None:
    overall = frame["death"].mean()
    for part in (prepared.train, prepared.reference, prepared.test):
        assert abs(part["death"].mean() - overall) < 0.01


def test_split_repeatable(frame: pd.DataFrame, prepared: PreparedDataset) -> None:
    first = split_frame(frame, "death")
    second = split_frame(frame, "death")
    for one, other in zip(first, second):
        pd.testing.assert_frame_equal(one, other)
    pd.testing.assert_frame_equal(first[0], prepared.train)


def test_split_repeatable_after_fresh_load(prepared: PreparedDataset) -> None:
    fresh = prepare(RHC())
    pd.testing.assert_frame_equal(fresh.train, prepared.train)
    pd.testing.assert_frame_equal(fresh.test, prepared.test)


def test_split_seed_changes_parts(frame: pd.DataFrame, prepared: PreparedDataset) -> None:
    other = split_frame(frame, "death", seed=1)
    assert row_hashes(other[0]) != row_hashes(prepared.train)


def test_split_parts_disjoint(frame: pd.DataFrame, prepared: PreparedDataset) -> None:
    everything = row_hashes(frame)
    assert len(everything) == ROWS  # no two patients share every value

    train = row_hashes(prepared.train)
    reference = row_hashes(prepared.reference)
    test = row_hashes(prepared.test)
    assert train.isdisjoint(reference)
    assert train.isdisjoint(test)
    assert reference.isdisjoint(test)
    assert train | reference | test == everything


def test_split_rejects_missing_label(frame: pd.DataFrame) -> None:
    broken = frame.copy()
    broken.loc[3, "death"] = np.nan
    with pytest.raises(ValueError, match="'death' has missing values"):
        split_frame(broken, "death")


def test_split_rejects_single_class(frame: pd.DataFrame) -> None:
    broken = frame.assign(death=1.0)
    with pytest.raises(ValueError, match="'death' has a single class"):
        split_frame(broken, "death")


def test_schema_inferred_on_train(prepared: PreparedDataset) -> None:
    weight = prepared.schema["wtkilo1"]
    assert weight.missing_rate == pytest.approx(prepared.train["wtkilo1"].isna().mean())
    assert weight.minimum == prepared.train["wtkilo1"].min()
    assert weight.minimum > 0.0
    assert prepared.schema["cat2"].categories == tuple(sorted(prepared.train["cat2"].dropna().unique()))
