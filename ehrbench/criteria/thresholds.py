"""Thresholds of the benchmark criteria and the pass/fail verdict of one value."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ehrbench.metrics import MetricResult

GOALS = ("maximize", "minimize")


@dataclass(frozen=True)
class Threshold:
    """The bound a criterion's value must meet, its direction, and the reason for it."""

    criterion: str
    goal: str
    threshold: float
    reason: str
    #: Group of criteria that reports show together, such as ``fidelity`` or ``privacy``.
    family: str = "other"

    def passes(self, value: float) -> bool:
        """Return True when ``value`` meets the threshold in the criterion's direction."""
        if self.goal == "maximize":
            return value >= self.threshold
        return value <= self.threshold

    def describe(self) -> str:
        sign = ">=" if self.goal == "maximize" else "<="
        return f"{self.criterion} {sign} {self.threshold:g}"


@dataclass(frozen=True)
class Verdict:
    """A criterion judged on one case: the metric result and whether it passed.

    ``passed`` is False when the metric could not be scored; ``reason`` then says why.
    """

    threshold: Threshold
    result: MetricResult

    @property
    def passed(self) -> bool:
        return self.result.value is not None and self.threshold.passes(self.result.value)

    @property
    def message(self) -> str:
        if self.result.value is None:
            return f"{self.threshold.criterion} could not be scored: {self.result.reason}"
        verdict = "meets" if self.passed else "fails"
        return f"{self.threshold.criterion} = {self.result.value:.4f} {verdict} {self.threshold.describe()}"


def load_thresholds(path: str | Path | None = None) -> dict[str, Threshold]:
    """Read the thresholds file (the packaged ``thresholds.toml`` when ``path`` is None)."""
    if path is None:
        text = resources.files("ehrbench.criteria").joinpath("thresholds.toml").read_text(encoding="utf-8")
        source = "ehrbench/criteria/thresholds.toml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = str(path)
    document = tomllib.loads(text)

    thresholds = {}
    for name, table in document.items():
        if not isinstance(table, dict):
            raise ValueError(f"thresholds file {source}: criterion {name!r} must be a table with goal, threshold and reason")
        missing = [key for key in ("goal", "threshold", "reason") if key not in table]
        if missing:
            raise ValueError(f"thresholds file {source}: criterion {name!r} lacks {missing}")
        if table["goal"] not in GOALS:
            raise ValueError(f"thresholds file {source}: criterion {name!r} has goal {table['goal']!r}; use one of {GOALS}")
        bound = table["threshold"]
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ValueError(f"thresholds file {source}: criterion {name!r} has threshold {bound!r}; use a number")
        family = table.get("family", "other")
        if not isinstance(family, str) or not family.strip():
            raise ValueError(f"thresholds file {source}: criterion {name!r} has family {family!r}; use a name such as \"privacy\"")
        thresholds[name] = Threshold(name, table["goal"], float(bound), str(table["reason"]), family.strip())
    return thresholds
