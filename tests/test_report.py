"""Tests of the leaderboard: JSON and CSV storage, Markdown rendering and comparison."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, replace

import pytest

from ehrbench.report import Entry, Leaderboard, compare, render, render_markdown, render_summary
from ehrbench.report.leaderboard import ENTRY_FIELDS

CRITERIA = ["validity_rate", "kl_divergence", "ks_statistic"]


def make_entry(**overrides) -> Entry:
    """Return a passing rhc kl_divergence entry with ``overrides`` applied."""
    values = dict(
        dataset="rhc",
        generator="real-holdout",
        strategy="none",
        feature_set="k5",
        rows=100,
        replicate=0,
        criterion="kl_divergence",
        value=0.05,
        passed=True,
        threshold=0.1,
        goal="minimize",
    )
    values.update(overrides)
    return Entry(**values)


def make_board(entries: list[Entry], criteria: list[str] | None = None) -> Leaderboard:
    return Leaderboard(entries, {"ehrbench": "test", "criteria": CRITERIA if criteria is None else criteria})


@pytest.fixture
def board() -> Leaderboard:
    """A board with a scored entry, an unscored one, an interval and a second generator."""
    return make_board(
        [
            make_entry(generator="model-a", strategy="naive", value=0.25, passed=False),
            make_entry(criterion="ks_statistic", value=None, passed=False, reason="no numeric columns"),
            make_entry(criterion="auroc_gap", value=0.12, low=0.05, high=0.19, threshold=0.2),
            make_entry(replicate=1, value=0.07),
        ]
    )


def table_rows(markdown: str) -> list[list[str]]:
    """Return the cells of every table line of ``markdown``, the header row included."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def entry_from_csv_row(row: dict[str, str]) -> Entry:
    """Return the entry that a CSV row of ``Leaderboard.to_csv`` stores. Empty cells become None."""

    def optional_float(text: str) -> float | None:
        return None if text == "" else float(text)

    return Entry(
        dataset=row["dataset"],
        generator=row["generator"],
        strategy=row["strategy"],
        feature_set=row["feature_set"],
        rows=int(row["rows"]),
        replicate=int(row["replicate"]),
        criterion=row["criterion"],
        value=optional_float(row["value"]),
        passed={"True": True, "False": False}[row["passed"]],
        threshold=float(row["threshold"]),
        goal=row["goal"],
        low=optional_float(row["low"]),
        high=optional_float(row["high"]),
        reason=row["reason"],
        details=json.loads(row["details"]),
    )


# Storage


def test_json_round_trip_keeps_entries(board):
    loaded = Leaderboard.from_json(board.to_json())

    assert loaded.entries == board.sorted_entries()
    assert loaded.meta == board.meta


def test_json_round_trip_through_file(board, tmp_path):
    path = tmp_path / "leaderboard.json"
    path.write_text(board.to_json(), encoding="utf-8")

    loaded = Leaderboard.load(path)

    assert loaded.entries == board.sorted_entries()


def test_json_is_sorted_and_stable(board):
    shuffled = Leaderboard(list(reversed(board.entries)), dict(board.meta))

    assert shuffled.to_json() == board.to_json()


def test_csv_round_trip_keeps_entries(board):
    reader = csv.DictReader(io.StringIO(board.to_csv()))

    assert tuple(reader.fieldnames) == ENTRY_FIELDS
    assert [entry_from_csv_row(row) for row in reader] == board.sorted_entries()


def test_csv_writes_unscored_value_as_empty(board):
    rows = list(csv.DictReader(io.StringIO(board.to_csv())))
    unscored = [row for row in rows if row["criterion"] == "ks_statistic"]

    assert len(unscored) == 1
    assert unscored[0]["value"] == ""
    assert unscored[0]["reason"] == "no numeric columns"


VALID_ENTRY = asdict(make_entry())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("[]", id="list-document"),
        pytest.param('{"meta": {}}', id="no-entries"),
        pytest.param('{"entries": null}', id="null-entries"),
        pytest.param('{"entries": ["rhc"]}', id="entry-not-object"),
        pytest.param('{"entries": [{"dataset": "rhc"}]}', id="entry-missing-fields"),
        pytest.param(json.dumps({"entries": [{**VALID_ENTRY, "colour": "red"}]}), id="entry-unknown-field"),
    ],
)
def test_from_json_rejects_bad_input(text):
    with pytest.raises(ValueError, match="my-board.json is not a leaderboard JSON"):
        Leaderboard.from_json(text, source="my-board.json")


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"entries": [{**VALID_ENTRY, "value": "0.05"}]}, id="value-is-string"),
        pytest.param({"entries": [{**VALID_ENTRY, "rows": "100"}]}, id="rows-is-string"),
        pytest.param({"meta": ["rhc"], "entries": [VALID_ENTRY]}, id="meta-is-list"),
    ],
)
def test_from_json_rejects_wrong_types(document):
    with pytest.raises(ValueError, match="my-board.json"):
        Leaderboard.from_json(json.dumps(document), source="my-board.json")


def test_load_missing_file_names_path(tmp_path):
    path = tmp_path / "absent.json"

    with pytest.raises(FileNotFoundError, match="absent.json"):
        Leaderboard.load(path)


# Markdown rendering


def test_render_one_table_per_dataset_and_rows():
    board = make_board(
        [
            make_entry(dataset="rhc", rows=200),
            make_entry(dataset="rhc", rows=100),
            make_entry(dataset="eicu", rows=100),
            make_entry(dataset="rhc", rows=100, replicate=1),
        ]
    )

    headings = [line for line in render_markdown(board).splitlines() if line.startswith("###")]

    assert headings == [
        "### eicu, 100 rows per case",
        "### rhc, 100 rows per case",
        "### rhc, 200 rows per case",
    ]


def test_render_orders_references_then_strategies():
    pairs = [
        ("model-b", "group"),
        ("model-a", "conditional"),
        ("independent-marginals", "none"),
        ("model-b", "naive"),
        ("model-a", "group"),
        ("real-holdout", "none"),
        ("model-a", "schema"),
        ("model-a", "naive"),
    ]
    board = make_board([make_entry(generator=generator, strategy=strategy) for generator, strategy in pairs])

    rows = table_rows(render_markdown(board))[1:]

    assert [(row[0], row[1]) for row in rows] == [
        ("real-holdout", "none"),
        ("independent-marginals", "none"),
        ("model-a", "naive"),
        ("model-a", "schema"),
        ("model-a", "conditional"),
        ("model-a", "group"),
        ("model-b", "naive"),
        ("model-b", "group"),
    ]


def test_render_columns_follow_meta_criteria():
    entries = [
        make_entry(criterion=criterion, feature_set=feature_set)
        for criterion in ("zeta", "kl_divergence", "alpha", "validity_rate")
        for feature_set in ("kall", "k10", "k5")
    ]
    board = make_board(entries, criteria=["validity_rate", "kl_divergence", "ks_statistic"])

    header = table_rows(render_markdown(board))[0]

    assert header == [
        "generator",
        "strategy",
        "passed",
        "validity_rate k5",
        "validity_rate k10",
        "validity_rate kall",
        "kl_divergence k5",
        "kl_divergence k10",
        "kl_divergence kall",
        "alpha k5",
        "alpha k10",
        "alpha kall",
        "zeta k5",
        "zeta k10",
        "zeta kall",
    ]


def test_render_mean_and_sd_over_replicates():
    board = make_board([make_entry(replicate=0, value=0.1), make_entry(replicate=1, value=0.3)])

    rows = table_rows(render_markdown(board))

    assert rows[1][3] == "0.200 ± 0.141 ✓"


def test_render_single_replicate_has_no_sd():
    board = make_board([make_entry(value=0.0504)])

    rows = table_rows(render_markdown(board))

    assert rows[1][3] == "0.050 ✓"


def test_render_unscored_value_is_na():
    board = make_board([make_entry(value=None, passed=False, reason="no numeric columns")])

    rows = table_rows(render_markdown(board))

    assert rows[1][3] == "n/a ✗"


def test_render_counts_unscored_replicates():
    board = make_board([make_entry(replicate=0, value=0.2), make_entry(replicate=1, value=None, passed=False)])

    rows = table_rows(render_markdown(board))

    assert rows[1][3] == "0.200 (1 n/a) ✗"


def test_render_check_mark_needs_every_replicate():
    mixed = make_board([make_entry(replicate=0, passed=True), make_entry(replicate=1, passed=False)])
    all_passed = make_board([make_entry(replicate=0, passed=True), make_entry(replicate=1, passed=True)])

    mixed_cell = table_rows(render_markdown(mixed))[1][3]
    passed_cell = table_rows(render_markdown(all_passed))[1][3]

    assert mixed_cell.endswith("✗")
    assert passed_cell.endswith("✓")


def test_render_passed_column_counts_entries():
    board = make_board(
        [
            make_entry(criterion="kl_divergence", passed=True),
            make_entry(criterion="ks_statistic", passed=False, value=0.3, threshold=0.2),
            make_entry(criterion="validity_rate", passed=True, value=1.0, threshold=0.9, goal="maximize"),
        ]
    )

    rows = table_rows(render_markdown(board))

    assert rows[1][2] == "2/3"


def test_render_lists_thresholds_with_direction():
    board = make_board(
        [
            make_entry(criterion="validity_rate", value=1.0, threshold=0.9, goal="maximize"),
            make_entry(criterion="kl_divergence", value=0.05, threshold=0.1, goal="minimize"),
        ]
    )

    text = render_markdown(board)

    assert "Thresholds: validity_rate >= 0.9, kl_divergence <= 0.1." in text


def test_render_empty_board_says_empty():
    assert "empty" in render_markdown(Leaderboard())


def test_render_other_formats(board):
    assert render(board, "csv") == board.to_csv()
    assert render(board, "json") == board.to_json()
    assert render(board, "markdown") == render_markdown(board)


def test_render_unknown_format_raises(board):
    with pytest.raises(ValueError, match="output_format 'html'"):
        render(board, "html")


# Comparison with a committed leaderboard


def test_compare_identical_boards_match(board):
    expected = Leaderboard.from_json(board.to_json())

    assert compare(board, expected) == []


def test_compare_reports_value_change_beyond_tolerance():
    expected = make_board([make_entry(value=0.5)])
    current = make_board([make_entry(value=0.5 * (1 + 1e-8))])

    differences = compare(current, expected)

    assert len(differences) == 1
    assert differences[0].startswith("rhc/real-holdout/none/k5/n100/r0 kl_divergence: value 0.5 ->")


def test_compare_ignores_change_within_tolerance():
    expected = make_board([make_entry(value=0.5)])
    current = make_board([make_entry(value=0.5 * (1 + 1e-10))])

    assert compare(current, expected) == []


def test_compare_reports_value_becoming_unscored():
    expected = make_board([make_entry(value=0.5)])
    current = make_board([make_entry(value=None, passed=False)])

    differences = compare(current, expected)

    assert differences == ["rhc/real-holdout/none/k5/n100/r0 kl_divergence: value 0.5 -> None"]


def test_compare_reports_passed_and_threshold_changes():
    expected = make_board([make_entry(criterion="a"), make_entry(criterion="b")])
    current = make_board([make_entry(criterion="a", passed=False), make_entry(criterion="b", threshold=0.2)])

    differences = compare(current, expected)

    assert differences == [
        "rhc/real-holdout/none/k5/n100/r0 a: passed True -> False",
        "rhc/real-holdout/none/k5/n100/r0 b: threshold 0.1 -> 0.2",
    ]


def test_compare_reports_missing_and_extra_entries():
    expected = make_board([make_entry(generator="real-holdout")])
    current = make_board([make_entry(generator="independent-marginals")])

    differences = compare(current, expected)

    assert differences == [
        "missing from this run: rhc/real-holdout/none/k5/n100/r0 kl_divergence",
        "not in the committed leaderboard: rhc/independent-marginals/none/k5/n100/r0 kl_divergence",
    ]


def test_compare_ignores_datasets_not_in_run():
    rhc = make_entry(dataset="rhc")
    expected = make_board([rhc, make_entry(dataset="eicu"), make_entry(dataset="eicu", value=0.9)])
    current = make_board([rhc])

    assert compare(current, expected) == []


def test_compare_still_checks_run_datasets():
    expected = make_board([make_entry(dataset="rhc"), make_entry(dataset="eicu")])
    current = make_board([replace(make_entry(dataset="rhc"), value=0.07)])

    differences = compare(current, expected)

    assert differences == ["rhc/real-holdout/none/k5/n100/r0 kl_divergence: value 0.05 -> 0.07"]


# Entry details


NESTED_DETAILS = {
    "tstr": 0.71,
    "trtr": 0.75,
    "targets": {"South": {"tstr": 0.71, "rows": 312}, "West": {"tstr": None}},
    "sizes": [10, 20],
    "skipped": ["race"],
    "converged": True,
    "note": "bootstrap",
}


def test_details_default_to_empty():
    assert make_entry().details == {}


def test_details_survive_json_round_trip():
    board = make_board([make_entry(details=NESTED_DETAILS), make_entry(criterion="auroc_gap")])

    loaded = Leaderboard.from_json(board.to_json())

    assert loaded.entries == board.sorted_entries()
    assert [entry.details for entry in loaded.entries] == [{}, NESTED_DETAILS]


def test_details_survive_csv_round_trip():
    board = make_board([make_entry(details=NESTED_DETAILS)])

    rows = list(csv.DictReader(io.StringIO(board.to_csv())))

    assert [entry_from_csv_row(row) for row in rows] == board.sorted_entries()


def test_csv_details_column_is_compact_json():
    board = make_board([make_entry(details={"tstr": 0.7, "groups": {"sex=Male": 0.04}}), make_entry(replicate=1)])

    rows = list(csv.DictReader(io.StringIO(board.to_csv())))

    assert rows[0]["details"] == '{"groups":{"sex=Male":0.04},"tstr":0.7}'
    assert rows[1]["details"] == "{}"


def test_old_leaderboard_loads_empty_details():
    old_entry = {name: value for name, value in VALID_ENTRY.items() if name != "details"}

    loaded = Leaderboard.from_json(json.dumps({"meta": {}, "entries": [old_entry]}))

    assert loaded.entries[0].details == {}


@pytest.mark.parametrize(
    ("details_json", "message"),
    [
        pytest.param("[0.7]", r"entry field 'details' is \[0.7\], expected an object", id="list"),
        pytest.param('"tstr"', "entry field 'details' is 'tstr', expected an object", id="text"),
        pytest.param('{"tstr": NaN}', "entry field 'details.tstr' is nan, expected a finite number", id="nan"),
        pytest.param(
            '{"a": {"b": [1, -Infinity]}}',
            r"entry field 'details.a.b\[1\]' is -inf, expected a finite",
            id="nested-inf",
        ),
    ],
)
def test_from_json_rejects_bad_details(details_json, message):
    entry_json = json.dumps({**VALID_ENTRY, "details": "PLACEHOLDER"}).replace('"PLACEHOLDER"', details_json)
    text = '{"meta": {}, "entries": [' + entry_json + "]}"

    with pytest.raises(ValueError, match="my-board.json is not a leaderboard JSON") as raised:
        Leaderboard.from_json(text, source="my-board.json")

    assert raised.match(message)


@pytest.mark.parametrize(
    ("details", "message"),
    [
        pytest.param({1: 0.5}, "entry field 'details' has the key 1, expected text keys", id="int-key"),
        pytest.param({"sizes": (1, 2)}, "entry field 'details.sizes' is (1, 2) of type tuple", id="tuple"),
        pytest.param({"inf": float("inf")}, "entry field 'details.inf' is inf, expected a finite number", id="inf"),
        pytest.param({"rows": {"a": object}}, "entry field 'details.rows.a' is <class 'object'>", id="object"),
    ],
)
def test_entry_rejects_non_json_details(details, message):
    with pytest.raises(TypeError) as raised:
        make_entry(details=details)

    assert message in str(raised.value)


def test_entry_with_details_stays_hashable():
    entry = make_entry(details={"tstr": 0.7})

    assert hash(entry) == hash(make_entry(details={"tstr": 0.6}))
    assert entry != make_entry(details={"tstr": 0.6})


def test_compare_reports_first_differing_details_path():
    before = {"targets": {"North": {"tstr": 0.8}, "South": {"tstr": 0.71, "valid": 0.9}}, "trtr": 0.8}
    after = {"targets": {"North": {"tstr": 0.8}, "South": {"tstr": 0.69, "valid": 0.8}}, "trtr": 0.6}
    expected = make_board([make_entry(details=before)])
    current = make_board([make_entry(details=after)])

    differences = compare(current, expected)

    assert differences == ["rhc/real-holdout/none/k5/n100/r0 kl_divergence: details.targets.South.tstr 0.71 -> 0.69"]


def test_compare_ignores_details_change_within_tolerance():
    expected = make_board([make_entry(details={"tstr": 0.7, "rows": [100, 3]})])
    current = make_board([make_entry(details={"tstr": 0.7 * (1 + 1e-10), "rows": [100.0, 3]})])

    assert compare(current, expected) == []


@pytest.mark.parametrize(
    ("before", "after", "difference"),
    [
        pytest.param({}, {"tstr": 0.7}, "details.tstr absent -> 0.7", id="key-added"),
        pytest.param({"tstr": 0.7, "trtr": 0.8}, {"tstr": 0.7}, "details.trtr 0.8 -> absent", id="key-removed"),
        pytest.param({"sizes": [1, 2]}, {"sizes": [1, 2, 3]}, "details.sizes length 2 -> 3", id="list-length"),
        pytest.param({"sizes": [1, 2]}, {"sizes": [1, 5]}, "details.sizes[1] 2 -> 5", id="list-item"),
        pytest.param({"tstr": 0.7}, {"tstr": None}, "details.tstr 0.7 -> None", id="number-to-null"),
        pytest.param({"flag": 1}, {"flag": True}, "details.flag 1 -> True", id="int-to-bool"),
        pytest.param({"note": "a"}, {"note": "b"}, "details.note 'a' -> 'b'", id="text"),
        pytest.param({"groups": {"a": 1}}, {"groups": [1]}, "details.groups {'a': 1} -> [1]", id="dict-to-list"),
    ],
)
def test_compare_reports_details_changes(before, after, difference):
    expected = make_board([make_entry(details=before)])
    current = make_board([make_entry(details=after)])

    assert compare(current, expected) == [f"rhc/real-holdout/none/k5/n100/r0 kl_divergence: {difference}"]


def test_compare_reports_value_before_details():
    expected = make_board([make_entry(value=0.05, details={"tstr": 0.7})])
    current = make_board([make_entry(value=0.06, details={"tstr": 0.6})])

    assert compare(current, expected) == ["rhc/real-holdout/none/k5/n100/r0 kl_divergence: value 0.05 -> 0.06"]


def test_render_splits_tables_by_family():
    board = Leaderboard(
        [make_entry(), make_entry(criterion="dcr_ratio", goal="maximize", threshold=0.8, value=1.0)],
        meta={"criteria": ["kl_divergence", "dcr_ratio"], "families": {"kl_divergence": "fidelity", "dcr_ratio": "privacy"}},
    )

    headings = [line for line in render_markdown(board).splitlines() if line.startswith("###")]

    assert headings == ["### rhc, 100 rows per case: fidelity", "### rhc, 100 rows per case: privacy"]


def test_render_without_families_keeps_one_table():
    board = Leaderboard(
        [make_entry(), make_entry(criterion="dcr_ratio", goal="maximize", threshold=0.8, value=1.0)],
        meta={"criteria": ["kl_divergence", "dcr_ratio"]},
    )

    headings = [line for line in render_markdown(board).splitlines() if line.startswith("###")]

    assert headings == ["### rhc, 100 rows per case"]


def test_summary_counts_passes_per_family():
    entries = [
        make_entry(),
        make_entry(replicate=1, value=0.2, passed=False),
        make_entry(criterion="dcr_ratio", goal="maximize", threshold=0.8, value=1.0),
        make_entry(rows=500, value=0.01),
    ]
    board = Leaderboard(entries, meta={"criteria": ["kl_divergence", "dcr_ratio"], "families": {"kl_divergence": "fidelity", "dcr_ratio": "privacy"}})

    lines = render_summary(board).splitlines()

    assert lines[0] == "### rhc: passed criteria per family"
    assert lines[2] == (
        "| generator | strategy | passed | n100 fidelity | n100 privacy | n500 fidelity | n500 privacy "
        "| requests | output tokens | cost (USD) |"
    )
    assert lines[4] == "| real-holdout | none | 3/4 | 1/2 | 1/1 | 1/1 |  |  |  |  |"


def test_summary_sums_tokens_and_cost():
    usage = {"requests": 5, "input_tokens": 900, "output_tokens": 1500, "cost_usd": 0.02}
    entries = [
        make_entry(generator="model-a", strategy="naive", criterion="validity_rate", goal="maximize", details=usage),
        make_entry(generator="model-a", strategy="naive", criterion="validity_rate", goal="maximize", replicate=1,
                   details={**usage, "cost_usd": None}),
    ]
    board = Leaderboard(entries, meta={"criteria": ["validity_rate"], "families": {"validity_rate": "validity"}})

    row = render_summary(board).splitlines()[4]

    assert row.endswith("| 10 | 3,000 | 0.0200+ |")
