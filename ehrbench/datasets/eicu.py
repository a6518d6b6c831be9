"""The eICU Collaborative Research Database (eICU-CRD): one row per ICU stay.

Source: the eICU-CRD v2.0 (credentialed, about 200,000 ICU stays at US hospitals, 2014-2015)
or its open demo v2.0.1 (2,520 stays at 186 hospitals), both published on PhysioNet (Pollard
et al., Scientific Data 5, 180178, 2018). Only four tables are read: ``patient``,
``hospital``, ``apacheApsVar`` and ``apachePredVar``. Each is found in the folder as
``<table>.csv.gz`` or ``<table>.csv`` with any letter case. When both files exist, the
``.csv.gz`` that PhysioNet distributes is read.

Cohort rules:

- one row per ``patientunitstayid`` of the patient table. A stay without an apacheApsVar,
  apachePredVar or hospital row is kept with missing values for that table's columns.
- label ``hospital_death``: 1.0 when ``hospitaldischargestatus`` is "Expired", 0.0 when
  "Alive". Stays with an empty status, or any other status, are dropped and counted.
- ``age`` is text in the source. "> 89" becomes :data:`AGE_OVER_89`, and empty or
  unparseable ages become missing. All three cases are counted.
- ``admissionheight`` outside :data:`HEIGHT_RANGE_CM` and ``admissionweight`` outside
  :data:`WEIGHT_RANGE_KG` become missing and are counted (the demo has heights of 0.3 cm
  and 600 cm, for example).
- APACHE tables use -1 for "not measured". Every -1 in a physiology value or flag becomes
  missing and is counted per column. A Glasgow coma scale component (eyes, motor, verbal) of
  0 means "not scored because of sedating medication" and also becomes missing.
- APACHE flags and ``teachingstatus`` ("t"/"f") become 0.0/1.0. Any other value becomes
  missing and is counted.
- only the comorbidity and admission flags of apachePredVar are read. Its ``diedinhospital``
  and ``dischargelocation`` columns would reveal the label. Its other columns repeat patient
  or apacheApsVar values as codes, are unused or fixed defaults according to the eICU-CRD
  documentation, or are -1 for almost every stay (``ejectfx``, ``amilocation``).
- rows with a missing or non-integer stay or hospital id are dropped and counted. So are
  rows that repeat the key of their table (the stay id, or the hospital id of the hospital
  table), and the first row of a repeated key is kept.

Counts of everything changed or dropped are stored in :attr:`EICU.cohort_report` and logged.

Access class: the rule fails closed. The folder is treated as the open demo only when its
patient table has at most :data:`DEMO_MAX_STAYS` rows and the folder's name, or the first line
of a README in it, contains "demo". Every other folder is credentialed data that may not leave
this machine. Pass ``access`` to :class:`EICU` to state the class explicitly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ehrbench.datasets import EICU_DIR_VARIABLE
from ehrbench.datasets.base import AccessClass, Constraint, Dataset, DatasetError
from ehrbench.schema import ColumnKind

logger = logging.getLogger(__name__)

#: Age in years given to stays whose source age is "> 89" (ages over 89 are not disclosed).
AGE_OVER_89 = 90.0

#: A folder whose patient table has at most this many rows is the open demo (2,520 stays).
DEMO_MAX_STAYS = 2520

#: Plausible admission heights in cm. Heights outside the range become missing.
HEIGHT_RANGE_CM = (100.0, 250.0)

#: Plausible admission weights in kg. Weights outside the range become missing.
WEIGHT_RANGE_KG = (20.0, 350.0)

#: Value that APACHE tables store for "not measured".
NOT_MEASURED = -1.0

_ENVIRONMENT_HINT = (
    f"Set {EICU_DIR_VARIABLE} (or pass --eicu-dir) to the folder that holds the PhysioNet "
    "eICU-CRD tables patient, hospital, apacheApsVar and apachePredVar (.csv or .csv.gz)"
)

_PATIENT_CATEGORICAL = ("gender", "ethnicity", "unittype", "unitadmitsource")
_PATIENT_NUMERIC = ("admissionheight", "admissionweight")
_APS_FLAGS = ("intubated", "vent", "dialysis", "meds")
_GCS = ("eyes", "motor", "verbal")
_APS_NUMERIC = (
    "heartrate", "meanbp", "temperature", "respiratoryrate", "sodium", "ph", "hematocrit",
    "creatinine", "albumin", "pao2", "pco2", "bun", "glucose", "bilirubin", "wbc", "fio2",
    "urine",
)
_PRED_FLAGS = (
    "aids", "hepaticfailure", "lymphoma", "metastaticcancer", "leukemia", "immunosuppression",
    "cirrhosis", "diabetes", "electivesurgery", "readmit", "activetx", "thrombolytics", "ima",
    "midur", "ventday1", "oobventday1", "oobintubday1",
)
_HOSPITAL_CATEGORICAL = ("region", "numbedscategory")

#: Columns read from each table, in PhysioNet's lower-case spelling.
_TABLE_COLUMNS = {
    "patient": (
        "patientunitstayid", "hospitalid", "age", *_PATIENT_CATEGORICAL, *_PATIENT_NUMERIC,
        "hospitaldischargestatus",
    ),
    "hospital": ("hospitalid", *_HOSPITAL_CATEGORICAL, "teachingstatus"),
    "apacheApsVar": ("patientunitstayid", *_APS_FLAGS, *_GCS, *_APS_NUMERIC),
    "apachePredVar": ("patientunitstayid", *_PRED_FLAGS),
}
_TEXT_COLUMNS = ("age", *_PATIENT_CATEGORICAL, "hospitaldischargestatus", *_HOSPITAL_CATEGORICAL,
                 "teachingstatus")

_STATUS_LABELS = {"expired": 1.0, "alive": 0.0}
_TEACHING_VALUES = {"t": 1.0, "f": 0.0, "true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}

_DAY1 = "on APACHE day 1"
_GAS = f"of the worst arterial blood gas {_DAY1}"
_GCS_TEXT = "Glasgow coma scale {} response ({}) of the worst assessment " + _DAY1

#: Kind, unit and description of every schema column, in schema order.
_COLUMNS: dict[str, tuple[ColumnKind, str, str]] = {
    "age": ("numeric", "years", f"age at admission ({AGE_OVER_89:g} stands for any age over 89)"),
    "gender": ("categorical", "", "sex as recorded (Female, Male, Other, Unknown)"),
    "ethnicity": ("categorical", "", "ethnicity"),
    "unittype": ("categorical", "", "type of ICU"),
    "unitadmitsource": ("categorical", "", "location the patient came from into the ICU"),
    "admissionheight": ("numeric", "cm", "height at ICU admission"),
    "admissionweight": ("numeric", "kg", "weight at ICU admission"),
    "heartrate": ("numeric", "beats/min", f"worst heart rate {_DAY1}"),
    "meanbp": ("numeric", "mmHg", f"worst mean arterial blood pressure {_DAY1}"),
    "temperature": ("numeric", "degrees Celsius", f"worst temperature {_DAY1}"),
    "respiratoryrate": ("numeric", "breaths/min", f"worst respiratory rate {_DAY1}"),
    "sodium": ("numeric", "mmol/L", f"worst serum sodium {_DAY1}"),
    "ph": ("numeric", "", f"pH {_GAS}"),
    "hematocrit": ("numeric", "%", f"worst hematocrit {_DAY1}"),
    "creatinine": ("numeric", "mg/dL", f"worst serum creatinine {_DAY1}"),
    "albumin": ("numeric", "g/dL", f"worst serum albumin {_DAY1}"),
    "pao2": ("numeric", "mmHg", f"PaO2 {_GAS}"),
    "pco2": ("numeric", "mmHg", f"PaCO2 {_GAS}"),
    "bun": ("numeric", "mg/dL", f"highest blood urea nitrogen {_DAY1}"),
    "glucose": ("numeric", "mg/dL", f"worst blood glucose {_DAY1}"),
    "bilirubin": ("numeric", "mg/dL", f"highest serum bilirubin {_DAY1}"),
    "wbc": ("numeric", "10^9/L", f"worst white blood cell count {_DAY1}"),
    "fio2": ("numeric", "%", f"FiO2 {_GAS}"),
    "urine": ("numeric", "mL/day", f"total urine output {_DAY1}"),
    "eyes": ("numeric", "points", _GCS_TEXT.format("eye", "1-4")),
    "motor": ("numeric", "points", _GCS_TEXT.format("motor", "1-6")),
    "verbal": ("numeric", "points", _GCS_TEXT.format("verbal", "1-5")),
    "intubated": ("binary", "", f"intubated at the time of the worst arterial blood gas {_DAY1}"),
    "vent": ("binary", "", f"ventilated at the time of the worst respiratory rate {_DAY1}"),
    "dialysis": ("binary", "", "on dialysis"),
    "meds": ("binary", "", "Glasgow coma scale not scorable because of sedating medication"),
    "aids": ("binary", "", "AIDS"),
    "hepaticfailure": ("binary", "", "hepatic failure"),
    "lymphoma": ("binary", "", "lymphoma"),
    "metastaticcancer": ("binary", "", "metastatic cancer"),
    "leukemia": ("binary", "", "leukemia"),
    "immunosuppression": ("binary", "", "immunosuppression"),
    "cirrhosis": ("binary", "", "cirrhosis"),
    "diabetes": ("binary", "", "diabetes"),
    "electivesurgery": ("binary", "", "admitted after elective surgery"),
    "readmit": ("binary", "", "readmission to the ICU"),
    "activetx": ("binary", "", "receiving active treatment"),
    "thrombolytics": ("binary", "", "received thrombolytic therapy"),
    "ima": ("binary", "", "internal mammary artery graft (cardiac surgery)"),
    "midur": ("binary", "", "myocardial infarction within the past 6 months"),
    "ventday1": ("binary", "", "ventilated at the worst respiratory rate (APACHE IV input)"),
    "oobventday1": ("binary", "", f"ventilated at any time {_DAY1}, invasively or not"),
    "oobintubday1": ("binary", "", f"intubated at any time {_DAY1}"),
    "region": ("categorical", "", "US region of the hospital (Midwest, Northeast, South, West)"),
    "teachingstatus": ("binary", "", "teaching hospital"),
    "numbedscategory": ("categorical", "", "number of hospital beds"),
    "hospital_death": ("binary", "", "death before hospital discharge"),
}


@dataclass
class EICUCohortReport:
    """Counts of the rows and values that loading an eICU-CRD folder dropped or changed.

    ``stays_read`` counts patient rows with a valid id. The value counts (ages, -1 values,
    out-of-range and invalid values, stays without a table row) refer to the kept stays only.
    Every dictionary maps a column or table name to a count and lists only non-zero counts.
    """

    stays_read: int = 0
    dropped_no_status: int = 0
    dropped_unknown_status: int = 0
    stays_kept: int = 0
    deaths: int = 0
    ages_over_89: int = 0
    ages_missing: int = 0
    ages_unparseable: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    stays_without: dict[str, int] = field(default_factory=dict)
    minus_one_to_missing: dict[str, int] = field(default_factory=dict)
    gcs_zero_to_missing: dict[str, int] = field(default_factory=dict)
    out_of_range_to_missing: dict[str, int] = field(default_factory=dict)
    invalid_to_missing: dict[str, int] = field(default_factory=dict)

    @property
    def label_rate(self) -> float:
        """Fraction of kept stays that died in hospital, in [0, 1], or NaN when none is kept."""
        return self.deaths / self.stays_kept if self.stays_kept else float("nan")


_CONSTRAINTS = (
    Constraint("eyes is a whole number from 1 to 4", ("eyes",)),
    Constraint("motor is a whole number from 1 to 6", ("motor",)),
    Constraint("verbal is a whole number from 1 to 5", ("verbal",)),
    Constraint("vent = 1 implies oobventday1 = 1", ("vent", "oobventday1")),
    Constraint("intubated = 1 implies oobintubday1 = 1", ("intubated", "oobintubday1")),
    Constraint("ph lies between 6.5 and 8.0", ("ph",)),
)


def _names_demo(directory: Path) -> bool:
    """Return True when the folder's name or the first line of its README mentions the demo."""
    if "demo" in directory.resolve().name.lower():
        return True
    for readme in sorted(directory.glob("[Rr][Ee][Aa][Dd][Mm][Ee]*")):
        try:
            first_line = readme.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        except OSError:
            continue
        if first_line and "demo" in first_line[0].lower():
            return True
    return False


def _add(counts: dict[str, int], key: str, count: int | np.integer) -> None:
    if count:
        counts[key] = counts.get(key, 0) + int(count)


class EICU(Dataset):
    """The eICU-CRD cohort: one row per ICU stay, labelled with death before hospital discharge.

    ``directory`` is a folder with the PhysioNet tables (see the module docstring). ``access``
    overrides the access class that is otherwise decided from the number of stays.
    """

    name = "eicu"
    label = "hospital_death"
    site_columns = ("region", "hospitalid")
    group_columns = ("ethnicity", "gender")
    id_columns = ("patientunitstayid", "hospitalid")
    title = "the eICU Collaborative Research Database (ICU stays in US hospitals, 2014-2015)"

    def __init__(self, directory: str | os.PathLike, access: AccessClass | None = None) -> None:
        if access not in (None, "open", "credentialed"):
            raise ValueError(f"access: expected 'open', 'credentialed' or None, got {access!r}")
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory: expected a folder path, got {type(directory).__name__}")
        self.directory = Path(directory).expanduser()
        self.paths = find_tables(self.directory)
        self.cohort_report: EICUCohortReport | None = None
        self._access_override = access
        self._frame: pd.DataFrame | None = None

    @property
    def access(self) -> AccessClass:  # type: ignore[override]
        """Access class: ``open`` for the demo, ``credentialed`` for the full database.

        Reading it loads the folder unless ``access`` was passed to the constructor.
        """
        if self._access_override is not None:
            return self._access_override
        report = self._load_report()
        if report.stays_read <= DEMO_MAX_STAYS and _names_demo(self.directory):
            return "open"
        return "credentialed"

    def load_frame(self) -> pd.DataFrame:
        """Load the cohort: id columns, then the columns of :meth:`column_kinds`."""
        if self._frame is None:
            self._frame, self.cohort_report = _load(self.paths)
            _log_report(self.cohort_report, self.directory)
        return self._frame.copy()

    def column_kinds(self) -> dict[str, ColumnKind]:
        return {name: kind for name, (kind, _, _) in _COLUMNS.items()}

    def descriptions(self) -> dict[str, str]:
        return {name: description for name, (_, _, description) in _COLUMNS.items()}

    def units(self) -> dict[str, str]:
        return {name: unit for name, (_, unit, _) in _COLUMNS.items() if unit}

    def constraints(self) -> list[Constraint]:
        return list(_CONSTRAINTS)

    def _load_report(self) -> EICUCohortReport:
        self.load_frame()
        assert self.cohort_report is not None
        return self.cohort_report


def find_tables(directory: Path) -> dict[str, Path]:
    """Return the file of each required table in ``directory``, matched case-insensitively.

    Raises :class:`DatasetError` naming the folder or the missing table when either is absent.
    """
    if not directory.is_dir():
        raise DatasetError(
            f"eICU-CRD folder not found: {str(directory)!r} is not a folder. {_ENVIRONMENT_HINT}"
        )

    try:
        files = {path.name.lower(): path for path in directory.iterdir() if path.is_file()}
    except OSError as error:
        message = f"eICU-CRD folder {str(directory)!r} could not be listed: {error}"
        raise DatasetError(message) from error
    paths = {}
    for table in _TABLE_COLUMNS:
        candidates = [f"{table.lower()}.csv.gz", f"{table.lower()}.csv"]
        found = [files[name] for name in candidates if name in files]
        if not found:
            raise DatasetError(
                f"eICU-CRD table {table} not found: {str(directory)!r} has neither {table}.csv.gz "
                f"nor {table}.csv (in any letter case). {_ENVIRONMENT_HINT}"
            )
        if len(found) > 1:
            logger.info("eicu: reading %s and ignoring %s", found[0].name, found[1].name)
        paths[table] = found[0]
    return paths


def _read_table(path: Path, table: str) -> pd.DataFrame:
    """Read the needed columns of one table, renamed to lower case."""
    needed = _TABLE_COLUMNS[table]
    try:
        header = pd.read_csv(path, nrows=0)
        by_lower = {str(name).strip().lower(): name for name in header.columns}
        missing = [name for name in needed if name not in by_lower]
        if missing:
            raise DatasetError(
                f"eICU-CRD file {str(path)!r} is missing the column(s) {missing} of the {table} "
                "table. Use the unmodified file from PhysioNet."
            )
        text = {by_lower[name]: str for name in needed if name in _TEXT_COLUMNS}
        frame = pd.read_csv(path, usecols=[by_lower[name] for name in needed], dtype=text)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as error:
        raise DatasetError(
            f"eICU-CRD file {str(path)!r} could not be read as CSV: {error}. Download it again "
            "from PhysioNet."
        ) from error
    return frame.rename(columns={by_lower[name]: name for name in needed})


def _clean_ids(
    frame: pd.DataFrame, table: str, key: str, report: EICUCohortReport, unique: bool = True
) -> pd.DataFrame:
    """Drop and count rows whose ``key`` is missing, not an integer, or repeated.

    Repeats are dropped only when ``unique`` is true, and the first row of a repeated id is kept.
    """
    ids = pd.to_numeric(frame[key], errors="coerce")
    invalid = ids.isna() | (ids % 1 != 0)
    _add(report.rows_dropped, f"{table}: missing or non-integer {key}", invalid.sum())
    frame = frame.loc[~invalid].copy()
    frame[key] = ids[~invalid].astype("int64")
    if not unique:
        return frame

    repeated = frame[key].duplicated(keep="first")
    _add(report.rows_dropped, f"{table}: repeated {key}", repeated.sum())
    return frame.loc[~repeated]


def _as_text(values: pd.Series) -> pd.Series:
    """Return ``values`` as stripped str with missing values kept as NaN.

    ``astype("str")`` turns NaN into the text "nan" on pandas 2 but keeps it missing on
    pandas 3, so it is not used here.
    """
    return values.map(lambda value: np.nan if pd.isna(value) else str(value).strip()).astype(object)


def _to_float(values: pd.Series, column: str, report: EICUCohortReport) -> pd.Series:
    """Convert ``values`` to float64 and count the non-empty values that are not numbers."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = _as_text(values)
    numbers = pd.to_numeric(text, errors="coerce").astype(float)
    _add(report.invalid_to_missing, column, (numbers.isna() & text.notna() & (text != "")).sum())
    return numbers


def _apache_value(values: pd.Series, column: str, report: EICUCohortReport) -> pd.Series:
    numbers = _to_float(values, column, report)
    not_measured = numbers == NOT_MEASURED
    _add(report.minus_one_to_missing, column, not_measured.sum())
    return numbers.mask(not_measured)


def _apache_flag(values: pd.Series, column: str, report: EICUCohortReport) -> pd.Series:
    numbers = _apache_value(values, column, report)
    invalid = numbers.notna() & ~numbers.isin([0.0, 1.0])
    _add(report.invalid_to_missing, column, invalid.sum())
    return numbers.mask(invalid)


def _to_category(values: pd.Series) -> pd.Series:
    text = _as_text(values)
    return text.where(text != "").astype(object)


def _parse_age(values: pd.Series, report: EICUCohortReport) -> pd.Series:
    """Parse the text age. "> 89" becomes AGE_OVER_89, and empty or unparseable text NaN.

    The three cases are counted in ``report``.
    """
    text = _as_text(values)
    over_89 = text.str.replace(" ", "", regex=False) == ">89"
    empty = text.isna() | (text == "")
    ages = pd.to_numeric(text.mask(over_89 | empty), errors="coerce").astype(float)
    unparseable = ages.isna() & ~over_89 & ~empty

    report.ages_over_89 = int(over_89.sum())
    report.ages_missing = int(empty.sum())
    report.ages_unparseable = int(unparseable.sum())
    return ages.mask(over_89, AGE_OVER_89)


def _in_range(values: pd.Series, column: str, bounds: tuple[float, float],
              report: EICUCohortReport) -> pd.Series:
    numbers = _to_float(values, column, report)
    outside = numbers.notna() & ((numbers < bounds[0]) | (numbers > bounds[1]))
    _add(report.out_of_range_to_missing, column, outside.sum())
    return numbers.mask(outside)


def _label_stays(patient: pd.DataFrame, report: EICUCohortReport) -> pd.DataFrame:
    """Add the label and drop stays with an empty or unknown discharge status."""
    status = _to_category(patient["hospitaldischargestatus"])
    label = status.str.lower().map(_STATUS_LABELS).astype(float)
    no_status = status.isna()
    unknown = label.isna() & ~no_status
    if unknown.any():
        logger.warning("eicu: dropping %d stays with unknown discharge status %s",
                       int(unknown.sum()), sorted(status[unknown].unique()))

    report.dropped_no_status = int(no_status.sum())
    report.dropped_unknown_status = int(unknown.sum())
    kept = patient.assign(hospital_death=label).loc[label.notna()]
    report.stays_kept = len(kept)
    report.deaths = int(kept["hospital_death"].sum())
    return kept


def _join_tables(
    stays: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    all_stay_ids: pd.Series,
    report: EICUCohortReport,
) -> pd.DataFrame:
    """Left-join the APACHE and hospital rows onto the kept ``stays`` and count the gaps.

    APACHE rows of stays that are not in the patient table at all (``all_stay_ids``) are
    dropped and counted. Kept stays without an APACHE or hospital row are counted too.
    """
    frame = stays
    for table in ("apacheApsVar", "apachePredVar"):
        rows = tables[table]
        orphan = ~rows["patientunitstayid"].isin(all_stay_ids)
        _add(report.rows_dropped, f"{table}: patientunitstayid not in the patient table",
             orphan.sum())
        without = ~frame["patientunitstayid"].isin(rows["patientunitstayid"])
        _add(report.stays_without, table, without.sum())
        frame = frame.merge(rows.loc[~orphan], on="patientunitstayid", how="left")

    hospital = tables["hospital"]
    without = ~frame["hospitalid"].isin(hospital["hospitalid"])
    _add(report.stays_without, "hospital", without.sum())
    return frame.merge(hospital, on="hospitalid", how="left")


def _convert_columns(frame: pd.DataFrame, report: EICUCohortReport) -> pd.DataFrame:
    """Convert every joined column to its schema dtype, applying the cohort rules."""
    out = {name: frame[name] for name in EICU.id_columns}
    out["age"] = _parse_age(frame["age"], report)
    for name in (*_PATIENT_CATEGORICAL, *_HOSPITAL_CATEGORICAL):
        out[name] = _to_category(frame[name])
    ranges = {"admissionheight": HEIGHT_RANGE_CM, "admissionweight": WEIGHT_RANGE_KG}
    for name, bounds in ranges.items():
        out[name] = _in_range(frame[name], name, bounds, report)

    for name in _APS_NUMERIC:
        out[name] = _apache_value(frame[name], name, report)
    for name in _GCS:
        values = _apache_value(frame[name], name, report)
        _add(report.gcs_zero_to_missing, name, (values == 0.0).sum())
        out[name] = values.mask(values == 0.0)
    for name in (*_APS_FLAGS, *_PRED_FLAGS):
        out[name] = _apache_flag(frame[name], name, report)

    teaching = _to_category(frame["teachingstatus"])
    flags = teaching.str.lower().map(_TEACHING_VALUES).astype(float)
    _add(report.invalid_to_missing, "teachingstatus", (teaching.notna() & flags.isna()).sum())
    out["teachingstatus"] = flags
    out["hospital_death"] = frame["hospital_death"]

    ordered = [*EICU.id_columns, *_COLUMNS]
    return pd.DataFrame(out)[ordered]


def _load(paths: dict[str, Path]) -> tuple[pd.DataFrame, EICUCohortReport]:
    report = EICUCohortReport()
    tables: dict[str, pd.DataFrame] = {}
    for table, path in paths.items():
        key = "hospitalid" if table == "hospital" else "patientunitstayid"
        tables[table] = _clean_ids(_read_table(path, table), table, key, report)

    patient = _clean_ids(tables["patient"], "patient", "hospitalid", report, unique=False)
    report.stays_read = len(patient)
    stays = _label_stays(patient, report)

    joined = _join_tables(stays, tables, patient["patientunitstayid"], report)
    frame = _convert_columns(joined, report)
    frame = frame.sort_values("patientunitstayid").reset_index(drop=True)
    return frame, report


def _log_report(report: EICUCohortReport, directory: Path) -> None:
    logger.info(
        "eicu cohort from %s: %d stays read, %d dropped for no discharge status, %d for an "
        "unknown status, %d kept (label rate %.4f); ages over 89 mapped to %g: %d, missing: %d, "
        "unparseable: %d",
        directory, report.stays_read, report.dropped_no_status, report.dropped_unknown_status,
        report.stays_kept, report.label_rate, AGE_OVER_89, report.ages_over_89,
        report.ages_missing, report.ages_unparseable,
    )
    logger.info(
        "eicu cohort: -1 turned missing %s; GCS 0 turned missing %s; out of range %s; "
        "invalid values %s; rows dropped %s; stays without a row in %s",
        report.minus_one_to_missing, report.gcs_zero_to_missing, report.out_of_range_to_missing,
        report.invalid_to_missing, report.rows_dropped, report.stays_without,
    )
