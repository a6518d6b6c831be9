"""Tests of site planning for the cross-site criterion (:mod:`ehrbench.datasets.sites`).

Most tests build a small :class:`PreparedDataset` by hand with known row and outcome counts per
site, so that the source and target rules can be checked at their boundaries. One test reads
the committed eICU mini fixture, and one reads the real eICU-CRD demo when
``EHRBENCH_EICU_DIR`` names it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from ehrbench.datasets import get_dataset, prepare, resolve_eicu_dir
from ehrbench.datasets.base import Dataset, PreparedDataset
from ehrbench.datasets.eicu import EICU
from ehrbench.datasets.sites import (
    MIN_SOURCE_TRAIN_ROWS,
    MIN_TARGET_EVENTS,
    MIN_TARGET_ROWS,
    SitePlan,
    plan_sites,
    restrict_to_site,
    site_values,
    target_rows,
)
from ehrbench.schema import ColumnKind, infer_schema

FIXTURE_SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "eicu-mini"

KINDS: dict[str, ColumnKind] = {
    "x": "numeric",
    "flag": "binary",
    "sex": "categorical",
    "region": "categorical",
    "death": "binary",
}


class TinySites(Dataset):
    """A made-up two-level multi-site dataset: ``region``, then the numeric ``hospital`` id."""

    name = "tiny-sites"
    label = "death"
    site_columns = ("region", "hospital")
    group_columns = ("sex",)
    id_columns = ("hospital",)

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def load_frame(self) -> pd.DataFrame:
        return self._frame.copy()

    def column_kinds(self) -> dict[str, ColumnKind]:
        return dict(KINDS)


class Part(NamedTuple):
    """Rows of one site in one part: how many, and how many of them have the label 1."""

    rows: int
    positives: int


def site_block(region: object, hospital: float, part: Part, seed: int) -> pd.DataFrame:
    """Return ``part.rows`` rows of one site; the first ``part.positives`` rows have death 1.0."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(part.rows)
    labels[: part.positives] = 1.0
    return pd.DataFrame(
        {
            "x": labels + rng.normal(size=part.rows),
            "flag": rng.integers(0, 2, size=part.rows).astype(float),
            "sex": rng.choice(["F", "M"], size=part.rows).astype(object),
            "region": pd.Series([region] * part.rows, dtype=object),
            "hospital": np.full(part.rows, hospital),
            "death": labels,
        }
    )


def build_prepared(sites: dict[object, tuple[Part, Part, Part]]) -> PreparedDataset:
    """Return a prepared dataset whose train, reference and test parts hold ``sites``' rows.

    ``sites`` maps a region (NaN for rows without a site) to its (train, reference, test)
    parts. Each region is one hospital, numbered 100, 101, ... in the order of ``sites``.
    """
    parts: list[list[pd.DataFrame]] = [[], [], []]
    for number, (region, site_parts) in enumerate(sites.items()):
        for index, part in enumerate(site_parts):
            parts[index].append(site_block(region, float(100 + number), part, seed=number * 3 + index))
    train, reference, test = (pd.concat(blocks, ignore_index=True) for blocks in parts)
    schema = infer_schema(train, "death", KINDS)
    frame = pd.concat([train, reference, test], ignore_index=True)
    return PreparedDataset(TinySites(frame), schema, train, reference, test)


def train_only(rows: int, positives: int) -> tuple[Part, Part, Part]:
    return (Part(rows, positives), Part(0, 0), Part(0, 0))


def spread(rows: int, positives: int) -> tuple[Part, Part, Part]:
    """Split ``rows`` (with ``positives``) over the three parts, so that a count must add them up."""
    first, second = rows // 3, rows // 3
    first_positives, second_positives = positives // 3, positives // 3
    return (
        Part(first, first_positives),
        Part(second, second_positives),
        Part(rows - first - second, positives - first_positives - second_positives),
    )


SOURCE = train_only(MIN_SOURCE_TRAIN_ROWS, 40)


def target_note(site: str, rows: int, positives: int) -> str:
    return (
        f"region {site}: {rows} rows, {positives} positive and {rows - positives} negative "
        f"(a target needs {MIN_TARGET_ROWS} rows and {MIN_TARGET_EVENTS} of each class)"
    )


# site_values


def test_site_values_whole_numbers_as_integers():
    frame = pd.DataFrame({"site": [146.0, np.nan, 3.0]})

    values = site_values(frame, "site")

    assert values.dtype == object
    assert values.iloc[0] == "146"
    assert pd.isna(values.iloc[1])
    assert values.iloc[2] == "3"


def test_site_values_non_whole_numbers():
    values = site_values(pd.DataFrame({"site": [1.5, 2.0, 1234567.0]}), "site")

    assert values.tolist() == ["1.5", "2.0", "1234567.0"]


def test_site_values_keeps_text_and_missing():
    values = site_values(pd.DataFrame({"site": ["West", np.nan, "South"]}, dtype=object), "site")

    assert values.iloc[0] == "West"
    assert pd.isna(values.iloc[1])
    assert values.iloc[2] == "South"


def test_site_values_unknown_column_raises():
    with pytest.raises(KeyError, match="'hospital' is not a column"):
        site_values(pd.DataFrame({"site": ["West"]}), "hospital")


def test_site_values_text_ids_distinct():
    values = site_values(pd.DataFrame({"site": ["007", "7"]}, dtype=object), "site")

    assert values.nunique() == 2


# plan_sites: the source


def test_plan_source_below_min_training_rows():
    prepared = build_prepared({"A": train_only(MIN_SOURCE_TRAIN_ROWS - 1, 40), "B": spread(150, 30)})

    plan = plan_sites(prepared, "region")

    note = (
        f"the largest region site, A, has {MIN_SOURCE_TRAIN_ROWS - 1} training rows, "
        f"fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs"
    )
    assert plan == SitePlan("region", None, (), (note,))
    assert not plan.usable


def test_plan_source_at_min_training_rows():
    prepared = build_prepared({"A": SOURCE, "B": spread(150, 30)})

    plan = plan_sites(prepared, "region")

    assert plan == SitePlan("region", "A", ("B",), ())
    assert plan.usable
    assert plan.label == "region-A"


def test_plan_source_counts_training_rows_only():
    # B has more rows in all, but fewer training rows than A.
    b_parts = (Part(MIN_SOURCE_TRAIN_ROWS - 1, 40), Part(300, 60), Part(300, 60))
    prepared = build_prepared({"A": SOURCE, "B": b_parts})

    plan = plan_sites(prepared, "region")

    assert plan.source == "A"
    assert plan.targets == ("B",)


def test_plan_missing_site_is_no_site():
    # More training rows lack a region than region A has, but rows without a region belong to no site.
    prepared = build_prepared(
        {"A": train_only(MIN_SOURCE_TRAIN_ROWS - 1, 40), np.nan: (Part(400, 80), Part(150, 30), Part(150, 30))}
    )

    plan = plan_sites(prepared, "region")

    assert plan.source is None
    assert plan.notes == (
        f"the largest region site, A, has {MIN_SOURCE_TRAIN_ROWS - 1} training rows, "
        f"fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs",
    )


def test_plan_no_training_site_value():
    prepared = build_prepared({np.nan: train_only(300, 60), "B": (Part(0, 0), Part(100, 20), Part(100, 20))})

    plan = plan_sites(prepared, "region")

    assert plan == SitePlan("region", None, (), ("no training row has a region",))


def test_plan_numeric_site_column():
    prepared = build_prepared({"A": SOURCE, "B": spread(150, 30)})

    plan = plan_sites(prepared, "hospital")

    assert plan == SitePlan("hospital", "100", ("101",), ())
    assert plan.label == "hospital-100"


# plan_sites: the targets


@pytest.mark.parametrize("rows", [MIN_TARGET_ROWS - 1, MIN_TARGET_ROWS])
def test_plan_target_row_boundary(rows):
    prepared = build_prepared({"A": SOURCE, "B": spread(rows, 30)})

    plan = plan_sites(prepared, "region")

    if rows < MIN_TARGET_ROWS:
        assert plan.targets == ()
        assert plan.notes == (target_note("B", rows, 30), "no other region site qualifies as a target")
    else:
        assert plan.targets == ("B",)
        assert plan.notes == ()


@pytest.mark.parametrize("positives", [MIN_TARGET_EVENTS - 1, MIN_TARGET_EVENTS])
def test_plan_target_positive_boundary(positives):
    prepared = build_prepared({"A": SOURCE, "B": spread(150, positives), "C": spread(150, 30)})

    plan = plan_sites(prepared, "region")

    if positives < MIN_TARGET_EVENTS:
        assert plan.targets == ("C",)
        assert plan.notes == (target_note("B", 150, positives),)
    else:
        assert plan.targets == ("B", "C")
        assert plan.notes == ()


@pytest.mark.parametrize("negatives", [MIN_TARGET_EVENTS - 1, MIN_TARGET_EVENTS])
def test_plan_target_negative_boundary(negatives):
    rows = MIN_TARGET_ROWS
    prepared = build_prepared({"A": SOURCE, "B": spread(rows, rows - negatives)})

    plan = plan_sites(prepared, "region")

    if negatives < MIN_TARGET_EVENTS:
        assert plan.targets == ()
        assert plan.notes == (target_note("B", rows, rows - negatives), "no other region site qualifies as a target")
    else:
        assert plan.targets == ("B",)


def test_plan_target_without_training_rows():
    # A target needs no training rows, because the source's generator and real-data model never use its rows.
    prepared = build_prepared({"A": SOURCE, "B": (Part(0, 0), Part(50, 10), Part(50, 10))})

    plan = plan_sites(prepared, "region")

    assert plan.targets == ("B",)


def test_plan_targets_sorted_with_notes():
    prepared = build_prepared(
        {
            "A": SOURCE,
            "D": spread(150, 30),
            "B": spread(150, 30),
            "E": spread(40, 10),
            "C": spread(150, 5),
        }
    )

    plan = plan_sites(prepared, "region")

    assert plan.source == "A"
    assert plan.targets == ("B", "D")
    assert plan.notes == (target_note("C", 150, 5), target_note("E", 40, 10))


def test_plan_target_ignores_missing_sites():
    prepared = build_prepared({"A": SOURCE, "B": spread(MIN_TARGET_ROWS - 1, 30), np.nan: spread(150, 30)})

    plan = plan_sites(prepared, "region")

    assert plan.targets == ()
    assert plan.notes[0] == target_note("B", MIN_TARGET_ROWS - 1, 30)


# SitePlan


@pytest.mark.parametrize(
    "source, targets, usable",
    [(None, (), False), ("A", (), False), (None, ("B",), False), ("A", ("B",), True)],
)
def test_site_plan_usable(source, targets, usable):
    assert SitePlan("region", source, targets, ()).usable is usable


# restrict_to_site and target_rows


def test_restrict_to_site_cuts_every_part():
    prepared = build_prepared({"A": spread(600, 60), "B": spread(300, 30)})

    restricted = restrict_to_site(prepared, "region", "B")

    assert restricted.dataset is prepared.dataset
    assert restricted.schema is prepared.schema
    for name in ("train", "reference", "test"):
        whole = getattr(prepared, name)
        part = getattr(restricted, name)
        assert len(part) == 100, name
        assert set(part["region"]) == {"B"}, name
        assert list(part.index) == list(whole.index[whole["region"] == "B"]), name


def test_restrict_to_numeric_site():
    prepared = build_prepared({"A": spread(600, 60), "B": spread(300, 30)})

    restricted = restrict_to_site(prepared, "hospital", "101")

    assert len(restricted.train) == 100
    assert set(restricted.train["region"]) == {"B"}


def test_restrict_without_training_rows_raises():
    prepared = build_prepared({"A": SOURCE, "B": (Part(0, 0), Part(50, 10), Part(50, 10))})

    with pytest.raises(ValueError, match="region 'B' has no training rows"):
        restrict_to_site(prepared, "region", "B")


def test_target_rows_stack_all_parts():
    b_parts = (Part(20, 4), Part(40, 8), Part(60, 12))
    prepared = build_prepared({"A": SOURCE, "B": b_parts, "C": spread(150, 30)})
    plan = plan_sites(prepared, "region")

    rows = target_rows(prepared, plan)

    assert list(rows) == ["B", "C"]
    assert len(rows["B"]) == 120
    assert len(rows["C"]) == 150
    assert list(rows["B"].index) == list(range(120))
    assert set(rows["B"]["region"]) == {"B"}
    assert rows["B"]["death"].sum() == 24
    expected_x = pd.concat([part.loc[part["region"] == "B", "x"] for part in (prepared.train, prepared.reference, prepared.test)])
    assert rows["B"]["x"].tolist() == expected_x.tolist()


# eICU: the committed mini fixture and the real demo


def test_plan_on_eicu_mini_fixture(tmp_path):
    for source in FIXTURE_SOURCE.glob("*.fixture"):
        shutil.copyfile(source, tmp_path / source.name.removesuffix(".fixture"))
    dataset = EICU(tmp_path)
    frame = dataset.load_frame()
    schema = infer_schema(frame, dataset.label, dataset.column_kinds())
    # All 7 stays go to the training part, because 7 rows are too few for a stratified split.
    prepared = PreparedDataset(dataset, schema, frame, frame.iloc[:0], frame.iloc[:0])

    region = plan_sites(prepared, "region")
    hospital = plan_sites(prepared, "hospitalid")

    # Midwest has 3 stays (hospital 9001). The 3 stays of hospital 9003 have no region.
    assert region == SitePlan(
        "region",
        None,
        (),
        (f"the largest region site, Midwest, has 3 training rows, fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs",),
    )
    assert hospital.source is None
    assert len(hospital.notes) == 1
    assert hospital.notes[0].startswith("the largest hospitalid site, 900")
    assert "has 3 training rows" in hospital.notes[0]


@pytest.mark.eicu
def test_plan_on_eicu_demo():
    folder = resolve_eicu_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("set EHRBENCH_EICU_DIR to the eICU-CRD demo folder to run this test")
    prepared = prepare(get_dataset("eicu", folder))

    region = plan_sites(prepared, "region")
    hospital = plan_sites(prepared, "hospitalid")

    assert region.source == "Midwest"
    assert region.targets == ("Northeast", "South", "West")
    train_counts = prepared.train.groupby("hospitalid").size()
    largest = int(train_counts.idxmax())
    assert int(train_counts.max()) < MIN_SOURCE_TRAIN_ROWS
    assert not hospital.usable
    assert hospital.notes == (
        f"the largest hospitalid site, {largest}, has {int(train_counts.max())} training rows, "
        f"fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs",
    )
