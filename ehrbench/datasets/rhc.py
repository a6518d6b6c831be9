"""The RHC study: the dataset that works offline right after install.

Source: the SUPPORT right heart catheterization (RHC) study of 5,735 critically ill adults in
ICUs of five US teaching hospitals, 1989-1994 (Connors et al., JAMA 1996;276:889-897), as
published by the Vanderbilt Department of Biostatistics and shipped inside the PyPI package
``SurvSet`` (``SurvLoader().load_dataset(ds_name="rhc")``).

Cohort rules:

- one row per patient, all 5,735 rows kept;
- label ``death``: 1.0 when the study's survival event is observed (death within the study's
  180-day follow-up), 0.0 otherwise; the follow-up time itself is dropped because it reveals
  the label;
- SurvSet's ``num_``/``fac_`` prefixes are removed from column names;
- columns whose only values are Yes/No (or RHC/No RHC) become binary flags (1.0 = yes);
- weight 0 kg means "not recorded" in the source and becomes missing;
- the secondary disease category ``cat2`` value "missing" becomes a missing value.

The data has no site column: the five hospitals are not identified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ehrbench.datasets.base import Constraint, Dataset, DatasetError
from ehrbench.schema import ColumnKind

_DESCRIPTIONS = {
    "age": "age at admission",
    "sex": "sex",
    "race": "race",
    "edu": "years of education",
    "income": "household income",
    "ninsclas": "medical insurance",
    "cat1": "primary disease category",
    "cat2": "secondary disease category",
    "adld3p": "activities of daily living index two weeks before admission (0-7)",
    "surv2md1": "SUPPORT model estimate of 2-month survival probability on day 1",
    "aps1": "APACHE III acute physiology score on day 1",
    "scoma1": "SUPPORT coma score on day 1 (0 = alert)",
    "meanbp1": "mean blood pressure on day 1",
    "wblc1": "white blood cell count on day 1",
    "hrt1": "heart rate on day 1",
    "resp1": "respiratory rate on day 1",
    "temp1": "temperature on day 1",
    "pafi1": "PaO2/FiO2 ratio on day 1",
    "alb1": "serum albumin on day 1",
    "hema1": "hematocrit on day 1",
    "bili1": "serum bilirubin on day 1",
    "crea1": "serum creatinine on day 1",
    "sod1": "serum sodium on day 1",
    "pot1": "serum potassium on day 1",
    "paco21": "arterial PaCO2 on day 1",
    "ph1": "arterial pH on day 1",
    "wtkilo1": "weight on day 1",
    "urin1": "urine output on day 1",
    "ca": "cancer (No, Yes, Metastatic)",
    "dnr1": "do-not-resuscitate order on day 1",
    "swang1": "right heart catheterization within the first 24 hours",
    "amihx": "history of acute myocardial infarction",
    "cardiohx": "history of cardiovascular disease",
    "chfhx": "history of congestive heart failure",
    "chrpulhx": "history of chronic pulmonary disease",
    "dementhx": "history of dementia",
    "gibledhx": "history of upper gastrointestinal bleeding",
    "immunhx": "immunosuppression",
    "liverhx": "history of liver disease",
    "malighx": "history of solid tumor",
    "psychhx": "history of psychiatric disease",
    "renalhx": "history of chronic renal disease",
    "transhx": "transfer from another hospital",
    "card": "cardiovascular admission diagnosis",
    "gastr": "gastrointestinal admission diagnosis",
    "hema": "hematologic admission diagnosis",
    "meta": "metabolic admission diagnosis",
    "neuro": "neurological admission diagnosis",
    "ortho": "orthopedic admission diagnosis",
    "renal": "renal admission diagnosis",
    "resp": "respiratory admission diagnosis",
    "seps": "sepsis admission diagnosis",
    "trauma": "trauma admission diagnosis",
    "death": "death within the 180-day follow-up",
}

_UNITS = {
    "age": "years",
    "edu": "years",
    "meanbp1": "mmHg",
    "wblc1": "10^9/L",
    "hrt1": "beats/min",
    "resp1": "breaths/min",
    "temp1": "degrees Celsius",
    "pafi1": "mmHg",
    "alb1": "g/dL",
    "hema1": "%",
    "bili1": "mg/dL",
    "crea1": "mg/dL",
    "sod1": "mmol/L",
    "pot1": "mmol/L",
    "paco21": "mmHg",
    "wtkilo1": "kg",
    "urin1": "mL",
}

_CONSTRAINTS = (
    Constraint("surv2md1 is a probability between 0 and 1", ("surv2md1",)),
    Constraint("adld3p is a whole number from 0 to 7", ("adld3p",)),
    Constraint("cat2, when present, differs from cat1", ("cat1", "cat2")),
    Constraint("ca is Yes or Metastatic exactly when malighx = 1 (a history of solid tumor)", ("ca", "malighx")),
    Constraint("a higher aps1 goes with a lower surv2md1", ("aps1", "surv2md1")),
    Constraint("ph1 lies between 6.5 and 8.0", ("ph1",)),
)

_YES_VALUES = {"Yes": 1.0, "No": 0.0, "RHC": 1.0, "No RHC": 0.0}


class RHC(Dataset):
    """The RHC study cohort (5,735 ICU adults; label: death within 180 days)."""

    name = "rhc"
    label = "death"
    group_columns = ("race", "sex")
    access = "open"
    title = "the SUPPORT right heart catheterization study (critically ill adults in US ICUs)"

    def __init__(self) -> None:
        self._frame: pd.DataFrame | None = None
        self._kinds: dict[str, ColumnKind] | None = None

    def load_frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame, self._kinds = _load()
        return self._frame.copy()

    def column_kinds(self) -> dict[str, ColumnKind]:
        if self._kinds is None:
            self.load_frame()
        return dict(self._kinds)

    def descriptions(self) -> dict[str, str]:
        return dict(_DESCRIPTIONS)

    def units(self) -> dict[str, str]:
        return dict(_UNITS)

    def constraints(self) -> list[Constraint]:
        return list(_CONSTRAINTS)


def _load() -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    try:
        from SurvSet.data import SurvLoader
    except ImportError as error:
        raise DatasetError(
            "dataset 'rhc' needs the package SurvSet; install it with 'pip install SurvSet'"
        ) from error

    raw = SurvLoader().load_dataset(ds_name="rhc")["df"]
    frame = pd.DataFrame(index=raw.index)
    kinds: dict[str, ColumnKind] = {}

    for source in raw.columns:
        if source in ("pid", "time", "event"):
            continue
        name = source.split("_", 1)[1]
        values = raw[source]
        if source.startswith("num_"):
            frame[name] = values.astype(float)
            kinds[name] = "numeric"
            continue
        text = values.astype(str)
        observed = set(text.unique())
        if observed <= {"0", "1"}:
            frame[name] = text.astype(float)
            kinds[name] = "binary"
        elif observed <= set(_YES_VALUES):
            frame[name] = text.map(_YES_VALUES).astype(float)
            kinds[name] = "binary"
        else:
            frame[name] = text.where(text != "missing", np.nan).astype(object)
            kinds[name] = "categorical"

    frame.loc[frame["wtkilo1"] == 0.0, "wtkilo1"] = np.nan
    frame["death"] = raw["event"].astype(float)
    kinds["death"] = "binary"
    return frame.reset_index(drop=True), kinds
