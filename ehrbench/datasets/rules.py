"""Clinical plausibility rules of each dataset, declared as data.

A rule states something every single row must satisfy. :mod:`ehrbench.metrics.plausibility`
evaluates the rules. This module only declares them. The rule kinds are:

- :class:`RangeRule`: a numeric column lies in [low, high], and optionally is a whole number.
- :class:`ImplicationRule`: when the premise holds, the conclusion holds.
- :class:`DistinctRule`: two columns differ when both are present.
- :class:`OrderRule`: ``column_a <= column_b``.
- :class:`CategoryRule`: a categorical column takes one of the schema categories. These rules
  come from the schema (:func:`category_rules`), not from a declaration.

Range bounds are limits of what a living patient (or the score's definition) allows. They are
not the minimum and maximum of the training part, and they are wide on purpose. Outside them
lie 6 of the 3,441 RHC training rows (PaO2/FiO2 above 800, albumin 29 g/dL, hematocrit 4.5%,
weight 19.5 kg) and 1 of the 1,495 eICU demo training stays (urine 42,207 mL/day). Each bound
names its source:

- :data:`CLIF`: the outlier ranges of the Common Longitudinal ICU data Format (CLIF), in
  ``clifpy/schemas/outlier_config.yaml`` of the clifpy package (GitHub
  Common-Longitudinal-ICU-data-Format/clifpy, read at commit 149ea93).
- :data:`CHOSEN`: a bound chosen for ehrbench. It is used where CLIF has no range, or where
  the CLIF range excludes values that the real data contains. For example, CLIF limits
  temperature to 32-44 degrees Celsius, respiratory rate to 0-60 per minute and mean arterial
  pressure to 0-250 mmHg.
- in words: the definition of a score or a probability, or a range that the eICU loader
  enforces.

Logical rules were checked on the training part of both datasets (RHC, and the eICU-CRD demo
v2.0.1), and every declared one holds on every row there. Two rules were changed or left out
because real rows break them:

- RHC ``ca`` is Yes or Metastatic exactly when ``malighx = 1``: ``ca = Yes`` with
  ``malighx = 0`` occurs in 24 of 3,441 training rows (0.70%). The two directions that hold on
  every row are declared instead.
- eICU ``unitdischargeoffset <= hospitaldischargeoffset``: the loader does not read these
  columns, and the demo patient table breaks the order in 34 of 2,520 stays, by 1 to 1,396
  minutes. No order rule is declared. :class:`OrderRule` exists for tables that have such a pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from ehrbench.datasets.eicu import AGE_OVER_89, HEIGHT_RANGE_CM, WEIGHT_RANGE_KG
from ehrbench.schema import TableSchema

#: Source of a bound taken from the CLIF outlier ranges.
CLIF = "CLIF outlier range (clifpy/schemas/outlier_config.yaml)"
#: Source of a bound chosen for ehrbench.
CHOSEN = "conservative bound chosen for ehrbench"


@dataclass(frozen=True)
class Condition:
    """Condition that ``column`` takes one of ``values``.

    The values are numbers for numeric and binary columns and str for categorical columns.
    """

    column: str
    values: tuple[float | str, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"values: condition on {self.column!r} needs at least one value")
        is_text = [isinstance(value, str) for value in self.values]
        is_number = [isinstance(value, Real) and not isinstance(value, bool) for value in self.values]
        if not (all(is_text) or all(is_number)):
            raise ValueError(
                f"values: condition on {self.column!r} has values of mixed or invalid types "
                f"{self.values!r}. Use only numbers (numeric and binary columns) or only str "
                "(categorical columns)"
            )

    @property
    def numeric(self) -> bool:
        """True when the values are numbers."""
        return not isinstance(self.values[0], str)

    def describe(self) -> str:
        """Return the condition in words, e.g. ``ca is Yes or Metastatic``."""
        words = [f"{value:g}" if not isinstance(value, str) else value for value in self.values]
        if len(words) == 1:
            return f"{self.column} = {words[0]}"
        return f"{self.column} is {' or '.join(words)}"


@dataclass(frozen=True)
class RangeRule:
    """Rule that a numeric ``column`` lies in [``low``, ``high``], and is whole when ``integer``."""

    rule_id: str
    column: str
    low: float
    high: float
    unit: str
    source: str
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ValueError(
                f"low, high: rule {self.rule_id!r} needs finite bounds with low <= high, "
                f"got [{self.low}, {self.high}]"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        whole = " and is a whole number" if self.integer else ""
        return f"{self.column} lies between {self.low:g} and {self.high:g}{unit}{whole}"


@dataclass(frozen=True)
class ImplicationRule:
    """Rule that ``conclusion`` holds whenever ``premise`` holds."""

    rule_id: str
    premise: Condition
    conclusion: Condition
    source: str
    unit: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.premise.column, self.conclusion.column)

    @property
    def text(self) -> str:
        return f"{self.premise.describe()} implies {self.conclusion.describe()}"


@dataclass(frozen=True)
class DistinctRule:
    """Rule that ``column_b`` differs from ``column_a`` when both are present."""

    rule_id: str
    column_a: str
    column_b: str
    source: str
    unit: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column_a, self.column_b)

    @property
    def text(self) -> str:
        return f"{self.column_b}, when present, differs from {self.column_a}"


@dataclass(frozen=True)
class OrderRule:
    """Rule that ``column_a <= column_b`` (both in ``unit``), e.g. an admission before a discharge."""

    rule_id: str
    column_a: str
    column_b: str
    unit: str
    source: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column_a, self.column_b)

    @property
    def text(self) -> str:
        return f"{self.column_a} <= {self.column_b}"


@dataclass(frozen=True)
class CategoryRule:
    """Rule that a categorical ``column`` takes one of ``categories``."""

    rule_id: str
    column: str
    categories: tuple[str, ...]
    source: str = "categories of the schema, observed on the training part"
    unit: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def text(self) -> str:
        return f"{self.column} is one of the {len(self.categories)} schema categories"


Rule = RangeRule | ImplicationRule | DistinctRule | OrderRule | CategoryRule

#: Rule classes that :mod:`ehrbench.metrics.plausibility` can evaluate.
RULE_TYPES = (RangeRule, ImplicationRule, DistinctRule, OrderRule, CategoryRule)


def _ranges(rows: tuple[tuple, ...]) -> tuple[RangeRule, ...]:
    """Build range rules from ``(column, low, high, unit, source[, integer])`` rows."""
    return tuple(RangeRule(f"range.{row[0]}", *row) for row in rows)


# Bounds shared by both datasets. The temperature floor is a reported survival: a patient
# survived a core temperature of 14.0 degrees Celsius (Kano et al., Resuscitation Plus 2026,
# doi:10.1016/j.resplu.2026.101265). NOTE: the ceiling of 47 degrees is a chosen margin, not a
# sourced survival limit. PaO2/FiO2 cannot exceed about 713 mmHg at sea level, because the
# alveolar PO2 is FiO2 x (760 - 47) mmHg - PaCO2/0.8, so the bound of 800 leaves a margin.
_TEMPERATURE = (14.0, 47.0, "degrees Celsius", CHOSEN)
_HEART_RATE = (0.0, 300.0, "beats/min", CLIF)
_MEAN_BP = (0.0, 300.0, "mmHg", CHOSEN)
_RESPIRATORY_RATE = (0.0, 100.0, "breaths/min", CHOSEN)
_SODIUM = (90.0, 210.0, "mmol/L", CLIF)
_PH = (6.5, 8.0, "", CHOSEN)
_HEMATOCRIT = (5.0, 75.0, "%", CHOSEN)
_CREATININE = (0.0, 30.0, "mg/dL", CHOSEN)
_ALBUMIN = (0.0, 15.0, "g/dL", CLIF)
_BILIRUBIN = (0.0, 80.0, "mg/dL", CLIF)
_WBC = (0.0, 500.0, "10^9/L", CLIF)
_PACO2 = (0.0, 250.0, "mmHg", CLIF)
_URINE_ML_PER_DAY = (0.0, 30000.0)

_RHC_CODING = "coding of the RHC data (no training row breaks it)"

RHC_RULES: tuple[Rule, ...] = (
    *_ranges((
        ("age", 18.0, 120.0, "years", "the study enrolled adults, and 120 is the CLIF upper bound"),
        ("edu", 0.0, 40.0, "years", CHOSEN),
        ("adld3p", 0.0, 7.0, "", "definition of the index (0-7)", True),
        ("surv2md1", 0.0, 1.0, "", "definition of a probability"),
        ("aps1", 0.0, 299.0, "", "definition: the whole APACHE III score is at most 299 points", True),
        ("scoma1", 0.0, 100.0, "", "definition of the SUPPORT coma score (0-100)", True),
        ("meanbp1", *_MEAN_BP),
        ("wblc1", *_WBC),
        ("hrt1", *_HEART_RATE),
        ("resp1", *_RESPIRATORY_RATE),
        ("temp1", *_TEMPERATURE),
        ("pafi1", 0.0, 800.0, "mmHg", CHOSEN),
        ("alb1", *_ALBUMIN),
        ("hema1", *_HEMATOCRIT),
        ("bili1", *_BILIRUBIN),
        ("crea1", *_CREATININE),
        ("sod1", *_SODIUM),
        ("pot1", 1.0, 15.0, "mmol/L", "CLIF upper bound and a lower bound chosen for ehrbench"),
        ("paco21", *_PACO2),
        ("ph1", *_PH),
        ("wtkilo1", *WEIGHT_RANGE_KG, "kg", "range that the eICU loader enforces on weights"),
        ("urin1", *_URINE_ML_PER_DAY, "mL", CHOSEN),
    )),
    DistinctRule("distinct.cat1.cat2", "cat1", "cat2", "definition of a secondary category"),
    ImplicationRule(
        "implies.malighx.ca",
        Condition("malighx", (1.0,)),
        Condition("ca", ("Yes", "Metastatic")),
        _RHC_CODING,
    ),
    ImplicationRule(
        "implies.ca.malighx",
        Condition("ca", ("Metastatic",)),
        Condition("malighx", (1.0,)),
        _RHC_CODING,
    ),
)

EICU_RULES: tuple[Rule, ...] = (
    *_ranges((
        ("age", 0.0, AGE_OVER_89, "years", "loader: ages over 89 are stored as 90"),
        ("admissionheight", *HEIGHT_RANGE_CM, "cm", "range that the eICU loader enforces"),
        ("admissionweight", *WEIGHT_RANGE_KG, "kg", "range that the eICU loader enforces"),
        ("heartrate", *_HEART_RATE),
        ("meanbp", *_MEAN_BP),
        ("temperature", *_TEMPERATURE),
        ("respiratoryrate", *_RESPIRATORY_RATE),
        ("sodium", *_SODIUM),
        ("ph", *_PH),
        ("hematocrit", *_HEMATOCRIT),
        ("creatinine", *_CREATININE),
        ("albumin", *_ALBUMIN),
        ("pao2", 0.0, 700.0, "mmHg", CLIF),
        ("pco2", *_PACO2),
        ("bun", 0.0, 250.0, "mg/dL", CLIF),
        ("glucose", 0.0, 2000.0, "mg/dL", CLIF),
        ("bilirubin", *_BILIRUBIN),
        ("wbc", *_WBC),
        ("fio2", 21.0, 100.0, "%", "CLIF range of the FiO2 fraction (0.21-1.0), in percent"),
        ("urine", *_URINE_ML_PER_DAY, "mL/day", CHOSEN),
        ("eyes", 1.0, 4.0, "points", "definition of the Glasgow coma scale", True),
        ("motor", 1.0, 6.0, "points", "definition of the Glasgow coma scale", True),
        ("verbal", 1.0, 5.0, "points", "definition of the Glasgow coma scale", True),
    )),
    ImplicationRule(
        "implies.vent.oobventday1",
        Condition("vent", (1.0,)),
        Condition("oobventday1", (1.0,)),
        "definition: ventilated at the worst respiratory rate means ventilated on day 1",
    ),
    ImplicationRule(
        "implies.intubated.oobintubday1",
        Condition("intubated", (1.0,)),
        Condition("oobintubday1", (1.0,)),
        "definition: intubated at the worst blood gas means intubated on day 1",
    ),
)

_RULES_BY_DATASET = {"rhc": RHC_RULES, "eicu": EICU_RULES}


def rules_for_dataset(name: str) -> tuple[Rule, ...]:
    """Return the declared rules of the dataset called ``name`` ("rhc" or "eicu")."""
    if name not in _RULES_BY_DATASET:
        raise KeyError(f"name: no rules for dataset {name!r}; choose one of {sorted(_RULES_BY_DATASET)}")
    return _RULES_BY_DATASET[name]


def category_rules(schema: TableSchema) -> tuple[CategoryRule, ...]:
    """Return one :class:`CategoryRule` per categorical column of ``schema``, in schema order."""
    return tuple(
        CategoryRule(f"categories.{column.name}", column.name, column.categories)
        for column in schema.columns
        if column.kind == "categorical"
    )
