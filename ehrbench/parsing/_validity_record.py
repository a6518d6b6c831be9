"""The per-run validity record: requested, parsed and valid row counts with rejection reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ehrbench.parsing.reasons import REJECTION_REASONS


@dataclass
class ValidityRecord:
    """Counts of requested, parsed and valid rows over one or more answers.

    ``failed_answers`` counts answers with no parsed row, and ``failures`` counts them per
    :class:`~ehrbench.parsing.answers.ParsedAnswer` failure reason. ``rejections`` counts
    rejected records and unparseable fragments per reason of :data:`REJECTION_REASONS`, so
    ``valid`` plus the rejections other than ``unparseable`` equals ``parsed``. The valid rows
    of an answer beyond the number requested are such rejections, not ``valid`` rows.
    """

    requested: int = 0
    answers: int = 0
    failed_answers: int = 0
    parsed: int = 0
    valid: int = 0
    rejections: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for name in ("requested", "answers", "failed_answers", "parsed", "valid"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected a non-negative int, got {value!r}")
        if self.failed_answers > self.answers:
            raise ValueError(
                f"failed_answers: {self.failed_answers} exceeds answers {self.answers}"
            )
        if self.valid > self.parsed:
            raise ValueError(f"valid: {self.valid} exceeds parsed {self.parsed}")
        self.rejections = _checked_counts("rejections", self.rejections, REJECTION_REASONS)
        self.failures = _checked_counts("failures", self.failures, None)

    @property
    def shortfall(self) -> int:
        """Requested rows that were never parsed, at least 0."""
        return max(self.requested - self.parsed, 0)

    @property
    def rate(self) -> float:
        """Valid rows per requested row, in [0, 1] and higher is better.

        Valid rows beyond the requested number do not count. The rate is 0.0 when no row was
        requested.
        """
        if self.requested == 0:
            return 0.0
        return min(self.valid, self.requested) / self.requested

    def merge(self, other: ValidityRecord) -> ValidityRecord:
        """Return a new record with the counts of ``self`` and ``other`` summed."""
        if not isinstance(other, ValidityRecord):
            raise TypeError(f"other: expected a ValidityRecord, got {type(other).__name__}")
        return ValidityRecord(
            requested=self.requested + other.requested,
            answers=self.answers + other.answers,
            failed_answers=self.failed_answers + other.failed_answers,
            parsed=self.parsed + other.parsed,
            valid=self.valid + other.valid,
            rejections=self.rejections + other.rejections,
            failures=self.failures + other.failures,
        )

    def to_dict(self) -> dict[str, object]:
        """Return the counts, ``shortfall`` and ``rate`` as JSON-ready values.

        ``rejections`` lists every reason of :data:`REJECTION_REASONS`, zeros included.
        """
        return {
            "requested": self.requested,
            "answers": self.answers,
            "failed_answers": self.failed_answers,
            "parsed": self.parsed,
            "valid": self.valid,
            "shortfall": self.shortfall,
            "rate": self.rate,
            "rejections": {reason: self.rejections[reason] for reason in REJECTION_REASONS},
            "failures": dict(sorted(self.failures.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ValidityRecord:
        """Rebuild a record from :meth:`to_dict` output, recomputing ``shortfall`` and ``rate``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data: expected a dict, got {type(data).__name__}")
        counts = ("requested", "answers", "failed_answers", "parsed", "valid")
        known = {*counts, "shortfall", "rate", "rejections", "failures"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"data: unknown keys {unknown}; expected keys among {sorted(known)}")
        absent = [name for name in counts if name not in data]
        if absent:
            raise ValueError(f"data: missing keys {absent}")
        return cls(
            **{name: data[name] for name in counts},
            rejections=Counter(data.get("rejections", {})),
            failures=Counter(data.get("failures", {})),
        )


def _checked_counts(name: str, counts: object, allowed: tuple[str, ...] | None) -> Counter:
    if not isinstance(counts, Mapping):
        raise TypeError(
            f"{name}: expected a mapping of reason to count, got {type(counts).__name__}"
        )
    for reason, count in counts.items():
        if allowed is not None and reason not in allowed:
            raise ValueError(
                f"{name}: unknown reason {reason!r}; known reasons are {list(allowed)}"
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(
                f"{name}: count of {reason!r} must be a non-negative int, got {count!r}"
            )
    return Counter({reason: count for reason, count in counts.items() if count})
