"""Lay out the four tables of the study that ehrbench follows, from a stored leaderboard.

Lin, Yu & Lee, "A Case Study Exploring the Current Landscape of Synthetic Medical Record
Generation with Commercial LLMs" (CHIL 2025) compares prompt strategies within
and across hospitals, sweeps the feature count and the sample size, and compares demographic
groups. :func:`paper_tables` builds tables of the same shape from leaderboard entries and
recomputes nothing:

- TSTR and TRTR AUROC are ``details["tstr"]`` and ``details["trtr"]`` of ``auroc_gap`` entries.
- TSTR AUROC across sites is ``details["tstr_across"]`` of ``cross_site_auroc_drop`` entries, and
  the drop is their value.
- KL divergence is the value of ``kl_divergence`` entries.
- Per-group KL comes from ``details["groups"]`` of ``group_kl_worst`` entries, and
  ``details["too_few_rows"]`` maps the groups left out to their row count.

A cell is the mean over replicates, with "± sd" when two or more replicates have a value. "n/a"
marks an entry without the value, and an empty cell means that no entry exists.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable

from ehrbench.report.compare import _name as _entry_name
from ehrbench.report.leaderboard import Entry, Leaderboard
from ehrbench.report.render import _feature_set_order, _line, _row_order

TSTR_CRITERION = "auroc_gap"
CROSS_SITE_CRITERION = "cross_site_auroc_drop"
KL_CRITERION = "kl_divergence"
GROUP_KL_CRITERION = "group_kl_worst"

#: Known cause, by criterion, of a dataset without entries of a criterion that the thresholds list.
_UNSCORED_CAUSES = {
    CROSS_SITE_CRITERION: (
        "no case of this dataset scored it; it needs a dataset with a site column (eICU has one, RHC has "
        "none) and the cases recorded with --cross-site"
    )
}

LEGEND = (
    "Cells are the mean over replicates (± sd when two or more have a value); "
    "n/a: the entry has no value; empty: no entry."
)

Extract = Callable[[Entry], "float | None"]
#: A table column: header, criterion, how to read the number, feature set, rows per case.
Column = tuple[str, str, Extract, str, int]
Pair = tuple[str, str]


def paper_tables(board: Leaderboard) -> str:
    """Return Markdown with tables 1 to 4 of the study for each dataset of ``board``.

    Raises ValueError naming the entry when a details value that a table reads is not a
    number (or null).
    """
    if not board.entries:
        return "The leaderboard is empty: no benchmark case ran.\n"

    # The thresholds file's criteria, which tell "not listed" apart from "listed but not scored".
    listed_criteria = board.meta.get("criteria")
    if not isinstance(listed_criteria, list):
        listed_criteria = None
    sections = [LEGEND + "\n"]
    for dataset in board.datasets:
        index = _Index(dataset, [entry for entry in board.entries if entry.dataset == dataset], listed_criteria)
        tables = [_strategy_table(index), _feature_sweep(index), _size_sweep(index), _group_table(index)]
        sections.append("\n\n".join([f"## {dataset}"] + ["\n".join(lines) for lines in tables]) + "\n")
    return "\n".join(sections)


class _Index:
    """The entries of one dataset, grouped by case without the replicate."""

    def __init__(self, dataset: str, entries: Iterable[Entry], listed_criteria: list[str] | None) -> None:
        self.dataset = dataset
        self.listed_criteria = listed_criteria
        self.cells: dict[tuple, list[Entry]] = defaultdict(list)
        for entry in entries:
            self.cells[(entry.criterion, entry.generator, entry.strategy, entry.feature_set, entry.rows)].append(entry)

    def get(self, criterion: str, pair: Pair, feature_set: str, rows: int) -> list[Entry]:
        return self.cells.get((criterion, *pair, feature_set, rows), [])

    def keys(self, criteria: Iterable[str], feature_set: str | None = None, rows: int | None = None) -> list[tuple]:
        """Return the case keys of ``criteria``, optionally only those at ``feature_set`` or ``rows``."""
        criteria = set(criteria)
        return [
            key
            for key in self.cells
            if key[0] in criteria and feature_set in (None, key[3]) and rows in (None, key[4])
        ]

    def feature_sets(self, criteria: Iterable[str], rows: int | None = None) -> list[str]:
        """Return the feature sets of ``criteria``, smallest first."""
        return sorted({key[3] for key in self.keys(criteria, rows=rows)}, key=_feature_set_rank)

    def sizes(self, criteria: Iterable[str], feature_set: str | None = None) -> list[int]:
        """Return the sample sizes (rows per case) of ``criteria``, smallest first."""
        return sorted({key[4] for key in self.keys(criteria, feature_set=feature_set)})

    def largest_case(self, criteria: Iterable[str]) -> tuple[str, int]:
        """Return the largest feature set and the best-covered sample size present with it."""
        feature_set = _largest_feature_set(self.feature_sets(criteria))
        return feature_set, self.best_size(criteria, feature_set)

    def best_size(self, criteria: Iterable[str], feature_set: str | None = None) -> int:
        """Return the sample size with entries for the most (generator, strategy) pairs.

        Ties go to the larger size. A run records expensive LLM cases at fewer sizes than the
        reference generators, so the largest size alone could leave every model out.
        """
        criteria = list(criteria)

        def coverage(rows: int) -> tuple[int, int]:
            pairs = {(key[1], key[2]) for key in self.keys(criteria, feature_set, rows)}
            return len(pairs), rows

        return max(self.sizes(criteria, feature_set), key=coverage)

    def pairs(self, columns: list[Column]) -> list[Pair]:
        """Return the (generator, strategy) pairs with an entry in any of ``columns``, in report order."""
        found = set()
        for _, criterion, _, feature_set, rows in columns:
            found |= {(key[1], key[2]) for key in self.keys([criterion], feature_set, rows)}
        return sorted(found, key=_row_order)

    def missing_lines(self, criteria: Iterable[str]) -> list[str]:
        """Return one line per criterion in ``criteria`` without any entry for this dataset."""
        lines = []
        for criterion in criteria:
            if self.keys([criterion]):
                continue
            if self.listed_criteria is not None and criterion not in self.listed_criteria:
                cause = "the run's thresholds file does not list it"
            else:
                cause = _UNSCORED_CAUSES.get(criterion, "no case of this dataset scored it")
            lines.append(f"No {criterion} entries for {self.dataset}: {cause}.")
        return lines


def _strategy_table(index: _Index) -> list[str]:
    criteria = (TSTR_CRITERION, CROSS_SITE_CRITERION, KL_CRITERION)
    title = "### Table 1. Strategies at the largest feature set"
    if not index.keys(criteria):
        return [title, ""] + index.missing_lines(criteria)

    feature_set, rows = index.largest_case(criteria)
    columns: list[Column] = [
        ("TSTR AUROC within site", TSTR_CRITERION, _detail("tstr"), feature_set, rows),
        ("TRTR AUROC", TSTR_CRITERION, _detail("trtr"), feature_set, rows),
        ("TSTR AUROC across sites", CROSS_SITE_CRITERION, _detail("tstr_across"), feature_set, rows),
        ("cross-site AUROC drop", CROSS_SITE_CRITERION, _value, feature_set, rows),
        ("KL divergence", KL_CRITERION, _value, feature_set, rows),
    ]
    lines = _number_table(f"{title} ({feature_set}, {rows} rows per case)", index, columns)
    return _with_notes(lines, index.missing_lines(criteria))


def _feature_sweep(index: _Index) -> list[str]:
    criteria = (KL_CRITERION, TSTR_CRITERION)
    title = "### Table 2. Feature-count sweep"
    if not index.keys(criteria):
        return [title, ""] + index.missing_lines(criteria)

    rows = index.best_size(criteria)
    columns: list[Column] = []
    for feature_set in index.feature_sets(criteria, rows):
        columns.append((f"KL {feature_set}", KL_CRITERION, _value, feature_set, rows))
        columns.append((f"TSTR AUROC {feature_set}", TSTR_CRITERION, _detail("tstr"), feature_set, rows))
    lines = _number_table(f"{title} ({rows} rows per case)", index, columns)
    return _with_notes(lines, index.missing_lines(criteria))


def _size_sweep(index: _Index) -> list[str]:
    criteria = (KL_CRITERION, TSTR_CRITERION)
    title = "### Table 3. Sample-size sweep"
    if not index.keys(criteria):
        return [title, ""] + index.missing_lines(criteria)

    feature_set = _largest_feature_set(index.feature_sets(criteria))
    columns: list[Column] = []
    for rows in index.sizes(criteria, feature_set):
        columns.append((f"KL n={rows}", KL_CRITERION, _value, feature_set, rows))
        columns.append((f"TSTR AUROC n={rows}", TSTR_CRITERION, _detail("tstr"), feature_set, rows))
    lines = _number_table(f"{title} ({feature_set})", index, columns)
    return _with_notes(lines, index.missing_lines(criteria))


def _number_table(title: str, index: _Index, columns: list[Column]) -> list[str]:
    """Return a table with one row per (generator, strategy) pair and one cell per column."""
    header = ["generator", "strategy"] + [column[0] for column in columns]
    lines = [title, "", _line(header), _line(["---"] * len(header))]
    for pair in index.pairs(columns):
        cells = [
            _number_cell(index.get(criterion, pair, feature_set, rows), extract)
            for _, criterion, extract, feature_set, rows in columns
        ]
        lines.append(_line(list(pair) + cells))
    return lines


def _group_table(index: _Index) -> list[str]:
    title = "### Table 4. KL divergence per demographic group"
    if not index.keys([GROUP_KL_CRITERION]):
        return [title, ""] + index.missing_lines([GROUP_KL_CRITERION])

    feature_set, rows = index.largest_case([GROUP_KL_CRITERION])
    pairs = index.pairs([("", GROUP_KL_CRITERION, _value, feature_set, rows)])
    cells = {pair: index.get(GROUP_KL_CRITERION, pair, feature_set, rows) for pair in pairs}
    groups = set()
    for entries in cells.values():
        for entry in entries:
            scored, too_few = _group_details(entry)
            groups |= set(scored) | set(too_few)

    header = ["group"] + [f"{generator} / {strategy}" for generator, strategy in pairs]
    lines = [f"{title} ({feature_set}, {rows} rows per case)", "", _line(header), _line(["---"] * len(header))]
    for group in sorted(groups, key=_group_rank):
        lines.append(_line([group] + [_group_cell(cells[pair], group) for pair in pairs]))
    if not groups:
        lines += ["", f"No {GROUP_KL_CRITERION} entry of {index.dataset} lists a group."]
    return lines


def _group_cell(entries: list[Entry], group: str) -> str:
    """Return the KL divergence of ``group`` over replicates, or why it was not scored."""
    if not entries:
        return ""

    values: list[float | None] = []
    too_few: list[int] = []
    for entry in entries:
        scored, small = _group_details(entry)
        if group in small:
            too_few.append(small[group])
        else:
            values.append(scored.get(group))

    if not too_few:
        return _format_values(values)
    counts = ", ".join(str(count) for count in sorted(set(too_few)))
    if not values:
        return f"too few rows (n={counts})"
    return f"{_format_values(values)}; {len(too_few)} with too few rows (n={counts})"


def _group_details(entry: Entry) -> tuple[dict[str, float | None], dict[str, int]]:
    """Return the checked ``groups`` and ``too_few_rows`` maps of a ``group_kl_worst`` entry."""
    scored = entry.details.get("groups", {})
    too_few = entry.details.get("too_few_rows", {})
    for name, mapping in (("groups", scored), ("too_few_rows", too_few)):
        if not isinstance(mapping, dict):
            raise ValueError(f"entry {_entry_name(entry.key)} has details {name} = {mapping!r}, expected an object")
    numbers = {group: _checked_number(entry, f"groups.{group}", value) for group, value in scored.items()}
    for group, count in too_few.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(
                f"entry {_entry_name(entry.key)} has details too_few_rows.{group} = {count!r}, expected a row count"
            )
    return numbers, too_few


def _number_cell(entries: list[Entry], extract: Extract) -> str:
    if not entries:
        return ""
    return _format_values([extract(entry) for entry in entries])


def _format_values(values: list[float | None]) -> str:
    """Return the mean (± sd from two values on) of ``values``, counting the missing ones."""
    present = [value for value in values if value is not None]
    if not present:
        return "n/a"
    text = f"{statistics.fmean(present):.3f}"
    if len(present) > 1:
        text += f" ± {statistics.stdev(present):.3f}"
    if len(present) < len(values):
        text += f" ({len(values) - len(present)} n/a)"
    return text


def _value(entry: Entry) -> float | None:
    return entry.value


def _detail(name: str) -> Extract:
    """Return a reader of ``details[name]``. An absent key reads as None."""

    def extract(entry: Entry) -> float | None:
        return _checked_number(entry, name, entry.details.get(name))

    return extract


def _checked_number(entry: Entry, name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"entry {_entry_name(entry.key)} has details {name} = {value!r}, expected a number or null")
    return float(value)


def _with_notes(lines: list[str], notes: list[str]) -> list[str]:
    return lines + [""] + notes if notes else lines


def _feature_set_rank(label: str) -> tuple:
    return (_feature_set_order(label), label)


def _largest_feature_set(labels: Iterable[str]) -> str:
    """Return ``kall`` if present, else the largest ``kN``. Other labels count only without these."""
    labels = list(labels)
    known = [label for label in labels if _feature_set_order(label)[0] < 2]
    return max(known or labels, key=_feature_set_rank)


def _group_rank(group: str) -> tuple[str, str]:
    column, _, value = group.partition("=")
    return (column, value)
