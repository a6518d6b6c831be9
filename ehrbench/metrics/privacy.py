"""Privacy metrics: how close synthetic rows come to training rows, and membership inference.

All distances are the mixed-type distance of :mod:`ehrbench.metrics.distance` over every
schema column (label included), with numeric scales fitted on the training part. The real
parts of a prepared dataset play three roles:

- ``train``: the rows prompts may show, so the rows a generator could copy;
- ``reference``: real rows no prompt showed. Their distances to ``train`` are the baseline that
  a generator with no access to ``train`` would reach, and the membership attacks use them as
  the attacker's sample of the population;
- ``test``: real rows no prompt showed, the non-members of the membership attacks.

Closest-record metrics (:func:`closest_record_metrics`), one search for the two nearest
training rows of each synthetic row and each reference row:

- DCR ratio: median distance to the closest training record (DCR) of the synthetic rows,
  divided by the same median of the reference rows. Range [0, inf), higher is better. About 1
  means synthetic rows are no closer to training rows than unseen real rows are.
- NNDR ratio: the same ratio of medians of the nearest-neighbour distance ratio (closest
  distance / second-closest distance, in [0, 1]). Range [0, inf), higher is better.
- exact-copy rate: fraction of synthetic rows equal to a training row on every column, with
  numbers compared after rounding to 6 significant digits (the key with which
  :mod:`ehrbench.parsing.validity` rejects copies), so that a value written back from a prompt
  as 0.627 copies a stored 0.62699999. Range [0, 1], lower is better.
- near-copy rate: fraction of synthetic rows whose DCR is below the 5th percentile of the
  reference rows' DCR. Range [0, 1], lower is better. A generator as private as the reference
  part scores about 0.05 or less (less when ties put many reference rows at the percentile).

Membership inference (:func:`membership_inference`): members are a seeded sample of training
rows and non-members an equal-size sample of the test part. Each attack gives every candidate a
score, higher meaning "member", and is judged by AUROC (range [0, 1], lower is better, 0.5 is
chance) and by membership advantage, max |TPR - FPR| over the thresholds of the ROC curve.

- distance attack: the score is minus the distance to the closest synthetic row.
- density attack: a k-nearest-neighbour version of the density-ratio attack DOMIAS (van Breugel
  et al. 2023, arXiv:2302.12580). The score is log(d_population + eps) - log(d_synthetic + eps), where
  d_synthetic is the distance to the closest synthetic row and d_population the distance to
  the k-th closest reference row, k = max(1, round(n_reference / n_synthetic)), so that both
  distances cover about the same share of their table. The score grows with the estimated
  density of synthetic rows relative to real rows at the candidate, which corrects the distance
  attack for candidates that are simply typical (close to every table).

The density attack replaces a shadow-model attack. Shadow models need the generator rerun on
known training sets, which costs a full set of LLM requests per shadow. A classifier of
synthetic against reference rows would need no rerun, but it measures the shift of the whole
distribution (which hits members and non-members alike) and cannot see single copied rows.

Intervals: the closest-record metrics have a 95% bootstrap percentile interval over the
synthetic rows (:data:`N_BOOTSTRAP` resamples), with the reference rows held fixed. The attack
AUROCs have the 95% normal interval of Hanley and McNeil (Radiology 1982;143:29-36), an approximation that
assumes roughly exponential score distributions.

Every function checks the real parts strictly (:func:`ehrbench.metrics.base.check_real`). A
synthetic table that is invalid or has fewer than :data:`MIN_SYNTHETIC_ROWS` rows gives results
with ``value=None`` and a reason. Rows are sampled from a table after ordering them by content
hash, so results do not depend on the row order of any table.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from ehrbench.metrics.base import (
    Goal,
    MetricResult,
    check_real,
    check_schema,
    coerce_columns,
    find_table_problems,
    not_applicable,
    order_by_content,
)
from ehrbench.metrics.distance import fit_scales, nearest_distances
from ehrbench.metrics.diversity import row_keys
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Minimum number of synthetic rows: with 10 rows the distribution-free 95% interval of a
#: median already spans order statistics 2 to 9, most of the sample.
MIN_SYNTHETIC_ROWS = 10

#: Maximum rows sampled from the reference part and, per class, membership candidates. It bounds
#: the time on large datasets. RHC parts (1,147 rows) are used whole.
MAX_SAMPLED_ROWS = 2000

#: Percentile of the reference rows' DCR below which a synthetic row is a near copy.
NEAR_COPY_QUANTILE = 0.05

#: Bootstrap resamples of the synthetic rows behind the 95% intervals of the closest-record metrics.
N_BOOTSTRAP = 200

#: z value of a two-sided 95% normal interval, for the attack AUROC.
_Z_95 = 1.959964

#: Added to distances before the logarithm of the density attack, so that 0 stays finite.
DENSITY_EPSILON = 1e-6


@dataclass(frozen=True)
class ClosestRecordResult:
    """The four closest-record metrics of one synthetic table, from one neighbour search."""

    dcr_ratio: MetricResult
    nndr_ratio: MetricResult
    exact_copy_rate: MetricResult
    near_copy_rate: MetricResult


@dataclass(frozen=True)
class MembershipInferenceResult:
    """AUROC of the distance attack and of the density attack on the same candidates."""

    distance_attack: MetricResult
    density_attack: MetricResult


def closest_record_metrics(
    train: pd.DataFrame, reference: pd.DataFrame, synthetic: Any, schema: TableSchema, seed: int = 0
) -> ClosestRecordResult:
    """Compute DCR ratio, NNDR ratio, exact-copy and near-copy rates of ``synthetic``.

    ``train`` (at least 2 rows) and ``reference`` are real parts. ``seed`` draws the reference
    rows when there are more than :data:`MAX_SAMPLED_ROWS`. The module docstring defines the
    metrics.
    """
    check_schema(schema)
    _check_seed(seed)
    train_frame = _check_part(train, schema, "train", minimum_rows=2)
    reference_frame = _check_part(reference, schema, "reference", minimum_rows=1)
    synthetic_frame, reason = _check_synthetic(synthetic, schema)
    if synthetic_frame is None:
        return ClosestRecordResult(*(_unscored(f.name, reason) for f in fields(ClosestRecordResult)))

    rng = np.random.default_rng(seed)
    baseline = _sample_rows(reference_frame, MAX_SAMPLED_ROWS, rng)
    scales = fit_scales(train_frame, schema)
    synthetic_nearest = nearest_distances(synthetic_frame, train_frame, schema, scales, k=2)
    reference_nearest = nearest_distances(baseline, train_frame, schema, scales, k=2)

    synthetic_dcr = synthetic_nearest[:, 0]
    reference_dcr = reference_nearest[:, 0]
    counts = {"n_synthetic": len(synthetic_frame), "n_reference": len(baseline), "n_train": len(train_frame)}
    threshold = float(np.quantile(reference_dcr, NEAR_COPY_QUANTILE))
    near_details = {**counts, "threshold": threshold, "reference_rate": float(np.mean(reference_dcr < threshold))}
    train_keys = set(row_keys(train_frame, schema, schema.names))
    synthetic_copies = np.array([key in train_keys for key in row_keys(synthetic_frame, schema, schema.names)])
    reference_copies = np.array([key in train_keys for key in row_keys(baseline, schema, schema.names)])
    exact_details = {**counts, "reference_rate": float(np.mean(reference_copies))}

    return ClosestRecordResult(
        dcr_ratio=_ratio_of_medians("dcr_ratio", synthetic_dcr, reference_dcr, counts, rng),
        nndr_ratio=_ratio_of_medians(
            "nndr_ratio", _nndr(synthetic_nearest), _nndr(reference_nearest), counts, rng
        ),
        exact_copy_rate=_rate("exact_copy_rate", synthetic_copies, exact_details, rng),
        near_copy_rate=_rate("near_copy_rate", synthetic_dcr < threshold, near_details, rng),
    )


def membership_inference(
    train: pd.DataFrame,
    test: pd.DataFrame,
    synthetic: Any,
    schema: TableSchema,
    seed: int,
    *,
    reference: pd.DataFrame,
) -> MembershipInferenceResult:
    """Run the distance attack and the density attack against ``synthetic``.

    Members are drawn from ``train`` and non-members from ``test``, n = min(len(train),
    len(test), :data:`MAX_SAMPLED_ROWS`) of each, with ``numpy.random.default_rng(seed)``.
    ``reference`` is the attacker's population sample (at most :data:`MAX_SAMPLED_ROWS` rows are
    drawn). ``train`` may also be only the rows that prompts showed, to measure whether those
    rows can be distinguished from unseen rows. Scales are fitted on ``train``.
    """
    check_schema(schema)
    _check_seed(seed)
    train_frame = _check_part(train, schema, "train", minimum_rows=1)
    test_frame = _check_part(test, schema, "test", minimum_rows=1)
    reference_frame = _check_part(reference, schema, "reference", minimum_rows=1)
    synthetic_frame, reason = _check_synthetic(synthetic, schema)
    if synthetic_frame is None:
        return MembershipInferenceResult(
            _unscored("mia_distance_auroc", reason), _unscored("mia_density_auroc", reason)
        )

    rng = np.random.default_rng(seed)
    n_candidates = min(len(train_frame), len(test_frame), MAX_SAMPLED_ROWS)
    members = _sample_rows(train_frame, n_candidates, rng)
    non_members = _sample_rows(test_frame, n_candidates, rng)
    population = _sample_rows(reference_frame, MAX_SAMPLED_ROWS, rng)
    candidates = pd.concat([members, non_members], ignore_index=True)
    labels = np.repeat([1, 0], n_candidates)

    scales = fit_scales(train_frame, schema)
    k_population = min(len(population), max(1, round(len(population) / len(synthetic_frame))))
    synthetic_distance = nearest_distances(candidates, synthetic_frame, schema, scales, k=1)[:, 0]
    population_distance = nearest_distances(candidates, population, schema, scales, k=k_population)[:, -1]
    density_score = np.log(population_distance + DENSITY_EPSILON) - np.log(synthetic_distance + DENSITY_EPSILON)

    details = {
        "n_members": n_candidates,
        "n_non_members": n_candidates,
        "n_synthetic": len(synthetic_frame),
        "n_population": len(population),
        "k_population": k_population,
        "member_median_distance": float(np.median(synthetic_distance[labels == 1])),
        "non_member_median_distance": float(np.median(synthetic_distance[labels == 0])),
    }
    return MembershipInferenceResult(
        _attack_result("mia_distance_auroc", labels, -synthetic_distance, details),
        _attack_result("mia_density_auroc", labels, density_score, details),
    )


class PrivacyMetric(ABC):
    """A privacy metric of a synthetic table against the real parts of a prepared dataset.

    Every subclass takes the same inputs, so that all can be called in one loop, and checks
    all three real parts, also the one it does not use, so that all give the same verdict.
    """

    #: Identifier used in results, thresholds and reports.
    name: ClassVar[str]
    #: Whether lower (``minimize``) or higher (``maximize``) values are better.
    goal: ClassVar[Goal]
    #: Smallest possible value.
    min_value: ClassVar[float]
    #: Largest possible value (may be ``inf``).
    max_value: ClassVar[float]

    def __init__(self, seed: int = 0) -> None:
        _check_seed(seed)
        self.seed = seed

    @abstractmethod
    def compute(
        self,
        train: pd.DataFrame,
        reference: pd.DataFrame,
        test: pd.DataFrame,
        synthetic: Any,
        schema: TableSchema,
    ) -> MetricResult:
        """Score ``synthetic`` against the real parts ``train``, ``reference`` and ``test``."""


class _ClosestRecordMetric(PrivacyMetric):
    """Base of the metrics read from :func:`closest_record_metrics` (``test`` is only checked)."""

    def compute(
        self,
        train: pd.DataFrame,
        reference: pd.DataFrame,
        test: pd.DataFrame,
        synthetic: Any,
        schema: TableSchema,
    ) -> MetricResult:
        """Run one neighbour search. Call :func:`closest_record_metrics` to read all four at once."""
        check_schema(schema)
        _check_part(test, schema, "test", minimum_rows=1)
        return getattr(closest_record_metrics(train, reference, synthetic, schema, self.seed), self.name)


class DCR(_ClosestRecordMetric):
    """Median DCR of the synthetic rows over that of the reference rows. Range [0, inf), higher is better."""

    name = "dcr_ratio"
    goal = "maximize"
    min_value = 0.0
    max_value = float("inf")


class NNDR(_ClosestRecordMetric):
    """Median NNDR of the synthetic rows over that of the reference rows. Range [0, inf), higher is better."""

    name = "nndr_ratio"
    goal = "maximize"
    min_value = 0.0
    max_value = float("inf")


class ExactCopyRate(_ClosestRecordMetric):
    """Fraction of synthetic rows equal to a training row on every column. Range [0, 1], lower is better."""

    name = "exact_copy_rate"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0


class NearCopyRate(_ClosestRecordMetric):
    """Fraction of synthetic rows closer to training than 95% of reference rows. Range [0, 1], lower is better."""

    name = "near_copy_rate"
    goal = "minimize"
    min_value = 0.0
    max_value = 1.0


class _MembershipMetric(PrivacyMetric):
    """Base of the attack AUROCs read from :func:`membership_inference`."""

    goal = "minimize"
    min_value = 0.0
    max_value = 1.0
    #: Field of :class:`MembershipInferenceResult` that the metric returns.
    field_name: ClassVar[str]

    def compute(
        self,
        train: pd.DataFrame,
        reference: pd.DataFrame,
        test: pd.DataFrame,
        synthetic: Any,
        schema: TableSchema,
    ) -> MetricResult:
        """Run both attacks. Call :func:`membership_inference` to read both at once."""
        result = membership_inference(train, test, synthetic, schema, self.seed, reference=reference)
        return getattr(result, self.field_name)


class DistanceAttackAUROC(_MembershipMetric):
    """AUROC of the distance membership attack. Range [0, 1], lower is better, 0.5 is chance."""

    name = "mia_distance_auroc"
    field_name = "distance_attack"


class DensityAttackAUROC(_MembershipMetric):
    """AUROC of the density-ratio membership attack. Range [0, 1], lower is better, 0.5 is chance."""

    name = "mia_density_auroc"
    field_name = "density_attack"


#: Every privacy metric, in report order.
PRIVACY_METRICS: tuple[type[PrivacyMetric], ...] = (
    DCR,
    NNDR,
    ExactCopyRate,
    NearCopyRate,
    DistanceAttackAUROC,
    DensityAttackAUROC,
)


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")


def _check_part(frame: object, schema: TableSchema, argument: str, minimum_rows: int) -> pd.DataFrame:
    checked = check_real(frame, schema, schema.names, argument=argument)
    if len(checked) < minimum_rows:
        raise ValueError(f"{argument}: expected at least {minimum_rows} rows, got {len(checked)}")
    return checked


def _check_synthetic(synthetic: object, schema: TableSchema) -> tuple[pd.DataFrame | None, str]:
    """Return the coerced synthetic table and "", or None and the reason it cannot be scored."""
    problems = find_table_problems(synthetic, schema, schema.names, argument="synthetic")
    if problems:
        return None, "invalid synthetic table: " + "; ".join(problems)
    if len(synthetic) < MIN_SYNTHETIC_ROWS:
        return None, f"the synthetic table has {len(synthetic)} rows, fewer than {MIN_SYNTHETIC_ROWS}"
    return coerce_columns(synthetic, schema, schema.names), ""


def _sample_rows(frame: pd.DataFrame, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """Return ``count`` rows drawn without replacement, or all rows when there are not more.

    Rows are ordered by content hash before drawing, so the sample does not depend on row order.
    """
    if count >= len(frame):
        return frame.reset_index(drop=True)
    chosen = np.sort(rng.choice(len(frame), size=count, replace=False))
    return order_by_content(frame).iloc[chosen].reset_index(drop=True)


def _nndr(nearest: np.ndarray) -> np.ndarray:
    """Return closest / second-closest distance per row, and 1.0 where both are 0."""
    ratio = np.ones(len(nearest))
    positive = nearest[:, 1] > 0.0
    ratio[positive] = nearest[positive, 0] / nearest[positive, 1]
    return ratio


def _ratio_of_medians(
    name: str, synthetic: np.ndarray, reference: np.ndarray, counts: dict[str, int], rng: np.random.Generator
) -> MetricResult:
    synthetic_median = float(np.median(synthetic))
    reference_median = float(np.median(reference))
    details = {**counts, "synthetic_median": synthetic_median, "reference_median": reference_median}
    if reference_median == 0.0:
        reason = (
            "the median of the reference rows is 0, so at least half of the unseen real rows equal a "
            "training row on these columns and a ratio has no meaning"
        )
        return not_applicable(name, reason, **details)

    low, high = _bootstrap_interval(synthetic, np.median, rng) / reference_median
    return MetricResult(name, synthetic_median / reference_median, low=low, high=high, details=details)


def _rate(name: str, flags: np.ndarray, details: dict[str, Any], rng: np.random.Generator) -> MetricResult:
    low, high = _bootstrap_interval(flags.astype(float), np.mean, rng)
    return MetricResult(name, float(np.mean(flags)), low=low, high=high, details=details)


def _bootstrap_interval(values: np.ndarray, statistic: Callable[[np.ndarray], float], rng: np.random.Generator) -> np.ndarray:
    """Return the 95% percentile interval of ``statistic`` over resamples of ``values``, as [low, high]."""
    ordered = np.sort(values)  # so that the interval does not depend on row order
    samples = [statistic(ordered[rng.integers(0, len(ordered), len(ordered))]) for _ in range(N_BOOTSTRAP)]
    return np.percentile(samples, [2.5, 97.5])


def _attack_result(name: str, labels: np.ndarray, scores: np.ndarray, details: dict[str, Any]) -> MetricResult:
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    advantage = float(np.max(np.abs(true_positive_rate - false_positive_rate)))
    auroc = float(roc_auc_score(labels, scores))

    # Standard error of Hanley and McNeil (1982) with members as positives, non-members as negatives.
    n_positive, n_negative = int(labels.sum()), int(len(labels) - labels.sum())
    q1 = auroc / (2.0 - auroc)
    q2 = 2.0 * auroc**2 / (1.0 + auroc)
    variance = (
        auroc * (1.0 - auroc) + (n_positive - 1) * (q1 - auroc**2) + (n_negative - 1) * (q2 - auroc**2)
    ) / (n_positive * n_negative)
    half_width = _Z_95 * float(np.sqrt(max(variance, 0.0)))
    low, high = max(0.0, auroc - half_width), min(1.0, auroc + half_width)
    return MetricResult(name, auroc, low=low, high=high, details={**details, "advantage": advantage})


def _unscored(name: str, reason: str, **details: Any) -> MetricResult:
    logger.warning("metric %s could not be scored: %s", name, reason)
    return MetricResult(name, None, reason=reason, details=details)
