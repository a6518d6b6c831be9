"""Check that the reference generators order as expected on every criterion.

The three reference generators bracket what a synthesizer can reach. ``real-holdout`` returns
real rows no prompt showed, ``gaussian-copula`` keeps marginals and linear dependence, and
``independent-marginals`` keeps only marginals. Each should score at least as well as the next,
and a criterion that orders them otherwise measures something other than its name.

Two kinds of criteria expect no order, and the check is that all three generators pass:
privacy criteria, because none of the three copies training rows, and the duplicate-row excess,
because independently drawn columns repeat rows less often than real patients do.

Two generators are told apart on a criterion when their mean values over replicates differ by
more than twice the standard error of the difference, sqrt(sd_a^2 / n_a + sd_b^2 / n_b), and by
more than :data:`PRACTICAL_SHARE` of the threshold. Closer means count as a tie, which never
breaks the order. The second condition matters for ``real-holdout``: its replicates draw from
the same reference part, so their spread leaves out that part's own sampling error.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass

from ehrbench.criteria import Threshold, Verdict
from ehrbench.runner import BASELINE_GENERATORS, NO_STRATEGY, BenchCase, BenchmarkRunner

logger = logging.getLogger(__name__)

#: Family whose criteria expect no order among the reference generators.
UNORDERED_FAMILY = "privacy"

#: Other criteria that expect no order among the reference generators.
UNORDERED_CRITERIA = ("duplicate_row_excess",)

#: Differences below this share of the threshold have no practical meaning and count as ties.
PRACTICAL_SHARE = 0.05


@dataclass(frozen=True)
class OrderingRow:
    """One criterion at one feature set: the values of each reference generator and the verdict."""

    criterion: str
    feature_set: str
    values: dict[str, list[float]]
    passed: dict[str, int]
    verdict: str

    def mean(self, generator: str) -> float | None:
        values = self.values.get(generator, [])
        return statistics.fmean(values) if values else None

    def spread(self, generator: str) -> float:
        values = self.values.get(generator, [])
        return statistics.stdev(values) if len(values) > 1 else 0.0


def order_verdict(values: dict[str, list[float]], threshold: Threshold) -> str:
    """Return ``as expected``, ``reversed: A before B`` or ``not scored`` for ordered criteria."""
    if any(not values.get(name) for name in BASELINE_GENERATORS):
        return "not scored"
    sign = 1.0 if threshold.goal == "minimize" else -1.0
    pairs = zip(BASELINE_GENERATORS, BASELINE_GENERATORS[1:])
    reversed_pairs = []
    ties = []
    for better, worse in pairs:
        difference = sign * (statistics.fmean(values[worse]) - statistics.fmean(values[better]))
        error = math.sqrt(_variance_of_mean(values[better]) + _variance_of_mean(values[worse]))
        if abs(difference) <= max(2 * error, PRACTICAL_SHARE * abs(threshold.threshold)):
            ties.append(f"{better} ~ {worse}")
        elif difference < 0:
            reversed_pairs.append(f"{worse} before {better}")
    if reversed_pairs:
        return "reversed: " + ", ".join(reversed_pairs)
    return "as expected" + (f" ({'; '.join(ties)})" if ties else "")


def _variance_of_mean(values: list[float]) -> float:
    return statistics.variance(values) / len(values) if len(values) > 1 else 0.0


def reference_ordering(
    runner: BenchmarkRunner,
    dataset: str,
    thresholds: dict[str, Threshold],
    feature_sets: list[str],
    rows: int,
    replicates: int,
) -> list[OrderingRow]:
    """Score the reference generators and return one :class:`OrderingRow` per criterion and feature set."""
    table = []
    for feature_set in feature_sets:
        for criterion, threshold in thresholds.items():
            values: dict[str, list[float]] = {}
            passed: dict[str, int] = {}
            for generator in BASELINE_GENERATORS:
                results = [
                    runner.result(BenchCase(dataset, generator, NO_STRATEGY, feature_set, rows, replicate), criterion)
                    for replicate in range(replicates)
                ]
                results = [result for result in results if result.applicable]
                values[generator] = [result.value for result in results if result.value is not None]
                passed[generator] = sum(Verdict(threshold, result).passed for result in results)
            if not any(values.values()):
                logger.info("%s %s: not scored or not applicable", criterion, feature_set)
                continue
            if threshold.family == UNORDERED_FAMILY or criterion in UNORDERED_CRITERIA:
                total = replicates * len(BASELINE_GENERATORS)
                verdict = "all pass" if sum(passed.values()) == total else "not all pass"
            else:
                verdict = order_verdict(values, threshold)
            table.append(OrderingRow(criterion, feature_set, values, passed, verdict))
    return table


def render_ordering(table: list[OrderingRow], dataset: str, rows: int, replicates: int) -> str:
    """Return the table as Markdown: mean ± sd per generator, passes, and the verdict."""
    header = ["criterion", "features"] + list(BASELINE_GENERATORS) + ["verdict"]
    lines = [
        f"Reference generators on {dataset}, {rows} rows per case, {replicates} replicates "
        "(mean ± sd; passed replicates in brackets)",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] * len(header)) + " |",
    ]
    for row in table:
        cells = [row.criterion, row.feature_set]
        for generator in BASELINE_GENERATORS:
            mean = row.mean(generator)
            cells.append("n/a" if mean is None else f"{mean:.3f} ± {row.spread(generator):.3f} [{row.passed[generator]}]")
        cells.append(row.verdict)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
