"""Render a leaderboard for people: Markdown tables, one per dataset and sample size.

Rows are generator and strategy; columns are criteria by feature-set size; a cell holds the
value (the mean over replicates, with the standard deviation when there are several) and a
mark: ``✓`` when every replicate passed, ``✗`` otherwise.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from ehrbench.report.leaderboard import Entry, Leaderboard

#: Reference generators come first, in this order.
REFERENCE_ORDER = ("real-holdout", "gaussian-copula", "independent-marginals")
STRATEGY_ORDER = ("none", "naive", "schema", "conditional", "group")


def render(board: Leaderboard, output_format: str = "markdown") -> str:
    """Return ``board`` as ``markdown``, ``csv`` or ``json`` text."""
    if output_format == "csv":
        return board.to_csv()
    if output_format == "json":
        return board.to_json()
    if output_format != "markdown":
        raise ValueError(f"output_format {output_format!r} is invalid; use markdown, csv or json")
    return render_markdown(board)


def render_markdown(board: Leaderboard) -> str:
    """Return one Markdown table per (dataset, sample size), separated by headings.

    Criteria columns follow ``board.meta["criteria"]`` (the thresholds file order); criteria
    not listed there come after it, by name. When ``board.meta["families"]`` maps criteria to
    families, each (dataset, sample size) gets one table per family, in the order in which the
    families first appear in the criteria.
    """
    groups: dict[tuple[str, int], list[Entry]] = defaultdict(list)
    for entry in board.entries:
        groups[(entry.dataset, entry.rows)].append(entry)
    if not groups:
        return "The leaderboard is empty: no benchmark case ran.\n"
    order = board.meta.get("criteria", [])
    families = board.meta.get("families", {})
    sections = []
    for (dataset, rows), entries in sorted(groups.items()):
        title = f"{dataset}, {rows} rows per case"
        if not families:
            sections.append(_table(title, entries, order))
            continue
        by_family: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            by_family[families.get(entry.criterion, "other")].append(entry)
        family_order = list(dict.fromkeys(families[name] for name in order if name in families))
        family_order += sorted(set(by_family) - set(family_order))
        sections += [_table(f"{title}: {family}", by_family[family], order) for family in family_order if family in by_family]
    return "\n".join(sections)


def render_summary(board: Leaderboard) -> str:
    """Return one Markdown table per dataset with the passed criteria per family and sample size.

    Rows are generator and strategy. A cell ``7/9`` counts the (criterion, feature set,
    replicate) entries that passed out of all entries, where an unscored one counts as failed.
    Families come from ``board.meta["families"]``; criteria without one count as ``other``.
    """
    if not board.entries:
        return "The leaderboard is empty: no benchmark case ran.\n"
    families = board.meta.get("families", {})
    order = [families[name] for name in board.meta.get("criteria", []) if name in families]
    sections = []
    for dataset in board.datasets:
        entries = [entry for entry in board.entries if entry.dataset == dataset]
        present = {families.get(entry.criterion, "other") for entry in entries}
        family_order = list(dict.fromkeys(name for name in order if name in present)) + sorted(present - set(order))
        sizes = sorted({entry.rows for entry in entries})
        counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for entry in entries:
            for key in ((entry.generator, entry.strategy, entry.rows, families.get(entry.criterion, "other")),
                        (entry.generator, entry.strategy, "all")):
                counts[key][0] += entry.passed
                counts[key][1] += 1
        columns = [(rows, family) for rows in sizes for family in family_order]
        header = ["generator", "strategy", "passed"] + [f"n{rows} {family}" for rows, family in columns]
        header += ["requests", "output tokens", "cost (USD)"]
        lines = [f"### {dataset}: passed criteria per family", "", _line(header), _line(["---"] * len(header))]
        for generator, strategy in sorted({(entry.generator, entry.strategy) for entry in entries}, key=_row_order):
            cells = [_count(counts.get((generator, strategy, rows, family))) for rows, family in columns]
            usage = _usage([entry for entry in entries if (entry.generator, entry.strategy) == (generator, strategy)])
            lines.append(_line([generator, strategy, _count(counts[(generator, strategy, "all")])] + cells + usage))
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def _usage(entries: list[Entry]) -> list[str]:
    """Return the summed requests, output tokens and cost of the cases among ``entries``.

    They are read from the ``validity_rate`` entries, one per case. A sum is empty when no case
    reports it, and marked with ``+`` when some cases do not (cost without prices).
    """
    cases = [entry.details for entry in entries if entry.criterion == "validity_rate"]
    cells = []
    for key, text in (("requests", "{:,.0f}"), ("output_tokens", "{:,.0f}"), ("cost_usd", "{:.4f}")):
        values = [case.get(key) for case in cases]
        known = [value for value in values if isinstance(value, (int, float)) and value]
        cell = text.format(sum(known)) if known else ""
        if known and len(known) < len(values):
            cell += "+"
        cells.append(cell)
    return cells


def _count(pair: list[int] | None) -> str:
    return "" if pair is None else f"{pair[0]}/{pair[1]}"


def _table(title: str, entries: list[Entry], order: list[str]) -> str:
    present = set(entry.criterion for entry in entries)
    criteria = [name for name in order if name in present]
    criteria += sorted(present - set(criteria))
    feature_sets = sorted({entry.feature_set for entry in entries}, key=_feature_set_order)
    columns = [(criterion, feature_set) for criterion in criteria for feature_set in feature_sets]
    cells: dict[tuple, list[Entry]] = defaultdict(list)
    for entry in entries:
        cells[(entry.generator, entry.strategy, entry.criterion, entry.feature_set)].append(entry)
    row_keys = sorted({(entry.generator, entry.strategy) for entry in entries}, key=_row_order)

    header = ["generator", "strategy", "passed"] + [f"{criterion} {feature_set}" for criterion, feature_set in columns]
    lines = [f"### {title}", "", _line(header), _line(["---"] * len(header))]
    for generator, strategy in row_keys:
        row_entries = [entry for entry in entries if (entry.generator, entry.strategy) == (generator, strategy)]
        passed = sum(entry.passed for entry in row_entries)
        cells_text = [_cell(cells.get((generator, strategy, criterion, feature_set), [])) for criterion, feature_set in columns]
        lines.append(_line([generator, strategy, f"{passed}/{len(row_entries)}"] + cells_text))
    thresholds = {entry.criterion: entry for entry in entries}
    lines.append("")
    lines.append("Thresholds: " + ", ".join(_threshold(thresholds[criterion]) for criterion in criteria) + ".")
    return "\n".join(lines) + "\n"


def _cell(entries: list[Entry]) -> str:
    if not entries:
        return ""
    values = [entry.value for entry in entries if entry.value is not None]
    mark = "✓" if all(entry.passed for entry in entries) else "✗"
    if not values:
        return f"n/a {mark}"
    text = f"{statistics.fmean(values):.3f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.3f}"
    if len(values) < len(entries):
        text += f" ({len(entries) - len(values)} n/a)"
    return f"{text} {mark}"


def _threshold(entry: Entry) -> str:
    sign = ">=" if entry.goal == "maximize" else "<="
    return f"{entry.criterion} {sign} {entry.threshold:g}"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _feature_set_order(label: str) -> tuple[int, int]:
    size = label.removeprefix("k")
    return (1, 0) if size == "all" else (0, int(size)) if size.isdigit() else (2, 0)


def _row_order(key: tuple[str, str]) -> tuple:
    generator, strategy = key
    reference = REFERENCE_ORDER.index(generator) if generator in REFERENCE_ORDER else len(REFERENCE_ORDER)
    strategy_rank = STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER)
    return (reference, generator, strategy_rank, strategy)
