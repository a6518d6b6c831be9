"""Score one generated table on every criterion's metric.

Fidelity metrics compare the synthetic rows with the real test part. Utility trains XGBoost on
the synthetic rows (TSTR) and on the real training part (TRTR), tests both on the real test
part, and reports the gaps TRTR - TSTR (positive when synthetic training is worse). The gap's
95% interval is TRTR minus the bootstrap interval of TSTR, which treats TRTR as fixed.

Detectability is max(AUROC, 0.5) of a cross-validated classifier telling real test rows
from synthetic ones (0.5 is best). Plausibility is the share of synthetic rows that break one
of the dataset's physiological ranges, logical rules or value sets.

Privacy criteria (:mod:`ehrbench.metrics.privacy`) score every row the generator wrote, the
valid rows plus those rejected as exact copies of training rows, because a copy leaks a
patient whether or not it is scored elsewhere. The members of the membership attacks are the
training rows the generator was shown (an LLM's example rows), or the whole training part.

Diversity criteria (:mod:`ehrbench.metrics.diversity`) and fairness criteria
(:mod:`ehrbench.metrics.fairness`) score the valid rows. The per-group KL divergence applies only
when the group of every synthetic row is known; otherwise it is marked not applicable.

Cross-site generalisation needs rows generated from one site and is scored by the runner.

The validity rate is read from the generation's validity record. A synthetic table that breaks
the schema, or whose row count differs from the record's valid rows, contradicts the record
and leaves the rate unscored. Every other criterion checks the synthetic table itself and
returns no value and a reason when it cannot be scored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from ehrbench.datasets import PreparedDataset
from ehrbench.generators.base import GenerationResult
from ehrbench.metrics import FIDELITY_METRICS, MetricResult, UtilityResult, fit_and_score
from ehrbench.metrics.base import find_table_problems, not_applicable
from ehrbench.metrics.detection import DetectionAUROC
from ehrbench.metrics.diversity import CategoryCoverage, DuplicateRowShare, RangeCoverage
from ehrbench.metrics.fairness import group_auroc_gap, group_kl_divergence
from ehrbench.metrics.plausibility import PlausibilityViolations
from ehrbench.metrics.privacy import MembershipInferenceResult, closest_record_metrics, membership_inference

logger = logging.getLogger(__name__)

#: Seed of every utility model, bootstrap and privacy sample.
UTILITY_SEED = 0

#: Valid synthetic rows below which no criterion but validity is scored: a share, a mean or a
#: distribution estimated from fewer rows passes or fails by chance.
MIN_SCORED_ROWS = 10

#: The coverage metrics, which need only the synthetic rows and the real test part.
COVERAGE_METRICS = (CategoryCoverage, RangeCoverage)


@dataclass
class Evaluator:
    """Scores generated tables of one prepared dataset; caches TRTR per column set."""

    prepared: PreparedDataset
    n_bootstrap: int = 200
    _trtr: dict[tuple[str, ...], UtilityResult] = field(default_factory=dict)
    _plausibility: PlausibilityViolations = field(init=False)

    def __post_init__(self) -> None:
        self._plausibility = PlausibilityViolations.for_dataset(self.prepared.name)

    def trtr(self, columns: tuple[str, ...]) -> UtilityResult:
        """Return TRTR for ``columns``: trained on the real training part, tested on the test part."""
        if columns not in self._trtr:
            schema = self.prepared.schema.select(list(columns))
            self._trtr[columns] = fit_and_score(
                self.prepared.train[schema.names], self.prepared.test, schema, UTILITY_SEED, self.n_bootstrap
            )
        return self._trtr[columns]

    def evaluate(self, generation: GenerationResult) -> dict[str, MetricResult]:
        """Return every metric of ``generation`` by criterion name."""
        schema = generation.schema
        real = self.prepared.test[schema.names]
        results = {"validity_rate": _validity_result(generation)}
        for metric in FIDELITY_METRICS:
            results[metric.name] = metric().compute(real, generation.synthetic, schema)

        tstr = fit_and_score(generation.synthetic, real, schema, UTILITY_SEED, self.n_bootstrap)
        trtr = self.trtr(tuple(schema.feature_names))
        results.update(
            tstr_auroc=tstr.auroc,
            tstr_auprc=tstr.auprc,
            trtr_auroc=trtr.auroc,
            trtr_auprc=trtr.auprc,
            auroc_gap=_gap("auroc_gap", trtr.auroc, tstr.auroc),
            auprc_gap=_gap("auprc_gap", trtr.auprc, tstr.auprc),
        )
        results.update(self.realism(generation))
        results.update(self.privacy(generation))
        results.update(self.diversity(generation))
        results.update(self.fairness(generation, tstr, trtr))
        return _require_rows(results, generation.synthetic)

    def realism(self, generation: GenerationResult) -> dict[str, MetricResult]:
        """Return detectability and the plausibility violation share."""
        schema = generation.schema
        real = self.prepared.test[schema.names]
        detection = DetectionAUROC(seed=UTILITY_SEED).compute(real, generation.synthetic, schema)
        detectability = MetricResult(
            "detectability",
            detection.details.get("detectability") if detection.value is not None else None,
            reason=detection.reason,
            details={"auroc": detection.value, **detection.details},
        )
        return {
            "detectability": detectability,
            "plausibility_violations": self._plausibility.compute(real, generation.synthetic, schema),
        }

    def privacy(self, generation: GenerationResult) -> dict[str, MetricResult]:
        """Return the closest-record metrics and the membership attack AUROCs."""
        schema = generation.schema
        prepared = self.prepared
        emitted = generation.emitted()
        closest = closest_record_metrics(prepared.train, prepared.reference, emitted, schema, UTILITY_SEED)
        members = prepared.train if generation.seen_rows is None else generation.seen_rows
        if len(members) == 0:
            reason = "the generator was shown no training row, so there is no member to attack"
            attacks = MembershipInferenceResult(
                not_applicable("mia_distance_auroc", reason), not_applicable("mia_density_auroc", reason)
            )
        else:
            attacks = membership_inference(
                members, prepared.test, emitted, schema, UTILITY_SEED, reference=prepared.reference
            )
        results = {
            "dcr_ratio": closest.dcr_ratio,
            "nndr_ratio": closest.nndr_ratio,
            "exact_copy_rate": closest.exact_copy_rate,
            "near_copy_rate": closest.near_copy_rate,
            "exact_copy_excess": _excess(closest.exact_copy_rate),
        }
        for name, attack in (("mia_distance_auroc", attacks.distance_attack), ("mia_density_auroc", attacks.density_attack)):
            summary = {"advantage": attack.details.get("advantage"), "members": attack.details.get("n_members")}
            results[name] = MetricResult(
                name, attack.value, attack.reason, attack.low, attack.high, {**attack.details, "summary": summary}
            )
        return results

    def diversity(self, generation: GenerationResult) -> dict[str, MetricResult]:
        """Return the duplicate-row excess and the category and range coverage.

        The duplicate-row excess is the synthetic table's duplicate share minus that of a seeded
        sample of as many real test rows: on five binary columns, a hundred real patients
        repeat each other too. Range [-1, 1), lower is better.
        """
        schema = generation.schema
        real = self.prepared.test[schema.names]
        results = {metric.name: metric().compute(real, generation.synthetic, schema) for metric in COVERAGE_METRICS}
        share = DuplicateRowShare().compute(real, generation.synthetic, schema)
        if share.value is None:
            results["duplicate_row_excess"] = MetricResult("duplicate_row_excess", None, share.reason, details=share.details)
            return results
        sample = real.sample(n=min(len(real), len(generation.synthetic)), random_state=UTILITY_SEED)
        real_share = DuplicateRowShare().compute(real, sample, schema).value
        summary = {"share": share.value, "real_share_same_size": real_share}
        results["duplicate_row_excess"] = MetricResult(
            "duplicate_row_excess", share.value - real_share, details={**share.details, "summary": summary}
        )
        return results

    def fairness(self, generation: GenerationResult, tstr: UtilityResult, trtr: UtilityResult) -> dict[str, MetricResult]:
        """Return the worst per-group KL divergence and the per-group TSTR AUROC gap."""
        schema = generation.schema
        columns = list(self.prepared.dataset.group_columns)
        if not columns:
            reason = f"dataset {self.prepared.name!r} declares no demographic group columns"
            return {name: not_applicable(name, reason) for name in ("group_kl_worst", "group_auroc_gap")}
        real = self.prepared.test

        if tstr.probabilities is None:
            auroc_gap = MetricResult("group_auroc_gap", None, reason=f"TSTR could not be scored: {tstr.auroc.reason}")
        else:
            labels = real[schema.label].to_numpy(dtype=int)
            auroc_gap = group_auroc_gap(labels, tstr.probabilities, real, columns, trtr.probabilities)

        groups = _synthetic_groups(generation, columns)
        if groups is None:
            stated = " and ".join(columns)
            if generation.strategy == "external":
                cause = f"add the columns {stated} to the table to score it"
            else:
                cause = (
                    f"the {generation.strategy} strategy at this feature set does not generate them (the group "
                    "strategy, the reference generators and feature sets that include them do)"
                )
            kl = not_applicable("group_kl_worst", f"the synthetic rows do not state {stated}: {cause}")
        else:
            kl = group_kl_divergence(real, generation.synthetic, groups, schema, columns)
        return {"group_kl_worst": kl, "group_auroc_gap": auroc_gap}


def _require_rows(results: dict[str, MetricResult], synthetic: object) -> dict[str, MetricResult]:
    """Unscore every criterion but validity when the synthetic table has too few rows to judge."""
    if not isinstance(synthetic, pd.DataFrame) or len(synthetic) >= MIN_SCORED_ROWS:
        return results
    reason = (
        f"the synthetic table has {len(synthetic)} rows, fewer than the {MIN_SCORED_ROWS} that every "
        "criterion but validity needs"
    )
    return {
        name: result if name == "validity_rate" or result.value is None
        else MetricResult(name, None, reason=reason, details={**result.details, "value_with_too_few_rows": result.value})
        for name, result in results.items()
    }


def _synthetic_groups(generation: GenerationResult, columns: list[str]) -> pd.DataFrame | None:
    """Return the group columns of the synthetic rows, or None when some are unknown.

    Group columns of the schema come from ``synthetic`` and the others from ``groups``, matched
    by position. Where ``synthetic`` is not a DataFrame or lacks a group column, that column is
    left empty, and group_kl_divergence reports the invalid table. Raises ValueError when
    ``groups`` has another row count than ``synthetic``.
    """
    synthetic = generation.synthetic
    groups = generation.groups
    table = synthetic if isinstance(synthetic, pd.DataFrame) else pd.DataFrame()
    if groups is not None and isinstance(synthetic, pd.DataFrame) and len(groups) != len(synthetic):
        raise ValueError(
            f"generation.groups: expected one row per synthetic row ({len(synthetic)}), got {len(groups)} "
            "rows; keep the group values of exactly the rows in generation.synthetic"
        )

    known = {}
    for name in columns:
        if name in generation.schema.names:
            known[name] = table[name] if name in table.columns else pd.Series(dtype=object)
        elif groups is not None and name in groups.columns:
            known[name] = groups[name]
        else:
            return None
    return pd.concat({name: values.reset_index(drop=True) for name, values in known.items()}, axis=1)


def _excess(rate: MetricResult) -> MetricResult:
    """Return the exact-copy rate minus that of unseen real rows (chance matches on few columns)."""
    name = "exact_copy_excess"
    if rate.value is None:
        return MetricResult(name, None, reason=rate.reason, details=rate.details)
    reference = rate.details["reference_rate"]
    summary = {"rate": rate.value, "reference_rate": reference}
    return MetricResult(name, rate.value - reference, details={**rate.details, "summary": summary})


def _validity_result(generation: GenerationResult) -> MetricResult:
    """Return the validity rate of the record, or no value when the synthetic rows contradict it.

    The record counts the rows that passed the schema checks, and ``synthetic`` must contain
    exactly those rows. An empty table is no contradiction when the record counts 0 valid rows.
    """
    validity = generation.validity
    synthetic = generation.synthetic
    schema = generation.schema
    problems = []
    if not isinstance(synthetic, pd.DataFrame) or len(synthetic):
        problems = find_table_problems(synthetic, schema, schema.names, argument="synthetic")
    if isinstance(synthetic, pd.DataFrame) and len(synthetic) != validity.valid:
        problems.append(f"synthetic has {len(synthetic)} rows, but the record counts {validity.valid} valid rows")
    if problems:
        reason = "the synthetic table contradicts the validity record: " + "; ".join(problems)
        logger.warning("metric validity_rate could not be scored: %s", reason)
        return MetricResult("validity_rate", None, reason=reason, details={**validity.to_dict(), "problems": problems})
    return MetricResult("validity_rate", validity.rate, details=validity.to_dict())


def _gap(name: str, real: MetricResult, synthetic: MetricResult) -> MetricResult:
    if real.value is None:
        return MetricResult(name, None, reason=f"TRTR could not be scored: {real.reason}")
    if synthetic.value is None:
        return MetricResult(name, None, reason=f"TSTR could not be scored: {synthetic.reason}")
    low = real.value - synthetic.high if synthetic.high is not None else None
    high = real.value - synthetic.low if synthetic.low is not None else None
    details = {"trtr": real.value, "tstr": synthetic.value, "tstr_low": synthetic.low, "tstr_high": synthetic.high}
    return MetricResult(name, real.value - synthetic.value, low=low, high=high, details={**details, "summary": details})
