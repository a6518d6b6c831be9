"""Fidelity and utility metrics of a synthetic table against a real one.

Every metric has a ``name``, a ``goal`` (``"minimize"`` or ``"maximize"``), a range
``[min_value, max_value]`` and ``compute(real, synthetic, schema) -> MetricResult``.
"""

from __future__ import annotations

from ehrbench.metrics.base import Metric, MetricResult
from ehrbench.metrics.correlation import CorrelationDifference
from ehrbench.metrics.kl_divergence import KLDivergence
from ehrbench.metrics.ks_statistic import KSStatistic
from ehrbench.metrics.total_variation import TotalVariation
from ehrbench.metrics.utility import TSTRAUPRC, TSTRAUROC, UtilityResult, fit_and_score

#: The fidelity metrics, which compare column distributions and need no model.
FIDELITY_METRICS: tuple[type[Metric], ...] = (
    KLDivergence,
    KSStatistic,
    TotalVariation,
    CorrelationDifference,
)

__all__ = [
    "FIDELITY_METRICS",
    "CorrelationDifference",
    "KLDivergence",
    "KSStatistic",
    "Metric",
    "MetricResult",
    "TSTRAUPRC",
    "TSTRAUROC",
    "TotalVariation",
    "UtilityResult",
    "fit_and_score",
]
