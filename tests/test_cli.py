"""Tests of the ``ehrbench`` command: datasets, report and record."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ehrbench.cli import main
from ehrbench.report import Entry, Leaderboard, render_markdown

EICU_DEMO_DIR = Path("/work/shared/data/eicu-crd-demo-2.0.1")

MODELS_FILE = """
[models.closed-port-model]
provider = "openai-compatible"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = ""
structured_output = "json_object_schema"
timeout_seconds = 10
"""

# The ``ehrbench`` command line in a fresh interpreter, as the console script starts it.
COMMAND = [sys.executable, "-c", "import sys; from ehrbench.cli import main; sys.exit(main())"]


def closed_port() -> int:
    """Return a loopback TCP port that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_models(folder: Path, port: int) -> Path:
    path = folder / "models.toml"
    path.write_text(MODELS_FILE.format(port=port), encoding="utf-8")
    return path


def make_board() -> Leaderboard:
    entries = [
        Entry("rhc", "real-holdout", "none", "k5", 100, 0, "kl_divergence", 0.03, True, 0.1, "minimize"),
        Entry("rhc", "model-a", "naive", "k5", 100, 0, "kl_divergence", 0.4, False, 0.1, "minimize"),
        Entry("rhc", "model-a", "naive", "k5", 100, 0, "ks_statistic", None, False, 0.2, "minimize", reason="no rows"),
    ]
    return Leaderboard(entries, {"ehrbench": "test", "criteria": ["kl_divergence", "ks_statistic"]})


# ehrbench datasets


def test_datasets_lists_rhc_without_eicu(monkeypatch, capsys):
    monkeypatch.delenv("EHRBENCH_EICU_DIR", raising=False)

    code = main(["datasets"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("rhc: 5735 rows, ")
    assert "label 'death'" in lines[0]
    assert lines[1].startswith("eicu: not available (")
    assert "EHRBENCH_EICU_DIR" in lines[1]


@pytest.mark.skipif(not EICU_DEMO_DIR.is_dir(), reason=f"the eICU-CRD demo is not at {EICU_DEMO_DIR}")
def test_datasets_lists_eicu_from_variable(monkeypatch, capsys):
    monkeypatch.setenv("EHRBENCH_EICU_DIR", str(EICU_DEMO_DIR))

    code = main(["datasets"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("rhc: 5735 rows, ")
    assert lines[1].startswith("eicu: ")
    assert "not available" not in lines[1]
    assert " rows, " in lines[1]


# ehrbench report


def test_report_renders_markdown(tmp_path, capsys):
    board = make_board()
    path = tmp_path / "leaderboard.json"
    path.write_text(board.to_json(), encoding="utf-8")

    code = main(["report", str(path)])

    output = capsys.readouterr().out
    assert code == 0
    assert output == render_markdown(board)
    assert "| model-a | naive | 0/2 | 0.400 ✗ | n/a ✗ |" in output


@pytest.mark.parametrize("output_format", ["csv", "json"])
def test_report_other_formats(tmp_path, capsys, output_format):
    board = make_board()
    path = tmp_path / "leaderboard.json"
    path.write_text(board.to_json(), encoding="utf-8")

    code = main(["report", str(path), "--format", output_format])

    expected = board.to_csv() if output_format == "csv" else board.to_json()
    assert code == 0
    assert capsys.readouterr().out == expected


def test_report_invalid_json_names_file(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")

    code = main(["report", str(path)])

    assert code == 2
    assert f"{path} is not a leaderboard JSON" in capsys.readouterr().err


def test_report_missing_file_names_file(tmp_path, capsys):
    path = tmp_path / "absent.json"

    code = main(["report", str(path)])

    assert code == 2
    assert "absent.json" in capsys.readouterr().err


# ehrbench record


def test_record_unknown_model_lists_configured(tmp_path, capsys):
    models = write_models(tmp_path, closed_port())

    code = main(["record", "--models-file", str(models), "--models", "unknown", "--cassettes", str(tmp_path)])

    error = capsys.readouterr().err
    assert code == 2
    assert "unknown model(s) ['unknown']" in error
    assert "configured models are ['closed-port-model']" in error


@pytest.fixture(scope="module")
def record_closed_port(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, int]:
    """Run ``ehrbench record`` once against a model whose loopback port is closed."""
    folder = tmp_path_factory.mktemp("record")
    port = closed_port()
    models = write_models(folder, port)
    cassettes = folder / "cassettes"
    arguments = [
        "record",
        "--models-file", str(models),
        "--cassettes", str(cassettes),
        "--strategies", "naive",
        "--feature-sets", "5",
        "--rows", "10",
    ]  # fmt: skip
    completed = subprocess.run(
        COMMAND + arguments, cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )
    return completed, cassettes, port


def test_record_closed_port_fails(record_closed_port):
    completed, cassettes, _ = record_closed_port

    assert completed.returncode != 0
    assert list(cassettes.rglob("*.yaml")) == []


def test_record_closed_port_error_is_clear(record_closed_port):
    completed, _, port = record_closed_port

    assert "Traceback" not in completed.stderr
    assert f"127.0.0.1:{port}" in completed.stderr


def test_record_rerun_hint_repeats_options(record_closed_port):
    completed, cassettes, _ = record_closed_port

    assert "No request of this case was stored yet" in completed.stderr
    assert f"--models-file {cassettes.parent / 'models.toml'}" in completed.stderr
    assert f"--cassettes {cassettes}" in completed.stderr


def test_record_checks_every_key_first(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EHRBENCH_TEST_MISSING_KEY", raising=False)
    models = write_models(tmp_path, closed_port())
    with models.open("a", encoding="utf-8") as file:
        file.write(
            '\n[models.remote]\nprovider = "anthropic"\nmodel = "claude-x"\nbase_url = "https://example.invalid"\n'
            'api_key_env = "EHRBENCH_TEST_MISSING_KEY"\nstructured_output = "tool_schema"\n'
        )

    status = main(["record", "--models-file", str(models), "--cassettes", str(tmp_path / "c"), "--strategies", "naive",
                   "--feature-sets", "5", "--rows", "10"])

    assert status == 2
    assert "no API key; set the environment variable EHRBENCH_TEST_MISSING_KEY" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_datasets_lists_columns(capsys):
    assert main(["datasets", "--columns"]) == 0
    output = capsys.readouterr().out

    assert "  death (binary, the label)" in output
    assert '  race (categorical): race; one of: "black", "other", "white"' in output
