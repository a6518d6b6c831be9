"""Feature subsets: the top-k features by gain, for k in :data:`FEATURE_SET_SIZES`."""

from __future__ import annotations

from dataclasses import dataclass

from ehrbench.datasets import PreparedDataset
from ehrbench.features.ranking import rank_features

#: Feature-set sizes of the benchmark grid; "all" means every feature of the dataset.
FEATURE_SET_SIZES: tuple[int | str, ...] = (5, 10, 15, 20, "all")


@dataclass(frozen=True)
class FeatureSubset:
    """The features of one feature-set size, in rank order (the label is not included)."""

    size: int | str
    features: tuple[str, ...]

    @property
    def label(self) -> str:
        """Return the size as it appears in cassette names and reports: ``k5`` or ``kall``."""
        return f"k{self.size}"


def parse_feature_set_size(value: str | int) -> int | str:
    """Parse a feature-set size given as ``5``, ``"5"``, ``"k5"`` or ``"all"``."""
    text = str(value).strip().lower().removeprefix("k")
    if text == "all":
        return "all"
    if text.isdecimal() and text.isascii() and int(text) > 0:
        return int(text)
    raise ValueError(f"feature-set size {value!r} is invalid; use a positive whole number or 'all'")


def build_subsets(prepared: PreparedDataset, sizes=FEATURE_SET_SIZES) -> list[FeatureSubset]:
    """Return one subset per size; a size larger than the feature count takes all features.

    Sizes are checked with :func:`parse_feature_set_size`, so 0, negative and malformed sizes
    raise ValueError.
    """
    sizes = [parse_feature_set_size(size) for size in sizes]
    ranked = rank_features(prepared)
    subsets = []
    for size in sizes:
        count = len(ranked) if size == "all" else min(int(size), len(ranked))
        subsets.append(FeatureSubset(size, tuple(ranked[:count])))
    return subsets
