"""Tests for scoring an external synthetic CSV (ehrbench evaluate)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ehrbench.cli import main
from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.generators.external import load_external, map_columns


@pytest.fixture(scope="module")
def rhc() -> PreparedDataset:
    return prepare(get_dataset("rhc"))


def write_table(rhc: PreparedDataset, path: Path) -> Path:
    table = rhc.reference.drop(columns=["edu"]).rename(columns={"age": " AGE "})
    table["extra"] = 1
    table = table.astype(object)
    table.loc[0, "hrt1"] = "fast"
    table.to_csv(path, index=False)
    return path


def test_map_columns_case_and_spaces(rhc: PreparedDataset) -> None:
    mapping = map_columns([" AGE ", "Sex", "extra", "age"], rhc)

    assert mapping.mapped == {" AGE ": "age", "Sex": "sex"}
    assert mapping.unmapped == ["extra", "age"]
    assert "edu" in mapping.absent
    assert "age" not in mapping.absent


def test_load_external_counts_invalid_rows(rhc: PreparedDataset, tmp_path: Path) -> None:
    generation, mapping = load_external(write_table(rhc, tmp_path / "table.csv"), rhc)

    assert mapping.unmapped == ["extra"]
    assert mapping.absent == ["edu"]
    assert "edu" not in generation.schema.names
    assert generation.validity.requested == len(rhc.reference)
    assert generation.validity.rejections["wrong type"] == 1
    assert generation.validity.valid == len(generation.synthetic)
    assert generation.validity.valid + sum(generation.validity.rejections.values()) == len(rhc.reference)
    assert generation.generator == "table"


def test_load_external_requires_label(rhc: PreparedDataset, tmp_path: Path) -> None:
    path = tmp_path / "no-label.csv"
    rhc.reference.drop(columns=["death"]).to_csv(path, index=False)

    with pytest.raises(ValueError, match="no column 'death'"):
        load_external(path, rhc)


def test_load_external_empty_table(rhc: PreparedDataset, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    rhc.reference.iloc[:0].to_csv(path, index=False)

    with pytest.raises(ValueError, match="has no rows"):
        load_external(path, rhc)


def test_evaluate_command_scores_real_rows(rhc: PreparedDataset, tmp_path: Path, capsys) -> None:
    path = write_table(rhc, tmp_path / "table.csv")

    code = main(["evaluate", "--dataset", "rhc", "--synthetic", str(path)])

    output = capsys.readouterr().out
    assert code == 0
    assert "left out: extra" in output
    assert "not scored: edu" in output
    assert "| detectability |" in output
    assert "| kl_divergence |" in output


def test_evaluate_command_missing_file(tmp_path: Path, capsys) -> None:
    code = main(["evaluate", "--dataset", "rhc", "--synthetic", str(tmp_path / "absent.csv")])

    assert code == 2
    assert "absent.csv could not be read" in capsys.readouterr().err


def test_evaluate_command_fails_on_missed_threshold(rhc: PreparedDataset, tmp_path: Path) -> None:
    path = tmp_path / "constant.csv"
    table = rhc.reference.copy()
    table["age"] = 18.5
    table.to_csv(path, index=False)

    assert main(["evaluate", "--dataset", "rhc", "--synthetic", str(path)]) == 1


def test_evaluate_names_missing_group_columns(rhc: PreparedDataset, tmp_path: Path, capsys) -> None:
    path = tmp_path / "no_race.csv"
    rhc.reference.drop(columns=["race"]).to_csv(path, index=False)

    main(["evaluate", "--dataset", "rhc", "--synthetic", str(path)])

    output = capsys.readouterr().out
    assert "add the columns race and sex to the table to score it" in output
    assert "strategy" not in output.split("group_kl_worst", 1)[1].splitlines()[0]
