"""Tests of the study's tables built from a leaderboard, and of ``ehrbench report --paper-tables``."""

from __future__ import annotations

import pytest

from ehrbench.cli import main
from ehrbench.report import Entry, Leaderboard, paper_tables

CRITERIA = ["kl_divergence", "auroc_gap", "cross_site_auroc_drop", "group_kl_worst"]
PAIRS = [("model-a", "naive"), ("real-holdout", "none")]

# KL divergence = base by generator + offset by feature set + offset by sample size + 0.02 per replicate.
BASE_KL = {"real-holdout": 0.01, "model-a": 0.10}
FEATURE_SET_KL = {"k5": 0.0, "kall": 0.1}
ROWS_KL = {100: 0.0, 200: 0.3}
# TSTR AUROC = base by generator - offset by feature set - offset by sample size + 0.04 per replicate.
BASE_TSTR = {"real-holdout": 0.80, "model-a": 0.60}
FEATURE_SET_TSTR = {"k5": 0.0, "kall": 0.05}
ROWS_TSTR = {100: 0.1, 200: 0.0}


CROSS_SITE_MISSING = 'No cross_site_auroc_drop entries for eicu: no case of this dataset scored it; it needs a dataset with a site column (eICU has one, RHC has none) and the cases recorded with --cross-site.'


def make_entry(**overrides) -> Entry:
    """Return a passing eicu kl_divergence entry with ``overrides`` applied."""
    values = dict(
        dataset="eicu",
        generator="real-holdout",
        strategy="none",
        feature_set="kall",
        rows=200,
        replicate=0,
        criterion="kl_divergence",
        value=0.05,
        passed=True,
        threshold=0.1,
        goal="minimize",
    )
    values.update(overrides)
    return Entry(**values)


def group_details(generator: str, replicate: int) -> dict:
    """Return the group_kl_worst details of the largest case (kall, 200 rows)."""
    if generator == "real-holdout":
        groups = {"sex=Male": 0.01, "race=white": 0.02, "race=black": 0.03}
        return {"groups": groups, "too_few_rows": {"race=other": 9}}
    groups = {"sex=Male": 0.04 + 0.02 * replicate, "race=white": 0.10 + 0.02 * replicate}
    if replicate == 0:
        groups["race=black"] = 0.2
    return {"groups": groups, "too_few_rows": {"race=other": 12}}


def case_entries(generator: str, strategy: str, feature_set: str, rows: int, replicate: int) -> list[Entry]:
    """Return the criteria of one case. Only model-a has cross-site entries."""
    case = dict(generator=generator, strategy=strategy, feature_set=feature_set, rows=rows, replicate=replicate)
    kl = BASE_KL[generator] + FEATURE_SET_KL[feature_set] + ROWS_KL[rows] + 0.02 * replicate
    tstr = BASE_TSTR[generator] - FEATURE_SET_TSTR[feature_set] - ROWS_TSTR[rows] + 0.04 * replicate
    largest = (feature_set, rows) == ("kall", 200)
    # Groups of smaller cases get a value that the tables must not show.
    groups = group_details(generator, replicate) if largest else {"groups": {"sex=Male": 0.9}}
    entries = [
        make_entry(**case, value=kl),
        make_entry(**case, criterion="auroc_gap", value=0.85 - tstr, details={"tstr": tstr, "trtr": 0.85}),
        make_entry(**case, criterion="group_kl_worst", value=0.3, details=groups),
    ]
    if generator == "model-a":
        drop = 0.05 + 0.02 * replicate
        details = {"tstr_across": tstr - drop}
        entries.append(make_entry(**case, criterion="cross_site_auroc_drop", value=drop, details=details))
    return entries


def make_board(entries: list[Entry], criteria: list[str] | None = None) -> Leaderboard:
    return Leaderboard(entries, {"ehrbench": "test", "criteria": CRITERIA if criteria is None else criteria})


@pytest.fixture
def board() -> Leaderboard:
    """Two generators, 2 feature sets, 2 sample sizes and 2 replicates of every criterion."""
    entries = []
    for generator, strategy in PAIRS:
        for feature_set in ("kall", "k5"):
            for rows in (200, 100):
                for replicate in (0, 1):
                    entries += case_entries(generator, strategy, feature_set, rows, replicate)
    return make_board(entries)


def section(markdown: str, heading: str) -> list[str]:
    """Return the lines after the heading that starts with ``heading``, up to the next heading.

    Blank lines at the end are left out.
    """
    lines = markdown.splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith(heading))
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        body.append(line)
    while body and body[-1] == "":
        body.pop()
    return body


def table_rows(lines: list[str]) -> list[list[str]]:
    """Return the cells of every table line in ``lines``, the header row included."""
    rows = []
    for line in lines:
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


# Layout


def test_headings_name_dataset_and_case(board):
    headings = [line for line in paper_tables(board).splitlines() if line.startswith("#")]

    assert headings == [
        "## eicu",
        "### Table 1. Strategies at the largest feature set (kall, 200 rows per case)",
        "### Table 2. Feature-count sweep (200 rows per case)",
        "### Table 3. Sample-size sweep (kall)",
        "### Table 4. KL divergence per demographic group (kall, 200 rows per case)",
    ]


def test_strategy_table_exact_lines(board):
    lines = section(paper_tables(board), "### Table 1.")

    assert lines == [
        "",
        "| generator | strategy | TSTR AUROC within site | TRTR AUROC | TSTR AUROC across sites "
        "| cross-site AUROC drop | KL divergence |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| real-holdout | none | 0.770 ± 0.028 | 0.850 ± 0.000 |  |  | 0.420 ± 0.014 |",
        "| model-a | naive | 0.570 ± 0.028 | 0.850 ± 0.000 | 0.510 ± 0.014 | 0.060 ± 0.014 | 0.510 ± 0.014 |",
    ]


def test_feature_sweep_cells(board):
    rows = table_rows(section(paper_tables(board), "### Table 2."))

    assert rows == [
        ["generator", "strategy", "KL k5", "TSTR AUROC k5", "KL kall", "TSTR AUROC kall"],
        ["real-holdout", "none", "0.320 ± 0.014", "0.820 ± 0.028", "0.420 ± 0.014", "0.770 ± 0.028"],
        ["model-a", "naive", "0.410 ± 0.014", "0.620 ± 0.028", "0.510 ± 0.014", "0.570 ± 0.028"],
    ]


def test_size_sweep_cells(board):
    rows = table_rows(section(paper_tables(board), "### Table 3."))

    assert rows == [
        ["generator", "strategy", "KL n=100", "TSTR AUROC n=100", "KL n=200", "TSTR AUROC n=200"],
        ["real-holdout", "none", "0.120 ± 0.014", "0.670 ± 0.028", "0.420 ± 0.014", "0.770 ± 0.028"],
        ["model-a", "naive", "0.210 ± 0.014", "0.470 ± 0.028", "0.510 ± 0.014", "0.570 ± 0.028"],
    ]


def test_group_table_cells(board):
    rows = table_rows(section(paper_tables(board), "### Table 4."))

    assert rows == [
        ["group", "real-holdout / none", "model-a / naive"],
        ["race=black", "0.030 ± 0.000", "0.200 (1 n/a)"],
        ["race=other", "too few rows (n=9)", "too few rows (n=12)"],
        ["race=white", "0.020 ± 0.000", "0.110 ± 0.014"],
        ["sex=Male", "0.010 ± 0.000", "0.050 ± 0.014"],
    ]


def test_sweep_columns_order_numerically():
    feature_sets = make_board([make_entry(feature_set=feature_set) for feature_set in ("k20", "k5", "k10")])
    sizes = make_board([make_entry(rows=rows) for rows in (1000, 50, 200)])

    feature_sets_text = paper_tables(feature_sets)
    sizes_text = paper_tables(sizes)

    assert table_rows(section(feature_sets_text, "### Table 2."))[0][2::2] == ["KL k5", "KL k10", "KL k20"]
    assert table_rows(section(sizes_text, "### Table 3."))[0][2::2] == ["KL n=50", "KL n=200", "KL n=1000"]
    assert "### Table 1. Strategies at the largest feature set (k20, 200 rows per case)" in feature_sets_text


def test_sweeps_fix_other_axis_at_largest():
    entries = [make_entry(feature_set="k5", rows=100, value=0.1), make_entry(feature_set="kall", rows=200, value=0.2)]

    text = paper_tables(make_board(entries))

    assert table_rows(section(text, "### Table 2.")) == [
        ["generator", "strategy", "KL kall", "TSTR AUROC kall"],
        ["real-holdout", "none", "0.200", ""],
    ]
    assert table_rows(section(text, "### Table 3.")) == [
        ["generator", "strategy", "KL n=200", "TSTR AUROC n=200"],
        ["real-holdout", "none", "0.200", ""],
    ]


def test_largest_rows_at_largest_feature_set():
    entries = [make_entry(feature_set="k5", rows=500), make_entry(feature_set="kall", rows=100)]

    text = paper_tables(make_board(entries))

    assert "### Table 1. Strategies at the largest feature set (kall, 100 rows per case)" in text
    assert table_rows(section(text, "### Table 1."))[1][-1] == "0.050"


def test_one_section_per_dataset_sorted():
    board = make_board([make_entry(dataset="rhc"), make_entry(dataset="eicu")])

    headings = [line for line in paper_tables(board).splitlines() if line.startswith("## ")]

    assert headings == ["## eicu", "## rhc"]


def test_rows_follow_report_order():
    pairs = [("model-b", "group"), ("model-a", "schema"), ("independent-marginals", "none"), ("model-a", "naive")]
    board = make_board([make_entry(generator=generator, strategy=strategy) for generator, strategy in pairs])

    rows = table_rows(section(paper_tables(board), "### Table 1."))[1:]

    assert [(row[0], row[1]) for row in rows] == [
        ("independent-marginals", "none"),
        ("model-a", "naive"),
        ("model-a", "schema"),
        ("model-b", "group"),
    ]


def test_group_rows_sort_by_column_then_value():
    groups = {"sex=Male": 0.1, "age=80+": 0.2, "race=white": 0.3, "race=asian": 0.4, "sex=Female": 0.5}
    board = make_board([make_entry(criterion="group_kl_worst", details={"groups": groups})])

    rows = table_rows(section(paper_tables(board), "### Table 4."))[1:]

    assert [row[0] for row in rows] == ["age=80+", "race=asian", "race=white", "sex=Female", "sex=Male"]


# Cells


def test_single_replicate_has_no_sd():
    board = make_board([make_entry(value=0.0504)])

    rows = table_rows(section(paper_tables(board), "### Table 1."))

    assert rows[1][-1] == "0.050"


def test_unscored_value_is_na():
    board = make_board([make_entry(value=None, passed=False), make_entry(value=None, passed=False, replicate=1)])

    rows = table_rows(section(paper_tables(board), "### Table 1."))

    assert rows[1][-1] == "n/a"


def test_absent_details_key_is_na():
    board = make_board([make_entry(criterion="auroc_gap", value=0.1, details={"trtr": 0.8})])

    rows = table_rows(section(paper_tables(board), "### Table 1."))

    assert rows[1][2:4] == ["n/a", "0.800"]


def test_partly_unscored_replicates_are_counted():
    entries = [
        make_entry(criterion="auroc_gap", details={"tstr": 0.7, "trtr": 0.8}),
        make_entry(criterion="auroc_gap", replicate=1, value=None, passed=False, details={"trtr": 0.9}),
    ]

    rows = table_rows(section(paper_tables(make_board(entries)), "### Table 1."))

    assert rows[1][2] == "0.700 (1 n/a)"
    assert rows[1][3] == "0.850 ± 0.071"


def test_missing_entry_is_empty_cell():
    entries = [make_entry(), make_entry(generator="model-a", strategy="naive", criterion="auroc_gap", details={})]

    rows = table_rows(section(paper_tables(make_board(entries)), "### Table 1."))

    assert rows[1] == ["real-holdout", "none", "", "", "", "", "0.050"]
    assert rows[2] == ["model-a", "naive", "n/a", "n/a", "", "", ""]


def test_group_cell_mixes_value_and_too_few_rows():
    entries = [
        make_entry(criterion="group_kl_worst", details={"groups": {"race=other": 0.4}}),
        make_entry(criterion="group_kl_worst", replicate=1, details={"too_few_rows": {"race=other": 7}}),
        make_entry(criterion="group_kl_worst", replicate=2, details={"too_few_rows": {"race=other": 5}}),
    ]

    rows = table_rows(section(paper_tables(make_board(entries)), "### Table 4."))

    assert rows[1] == ["race=other", "0.400; 2 with too few rows (n=5, 7)"]


def test_non_number_detail_raises_naming_entry():
    board = make_board([make_entry(criterion="auroc_gap", details={"tstr": "0.7"})])

    with pytest.raises(ValueError, match=r"eicu/real-holdout/none/kall/n200/r0 auroc_gap has details tstr = '0.7'"):
        paper_tables(board)


def test_bad_group_details_raise():
    board = make_board([make_entry(criterion="group_kl_worst", details={"groups": [0.1]})])

    with pytest.raises(ValueError, match=r"group_kl_worst has details groups = \[0.1\], expected an object"):
        paper_tables(board)


# Missing criteria


def test_missing_cross_site_criterion_line():
    entries = [make_entry(), make_entry(criterion="auroc_gap", details={"tstr": 0.7, "trtr": 0.8})]

    lines = section(paper_tables(make_board(entries)), "### Table 1.")

    assert lines[-2:] == ["", CROSS_SITE_MISSING]
    assert table_rows(lines)[1] == ["real-holdout", "none", "0.700", "0.800", "", "", "0.050"]


def test_empty_table_lists_missing_criteria():
    board = make_board([make_entry()], criteria=["kl_divergence", "cross_site_auroc_drop"])

    text = paper_tables(board)

    assert section(text, "### Table 4.") == [
        "",
        "No group_kl_worst entries for eicu: the run's thresholds file does not list it.",
    ]
    assert section(text, "### Table 2.")[-2:] == [
        "",
        "No auroc_gap entries for eicu: the run's thresholds file does not list it.",
    ]


def test_all_tables_without_data():
    board = make_board([make_entry(criterion="validity_rate", value=1.0)])

    text = paper_tables(board)

    assert "|" not in text
    assert section(text, "### Table 1.") == [
        "",
        "No auroc_gap entries for eicu: no case of this dataset scored it.",
        CROSS_SITE_MISSING,
        "No kl_divergence entries for eicu: no case of this dataset scored it.",
    ]


def test_group_entries_without_groups_say_so():
    board = make_board([make_entry(criterion="group_kl_worst", details={})])

    lines = section(paper_tables(board), "### Table 4.")

    assert lines[-1] == "No group_kl_worst entry of eicu lists a group."


def test_empty_board_says_empty():
    assert paper_tables(Leaderboard()) == "The leaderboard is empty: no benchmark case ran.\n"


# ehrbench report --paper-tables


def test_cli_prints_paper_tables(board, tmp_path, capsys):
    path = tmp_path / "leaderboard.json"
    path.write_text(board.to_json(), encoding="utf-8")

    code = main(["report", str(path), "--paper-tables"])

    output = capsys.readouterr().out
    assert code == 0
    assert output == paper_tables(board)
    assert "| model-a | naive | 0.570 ± 0.028 | 0.850 ± 0.000 | 0.510 ± 0.014 |" in output


@pytest.mark.parametrize("output_format", ["csv", "json"])
def test_cli_rejects_paper_tables_with_format(board, tmp_path, capsys, output_format):
    path = tmp_path / "leaderboard.json"
    path.write_text(board.to_json(), encoding="utf-8")

    code = main(["report", str(path), "--paper-tables", "--format", output_format])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    message = f"--paper-tables prints Markdown only, so it cannot be combined with --format {output_format}"
    assert message in captured.err


def test_cli_paper_tables_bad_details_exit_2(tmp_path, capsys):
    board = make_board([make_entry(criterion="auroc_gap", details={"tstr": "high"})])
    path = tmp_path / "leaderboard.json"
    path.write_text(board.to_json(), encoding="utf-8")

    code = main(["report", str(path), "--paper-tables"])

    assert code == 2
    assert "has details tstr = 'high'" in capsys.readouterr().err


def test_table_one_prefers_best_covered_size():
    entries = []
    for rows in (100, 200):
        entries += case_entries("real-holdout", "none", "kall", rows, 0)
    entries += case_entries("model-a", "naive", "kall", 100, 0)

    text = paper_tables(make_board(entries))

    heading = next(line for line in text.splitlines() if line.startswith("### Table 1."))
    assert heading.endswith("(kall, 100 rows per case)")
    assert any(line.startswith("| model-a | naive |") for line in section(text, "### Table 1."))
