"""Tests of the eICU-CRD loader on the made-up fixture and, when available, on the real demo.

The demo tests run only when --eicu-dir or EHRBENCH_EICU_DIR names an eICU-CRD folder.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ehrbench.datasets import EICU_DIR_VARIABLE, get_dataset, prepare, resolve_eicu_dir
from ehrbench.datasets import eicu as eicu_module
from ehrbench.datasets.base import DatasetError
from ehrbench.datasets.eicu import AGE_OVER_89, EICU

#: Committed fixture files carry a ``.fixture`` suffix, so that no tracked file is named like an
#: eICU table; :func:`materialize_fixture` copies them to a folder under their real names.
FIXTURE_SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "eicu-mini"
FIXTURE = FIXTURE_SOURCE

#: Number of ICU stays in the eICU-CRD demo 2.0.1.
DEMO_STAYS = 2520

APACHE_NUMERIC = [*eicu_module._APS_NUMERIC, *eicu_module._GCS]
APACHE_FLAGS = [*eicu_module._APS_FLAGS, *eicu_module._PRED_FLAGS]


@pytest.fixture(scope="module", autouse=True)
def materialize_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    global FIXTURE
    folder = tmp_path_factory.mktemp("eicu-mini")
    for source in FIXTURE_SOURCE.glob("*.fixture"):
        shutil.copyfile(source, folder / source.name.removesuffix(".fixture"))
    FIXTURE = folder
    return folder


@pytest.fixture(scope="module")
def mini() -> EICU:
    dataset = EICU(FIXTURE)
    dataset.load_frame()
    return dataset


@pytest.fixture(scope="module")
def frame(mini: EICU) -> pd.DataFrame:
    return mini.load_frame().set_index("patientunitstayid")


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "eicu"
    shutil.copytree(FIXTURE, target)
    return target


def read_raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_raw(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, compression="gzip" if path.suffix == ".gz" else None)


# Fixture: rows, columns and dtypes.


def test_fixture_rows_are_kept_stays(frame: pd.DataFrame) -> None:
    assert list(frame.index) == [900001, 900002, 900004, 900005, 900006, 900007, 900008]


def test_fixture_column_order(mini: EICU) -> None:
    columns = list(mini.load_frame().columns)
    assert columns == [*EICU.id_columns, *mini.column_kinds()]


def test_fixture_dtypes_follow_schema(mini: EICU) -> None:
    loaded = mini.load_frame()
    for name, kind in mini.column_kinds().items():
        if kind == "categorical":
            assert loaded[name].dtype == object, name
            present = loaded[name].dropna()
            assert all(isinstance(value, str) for value in present), name
        else:
            assert loaded[name].dtype == np.float64, name
    assert loaded["patientunitstayid"].dtype == np.int64
    assert loaded["hospitalid"].dtype == np.int64


def test_load_frame_returns_copy(mini: EICU) -> None:
    first = mini.load_frame()
    first.loc[0, "age"] = -5.0
    assert mini.load_frame().loc[0, "age"] != -5.0


# Fixture: cohort rules.


def test_age_over_89_mapped(frame: pd.DataFrame, mini: EICU) -> None:
    assert frame.loc[900001, "age"] == AGE_OVER_89
    assert mini.cohort_report.ages_over_89 == 1


def test_age_empty_and_unparseable_counted(frame: pd.DataFrame, mini: EICU) -> None:
    assert np.isnan(frame.loc[900002, "age"])
    assert np.isnan(frame.loc[900006, "age"])
    assert frame.loc[900005, "age"] == 71.0
    assert mini.cohort_report.ages_missing == 1
    assert mini.cohort_report.ages_unparseable == 1


def test_label_from_discharge_status(frame: pd.DataFrame) -> None:
    deaths = frame.index[frame["hospital_death"] == 1.0].tolist()
    assert deaths == [900002, 900004, 900008]
    assert set(frame["hospital_death"].unique()) == {0.0, 1.0}


def test_empty_status_dropped_and_counted(mini: EICU) -> None:
    report = mini.cohort_report
    assert report.stays_read == 8
    assert report.dropped_no_status == 1
    assert report.dropped_unknown_status == 0
    assert report.stays_kept == 7
    assert report.deaths == 3
    assert report.label_rate == pytest.approx(3 / 7)


def test_minus_one_becomes_missing(frame: pd.DataFrame) -> None:
    assert np.isnan(frame.loc[900001, "ph"])
    assert np.isnan(frame.loc[900001, "fio2"])
    assert np.isnan(frame.loc[900005, "urine"])
    assert np.isnan(frame.loc[900006, "eyes"])
    assert np.isnan(frame.loc[900006, "meds"])
    assert np.isnan(frame.loc[900005, "thrombolytics"])
    assert frame.loc[900002, "ph"] == 7.21


def test_minus_one_counted_per_column(mini: EICU) -> None:
    expected = {
        "ph": 2, "pao2": 2, "pco2": 2, "fio2": 2, "albumin": 2, "bilirubin": 2, "urine": 1,
        "eyes": 1, "motor": 1, "verbal": 1, "meds": 1, "thrombolytics": 1,
    }  # fmt: skip
    # Stay 900003 has a -1 heart rate but is dropped, so heartrate must not appear.
    assert mini.cohort_report.minus_one_to_missing == expected


def test_no_minus_one_left(mini: EICU) -> None:
    loaded = mini.load_frame()
    for name in [*APACHE_NUMERIC, *APACHE_FLAGS]:
        assert not (loaded[name] == -1.0).any(), name


def test_gcs_zero_becomes_missing(frame: pd.DataFrame, mini: EICU) -> None:
    for name in ("eyes", "motor", "verbal"):
        assert np.isnan(frame.loc[900008, name]), name
    assert frame.loc[900008, "meds"] == 1.0
    assert mini.cohort_report.gcs_zero_to_missing == {"eyes": 1, "motor": 1, "verbal": 1}


def test_height_out_of_range_missing(frame: pd.DataFrame, mini: EICU) -> None:
    assert np.isnan(frame.loc[900005, "admissionheight"])
    assert frame.loc[900001, "admissionheight"] == 157.5
    assert mini.cohort_report.out_of_range_to_missing == {"admissionheight": 1}


def test_flags_are_zero_or_one(mini: EICU) -> None:
    loaded = mini.load_frame()
    for name, kind in mini.column_kinds().items():
        if kind == "binary":
            assert loaded[name].dropna().isin([0.0, 1.0]).all(), name


def test_elective_surgery_keeps_empty(frame: pd.DataFrame) -> None:
    assert frame.loc[900006, "electivesurgery"] == 1.0
    assert frame.loc[900005, "electivesurgery"] == 0.0
    assert np.isnan(frame.loc[900001, "electivesurgery"])


def test_hospital_columns_joined(frame: pd.DataFrame) -> None:
    assert frame.loc[900001, "teachingstatus"] == 1.0
    assert frame.loc[900001, "region"] == "Midwest"
    assert frame.loc[900001, "numbedscategory"] == ">= 500"
    assert frame.loc[900005, "teachingstatus"] == 0.0
    assert pd.isna(frame.loc[900005, "region"])
    assert pd.isna(frame.loc[900005, "numbedscategory"])


def test_stay_without_apache_rows_kept(frame: pd.DataFrame, mini: EICU) -> None:
    assert frame.loc[900004, "hospital_death"] == 1.0
    assert frame.loc[900004, APACHE_NUMERIC + APACHE_FLAGS].isna().all()
    assert mini.cohort_report.stays_without == {"apacheApsVar": 1, "apachePredVar": 2}


def test_orphan_apache_row_counted(mini: EICU) -> None:
    key = "apacheApsVar: patientunitstayid not in the patient table"
    assert mini.cohort_report.rows_dropped == {key: 1}
    assert mini.cohort_report.invalid_to_missing == {}


def test_empty_gender_missing(frame: pd.DataFrame) -> None:
    assert pd.isna(frame.loc[900006, "gender"])
    assert frame.loc[900001, "gender"] == "Female"


# Fixture: interface.


def test_class_attributes() -> None:
    assert EICU.name == "eicu"
    assert EICU.label == "hospital_death"
    assert EICU.site_columns == ("region", "hospitalid")
    assert EICU.group_columns == ("ethnicity", "gender")
    assert EICU.id_columns == ("patientunitstayid", "hospitalid")


def test_kinds_exclude_ids(mini: EICU) -> None:
    kinds = mini.column_kinds()
    assert "patientunitstayid" not in kinds
    assert "hospitalid" not in kinds
    assert "diedinhospital" not in kinds
    assert kinds["hospital_death"] == "binary"
    assert kinds["region"] == "categorical"
    assert kinds["teachingstatus"] == "binary"


def test_descriptions_cover_columns(mini: EICU) -> None:
    descriptions = mini.descriptions()
    assert set(descriptions) == set(mini.column_kinds())
    assert all(descriptions.values())


def test_units_only_numeric(mini: EICU) -> None:
    kinds = mini.column_kinds()
    units = mini.units()
    assert {kinds[name] for name in units} == {"numeric"}
    assert units["admissionheight"] == "cm"
    assert units["admissionweight"] == "kg"


def test_access_credentialed_without_demo_name(mini: EICU) -> None:
    assert mini.access == "credentialed"


def test_access_open_for_small_demo_folder(tmp_path: Path) -> None:
    demo = tmp_path / "eicu-crd-demo-2.0.1"
    shutil.copytree(FIXTURE, demo)
    assert EICU(demo).access == "open"


def test_access_credentialed_above_demo_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = tmp_path / "eicu-crd-demo-2.0.1"
    shutil.copytree(FIXTURE, demo)
    monkeypatch.setattr(eicu_module, "DEMO_MAX_STAYS", 5)
    assert EICU(demo).access == "credentialed"


def test_access_override() -> None:
    assert EICU(FIXTURE, access="credentialed").access == "credentialed"


def test_access_invalid_rejected() -> None:
    with pytest.raises(ValueError, match="access"):
        EICU(FIXTURE, access="public")  # type: ignore[arg-type]


def test_directory_type_rejected() -> None:
    with pytest.raises(TypeError, match="directory"):
        EICU(42)  # type: ignore[arg-type]


def test_report_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ehrbench.datasets.eicu"):
        EICU(FIXTURE).load_frame()
    text = caplog.text
    assert "8 stays read" in text
    assert "1 dropped for no discharge status" in text
    assert "'ph': 2" in text


def test_report_none_before_loading() -> None:
    assert EICU(FIXTURE).cohort_report is None


def test_get_dataset_builds_eicu() -> None:
    dataset = get_dataset("eicu", FIXTURE)
    assert isinstance(dataset, EICU)
    assert dataset.directory == FIXTURE


# Fixture variants: file forms and bad values.


def test_gz_preferred_over_csv(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    (folder / "PATIENT.csv").write_text("patientunitstayid\n")
    assert len(EICU(folder).load_frame()) == 7


def test_unknown_status_dropped(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    patient = read_raw(folder / "patient.csv.gz")
    patient.loc[patient["patientunitstayid"] == "900007", "hospitaldischargestatus"] = "Transfer"
    write_raw(patient, folder / "patient.csv.gz")

    dataset = EICU(folder)
    loaded = dataset.load_frame()
    assert 900007 not in set(loaded["patientunitstayid"])
    assert dataset.cohort_report.dropped_unknown_status == 1
    assert dataset.cohort_report.stays_kept == 6


def test_invalid_values_counted(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    hospital = read_raw(folder / "Hospital.csv")
    hospital.loc[hospital["hospitalid"] == "9002", "teachingstatus"] = "maybe"
    write_raw(hospital, folder / "Hospital.csv")
    predictors = read_raw(folder / "apachepredvar.csv")
    predictors.loc[predictors["patientunitstayid"] == "900007", "diabetes"] = "2"
    write_raw(predictors, folder / "apachepredvar.csv")

    dataset = EICU(folder)
    loaded = dataset.load_frame().set_index("patientunitstayid")
    assert np.isnan(loaded.loc[900004, "teachingstatus"])
    assert np.isnan(loaded.loc[900007, "diabetes"])
    assert dataset.cohort_report.invalid_to_missing == {"teachingstatus": 1, "diabetes": 1}


def test_repeated_ids_counted(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    aps = read_raw(folder / "apacheApsVar.csv.gz")
    write_raw(pd.concat([aps, aps.iloc[[0]]]), folder / "apacheApsVar.csv.gz")

    dataset = EICU(folder)
    assert len(dataset.load_frame()) == 7
    assert dataset.cohort_report.rows_dropped["apacheApsVar: repeated patientunitstayid"] == 1


def test_text_in_numeric_column_counted(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    aps = read_raw(folder / "apacheApsVar.csv.gz")
    aps.loc[aps["patientunitstayid"] == "900007", "sodium"] = "high"
    write_raw(aps, folder / "apacheApsVar.csv.gz")

    dataset = EICU(folder)
    loaded = dataset.load_frame().set_index("patientunitstayid")
    assert np.isnan(loaded.loc[900007, "sodium"])
    assert loaded.loc[900001, "sodium"] == 134.0
    assert dataset.cohort_report.invalid_to_missing == {"sodium": 1}


# Errors.


def test_missing_folder_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as error:
        EICU(missing)
    message = str(error.value)
    assert EICU_DIR_VARIABLE in message
    assert "--eicu-dir" in message
    assert str(missing) in message


def test_file_instead_of_folder_error(tmp_path: Path) -> None:
    path = tmp_path / "patient.csv"
    path.write_text("patientunitstayid\n")
    with pytest.raises(DatasetError, match="not a folder"):
        EICU(path)


def test_missing_table_error(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    (folder / "apacheApsVar.csv.gz").unlink()
    with pytest.raises(DatasetError) as error:
        EICU(folder)
    message = str(error.value)
    assert "apacheApsVar.csv.gz" in message
    assert EICU_DIR_VARIABLE in message
    assert "--eicu-dir" in message


def test_missing_column_error(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    hospital = read_raw(folder / "Hospital.csv").drop(columns="region")
    write_raw(hospital, folder / "Hospital.csv")
    with pytest.raises(DatasetError) as error:
        EICU(folder).load_frame()
    message = str(error.value)
    assert "Hospital.csv" in message
    assert "region" in message


def test_corrupt_gzip_error(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    (folder / "patient.csv.gz").write_bytes(b"not gzip data")
    with pytest.raises(DatasetError, match="could not be read"):
        EICU(folder).load_frame()


def test_empty_table_error(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    with gzip.open(folder / "apacheApsVar.csv.gz", "wb") as empty:
        empty.write(b"")
    with pytest.raises(DatasetError, match="apacheApsVar"):
        EICU(folder).load_frame()


# The real eICU-CRD (demo or full), read from --eicu-dir or EHRBENCH_EICU_DIR.


@pytest.fixture(scope="module")
def real(request: pytest.FixtureRequest) -> EICU:
    folder = resolve_eicu_dir(request.config.getoption("--eicu-dir", default=None))
    if folder is None:
        pytest.skip(f"set {EICU_DIR_VARIABLE} or --eicu-dir to an eICU-CRD folder to run this test")
    if not folder.is_dir():
        pytest.skip(f"eICU-CRD folder {str(folder)!r} from {EICU_DIR_VARIABLE} does not exist")
    dataset = EICU(folder)
    dataset.load_frame()
    return dataset


@pytest.fixture(scope="module")
def demo(real: EICU) -> EICU:
    if real.cohort_report.stays_read != DEMO_STAYS:
        pytest.skip(f"{real.directory} is not the eICU-CRD demo ({DEMO_STAYS} stays)")
    return real


@pytest.mark.eicu
def test_real_rows_match_report(real: EICU) -> None:
    loaded = real.load_frame()
    report = real.cohort_report
    dropped = report.dropped_no_status + report.dropped_unknown_status
    assert len(loaded) == report.stays_kept == report.stays_read - dropped
    assert loaded["patientunitstayid"].is_unique


@pytest.mark.eicu
def test_real_label_rate_plausible(real: EICU) -> None:
    rate = real.load_frame()["hospital_death"].mean()
    assert 0.03 < rate < 0.2


@pytest.mark.eicu
def test_real_no_minus_one_left(real: EICU) -> None:
    loaded = real.load_frame()
    for name in [*APACHE_NUMERIC, *APACHE_FLAGS]:
        assert not (loaded[name] == -1.0).any(), name


@pytest.mark.eicu
def test_real_prepare_has_all_columns(real: EICU) -> None:
    prepared = prepare(real)
    assert set(prepared.schema.names) == set(real.column_kinds())
    assert prepared.schema.label == "hospital_death"
    assert len(prepared.train) + len(prepared.reference) + len(prepared.test) == len(
        real.load_frame()
    )


@pytest.mark.eicu
def test_demo_counts(demo: EICU) -> None:
    report = demo.cohort_report
    assert report.dropped_no_status == 28
    assert report.stays_kept == 2492
    assert report.deaths == 212
    assert report.ages_over_89 > 0


@pytest.mark.eicu
def test_demo_access_open(demo: EICU) -> None:
    assert demo.access == "open"
