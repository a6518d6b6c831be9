"""The leaderboard's data: one entry per (case, criterion), stored as JSON or CSV.

Display lives in :mod:`ehrbench.report.render`, so this module only keeps and stores results.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One criterion judged on one benchmark case.

    ``value`` is None when the criterion could not be scored, and ``reason`` then gives the
    cause. ``low`` and ``high`` bound a 95% interval where the metric has one. ``details`` is a
    small JSON-safe summary of the metric (such as the TSTR and TRTR AUROC behind a gap): str
    keys, and values that are numbers, str, bool, None, or lists and dicts of those. Floats must
    be finite. A bad ``details`` raises TypeError when the entry is built.
    """

    dataset: str
    generator: str
    strategy: str
    feature_set: str
    rows: int
    replicate: int
    criterion: str
    value: float | None
    passed: bool
    threshold: float
    goal: str
    low: float | None = None
    high: float | None = None
    reason: str = ""
    # hash=False keeps Entry hashable although a dict is not.
    details: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.details, dict):
            raise TypeError(f"entry field 'details' is {self.details!r}, expected an object (dict)")
        _check_json_safe(self.details, "details")

    @property
    def key(self) -> tuple:
        """Return what identifies the entry across runs: everything but the outcome."""
        return (self.dataset, self.generator, self.strategy, self.feature_set, self.rows, self.replicate, self.criterion)


ENTRY_FIELDS = tuple(field_.name for field_ in fields(Entry))

_TEXT_FIELDS = ("dataset", "generator", "strategy", "feature_set", "criterion", "goal", "reason")
_NUMBER_FIELDS = ("value", "low", "high", "threshold")


def _check_json_safe(value: object, path: str) -> None:
    """Raise TypeError unless ``value`` survives a JSON round trip unchanged; ``path`` names it."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"entry field {path!r} has the key {key!r}, expected text keys")
            _check_json_safe(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_safe(item, f"{path}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"entry field {path!r} is {value!r}, expected a finite number")
    elif value is not None and not isinstance(value, (str, bool, int)):
        raise TypeError(
            f"entry field {path!r} is {value!r} of type {type(value).__name__}, "
            "expected a number, text, true/false, null, a list or an object"
        )


def _entry_from_dict(item: dict) -> Entry:
    """Build an Entry from its JSON form, rejecting values of the wrong type.

    Entry itself checks ``details``. A leaderboard written before entries had ``details``
    loads with empty details.
    """
    entry = Entry(**item)
    for name in _TEXT_FIELDS:
        if not isinstance(getattr(entry, name), str):
            raise TypeError(f"entry field {name!r} is {getattr(entry, name)!r}, expected text")
    for name in _NUMBER_FIELDS:
        value = getattr(entry, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"entry field {name!r} is {value!r}, expected a number or null")
    for name in ("rows", "replicate"):
        if isinstance(getattr(entry, name), bool) or not isinstance(getattr(entry, name), int):
            raise TypeError(f"entry field {name!r} is {getattr(entry, name)!r}, expected a whole number")
    if not isinstance(entry.passed, bool):
        raise TypeError(f"entry field 'passed' is {entry.passed!r}, expected true or false")
    return entry


@dataclass
class Leaderboard:
    """All entries of a run plus run facts (``meta``: package version, datasets, grid)."""

    entries: list[Entry] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)

    @property
    def datasets(self) -> list[str]:
        return sorted({entry.dataset for entry in self.entries})

    def sorted_entries(self) -> list[Entry]:
        return sorted(self.entries, key=lambda entry: tuple(str(part) for part in entry.key))

    def to_json(self) -> str:
        document = {"meta": self.meta, "entries": [asdict(entry) for entry in self.sorted_entries()]}
        return json.dumps(document, indent=1, sort_keys=True) + "\n"

    def to_csv(self) -> str:
        """Return one CSV row per entry, with ``details`` as a compact JSON text column."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=ENTRY_FIELDS, lineterminator="\n")
        writer.writeheader()
        for entry in self.sorted_entries():
            row = asdict(entry)
            row["details"] = json.dumps(entry.details, sort_keys=True, separators=(",", ":"))
            writer.writerow(row)
        return buffer.getvalue()

    @classmethod
    def from_json(cls, text: str, source: str = "leaderboard") -> Leaderboard:
        try:
            document = json.loads(text)
            meta = document.get("meta", {})
            if not isinstance(meta, dict):
                raise TypeError(f"meta is a {type(meta).__name__}, expected an object")
            entries = [_entry_from_dict(item) for item in document["entries"]]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{source} is not a leaderboard JSON written by ehrbench: {error}") from None
        return cls(entries, meta)

    @classmethod
    def load(cls, path: str | Path) -> Leaderboard:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"leaderboard {path} not found; run 'pytest benchmarks/' to write one") from None
        return cls.from_json(text, str(path))
