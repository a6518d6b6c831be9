"""Score one generated table on every criterion's metric.

Fidelity metrics compare the synthetic rows with the real test part. Utility trains XGBoost on
the synthetic rows (TSTR) and on the real training part (TRTR), tests both on the real test
part, and reports the gaps TRTR - TSTR (positive when synthetic training is worse). The gap's
95% interval is TRTR minus the bootstrap interval of TSTR, which treats TRTR as fixed.

Detectability is max(AUROC, 1 - AUROC) of a cross-validated classifier telling real test rows
from synthetic ones (0.5 is best). Plausibility is the share of synthetic rows that break one
of the dataset's physiological ranges, logical rules or value sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ehrbench.datasets import PreparedDataset
from ehrbench.generators.base import GenerationResult
from ehrbench.metrics import FIDELITY_METRICS, MetricResult, UtilityResult, fit_and_score
from ehrbench.metrics.detection import DetectionAUROC
from ehrbench.metrics.plausibility import PlausibilityViolations

#: Seed of every utility model and bootstrap.
UTILITY_SEED = 0


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
        detection = DetectionAUROC(seed=UTILITY_SEED).compute(real, generation.synthetic, schema)
        results["detectability"] = MetricResult(
            "detectability",
            detection.details.get("detectability") if detection.value is not None else None,
            reason=detection.reason,
            details={"auroc": detection.value, **detection.details},
        )
        results["plausibility_violations"] = self._plausibility.compute(real, generation.synthetic, schema)

        results.update(
            tstr_auroc=tstr.auroc,
            tstr_auprc=tstr.auprc,
            trtr_auroc=trtr.auroc,
            trtr_auprc=trtr.auprc,
            auroc_gap=_gap("auroc_gap", trtr.auroc, tstr.auroc),
            auprc_gap=_gap("auprc_gap", trtr.auprc, tstr.auprc),
        )
        return results


def _validity_result(generation: GenerationResult) -> MetricResult:
    validity = generation.validity
    return MetricResult("validity_rate", validity.rate, details=validity.to_dict())


def _gap(name: str, real: MetricResult, synthetic: MetricResult) -> MetricResult:
    if real.value is None:
        return MetricResult(name, None, reason=f"TRTR could not be scored: {real.reason}")
    if synthetic.value is None:
        return MetricResult(name, None, reason=f"TSTR could not be scored: {synthetic.reason}")
    low = real.value - synthetic.high if synthetic.high is not None else None
    high = real.value - synthetic.low if synthetic.low is not None else None
    details = {"trtr": real.value, "tstr": synthetic.value, "tstr_low": synthetic.low, "tstr_high": synthetic.high}
    return MetricResult(name, real.value - synthetic.value, low=low, high=high, details=details)
