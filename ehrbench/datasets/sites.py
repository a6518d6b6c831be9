"""Sites of a multi-site dataset, for the cross-site generalisation criterion.

A site is one value of a site column (eICU: the hospital's ``region``, then ``hospitalid``).
For each site column, the cross-site criterion generates from the training rows of one source
site and tests on the real rows of the other (target) sites:

- the source is the site with the most training rows, used only when it has at least
  :data:`MIN_SOURCE_TRAIN_ROWS`, enough to draw example rows from and to train the real-data
  model that the synthetic one is compared with;
- a target is any other site with at least :data:`MIN_TARGET_ROWS` rows over the three parts and
  :data:`MIN_TARGET_EVENTS` rows of each outcome class, so that its AUROC means something.

Target rows come from all three parts: neither the source's generator nor its real-data model
saw any row of another site. Rows whose site is missing belong to no site. Every site left out
is named with its counts in :attr:`SitePlan.notes`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from ehrbench.datasets.base import PreparedDataset

logger = logging.getLogger(__name__)

#: Training rows a site needs to be the source of a cross-site comparison.
MIN_SOURCE_TRAIN_ROWS = 200

#: Rows (all parts) a site needs to be a target.
MIN_TARGET_ROWS = 100

#: Rows of each outcome class a target site needs.
MIN_TARGET_EVENTS = 10


@dataclass(frozen=True)
class SitePlan:
    """The source and target sites of one site column; ``source`` is None when no site qualifies."""

    column: str
    source: str | None
    targets: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def usable(self) -> bool:
        """True when there is a source and at least one target."""
        return self.source is not None and bool(self.targets)

    @property
    def label(self) -> str:
        """Return ``column-source``, the name of the source in cassette names and reports."""
        return f"{self.column}-{self.source}"


def site_values(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return the site of each row as text, NaN where missing.

    A numeric column gives whole numbers without decimals (``146.0`` becomes ``"146"``) and other
    numbers in full (``repr``). Text is kept as it is, so ``"007"`` and ``"7"`` stay two sites.
    """
    if column not in frame.columns:
        raise KeyError(f"column: {column!r} is not a column of the frame; site columns are declared by the dataset")
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        whole = bool(numbers.dropna().mod(1).eq(0).all())
        return numbers.map(lambda number: str(int(number)) if whole else repr(float(number)), na_action="ignore").astype(object)
    return values.map(str, na_action="ignore").astype(object)


def all_rows(prepared: PreparedDataset) -> pd.DataFrame:
    """Return the three parts of ``prepared`` stacked, with a fresh index."""
    return pd.concat([prepared.train, prepared.reference, prepared.test], ignore_index=True)


def plan_sites(prepared: PreparedDataset, column: str) -> SitePlan:
    """Choose the source and target sites of ``column`` as the module describes."""
    counts = site_values(prepared.train, column).value_counts()
    # Ties go to the first site in text order, so the source does not depend on row order.
    train_counts = counts.rename_axis("site").reset_index(name="rows").sort_values(
        ["rows", "site"], ascending=[False, True], kind="stable"
    ).set_index("site")["rows"]
    notes = []
    if train_counts.empty:
        return SitePlan(column, None, (), (f"no training row has a {column}",))

    source = str(train_counts.index[0])
    if int(train_counts.iloc[0]) < MIN_SOURCE_TRAIN_ROWS:
        note = (
            f"the largest {column} site, {source}, has {int(train_counts.iloc[0])} training rows, "
            f"fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs"
        )
        return SitePlan(column, None, (), (note,))

    rows = all_rows(prepared)
    sites = site_values(rows, column)
    labels = rows[prepared.schema.label]
    targets = []
    for site in sorted(set(sites.dropna()) - {source}):
        member = sites == site
        positives = int((labels[member] == 1).sum())
        negatives = int((labels[member] == 0).sum())
        if member.sum() < MIN_TARGET_ROWS or min(positives, negatives) < MIN_TARGET_EVENTS:
            notes.append(
                f"{column} {site}: {int(member.sum())} rows, {positives} positive and {negatives} negative "
                f"(a target needs {MIN_TARGET_ROWS} rows and {MIN_TARGET_EVENTS} of each class)"
            )
        else:
            targets.append(site)
    if not targets:
        notes.append(f"no other {column} site qualifies as a target")
    return SitePlan(column, source, tuple(targets), tuple(notes))


def restrict_to_site(prepared: PreparedDataset, column: str, site: str) -> PreparedDataset:
    """Return ``prepared`` with each part cut to the rows of ``site``; index labels are kept.

    The schema stays that of the whole dataset, so that categories and ranges, which prompts
    show as the data dictionary, and validity checks are the same for every site.
    """
    parts = [part[site_values(part, column) == site] for part in (prepared.train, prepared.reference, prepared.test)]
    if len(parts[0]) == 0:
        raise ValueError(f"site: {column} {site!r} has no training rows; choose one from plan_sites()")
    logger.info("dataset %s restricted to %s %s: %d training rows", prepared.name, column, site, len(parts[0]))
    whole = prepared.whole if prepared.whole is not None else prepared
    return PreparedDataset(prepared.dataset, prepared.schema, *parts, whole=whole)


def target_rows(prepared: PreparedDataset, plan: SitePlan) -> dict[str, pd.DataFrame]:
    """Return the rows (all parts) of each target site of ``plan``, by site."""
    rows = all_rows(prepared)
    sites = site_values(rows, plan.column)
    return {site: rows[sites == site].reset_index(drop=True) for site in plan.targets}
