"""Tests of the benchmark grid, the runner and the pytest plugin (run in a pytester folder).

Each plugin test runs a two-criterion benchmark module on RHC with one feature set and one
strategy. The only configured model has no cassette, so its cases skip and the reference
generators (which need none) produce every leaderboard entry.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re

import pytest

import ehrbench.runner
from ehrbench.criteria import Evaluator, load_thresholds
from ehrbench.datasets import DatasetError
from ehrbench.generators.base import GenerationResult
from ehrbench.providers import ModelConfig
from ehrbench.pytest_plugin import MISSING_SHOWN
from ehrbench.report import Entry, Leaderboard
from ehrbench.runner import BenchCase, BenchmarkRunner, GridOptions, build_grid

pytest_plugins = ["pytester"]

BENCHMARK_MODULE = '''
def test_kl_divergence(judge):
    judge("kl_divergence")


def test_validity_rate(judge):
    judge("validity_rate")
'''

MODELS_FILE = """
[models.ghost-model]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
api_key_env = ""
structured_output = "json_object_schema"
"""

IMPOSSIBLE_THRESHOLDS = """
[validity_rate]
goal = "maximize"
threshold = 2.0
reason = "No generator returns more valid rows than requested."

[kl_divergence]
goal = "minimize"
threshold = -1.0
reason = "A divergence is never negative."
"""

TEST_OF_CRITERION = {"kl_divergence": "test_kl_divergence", "validity_rate": "test_validity_rate"}
LLM_ID = "rhc-ghost-model-naive-k5-n100-r0"
OUTCOME_LINE = re.compile(r"^test_bench\.py::(\S+) (PASSED|FAILED|SKIPPED|ERROR)")


def make_model(name: str) -> ModelConfig:
    return ModelConfig(name=name, base_url="http://127.0.0.1:9/v1", api_key_env="")


# The grid and the runner


def test_build_grid_counts_and_ids():
    options = GridOptions(
        datasets=("rhc", "eicu"),
        models=(make_model("model-a"), make_model("model-b")),
        strategies=("naive", "group"),
        feature_sets=("5", "all"),
        rows=(50, 100),
        replicates=2,
    )

    grid = build_grid(options)

    # 2 datasets x 2 feature sets x 2 sizes x 2 replicates x (3 baselines + 2 models x 2 strategies)
    assert len(grid) == 112
    assert len({case.id for case in grid}) == 112
    assert [case.id for case in grid[:5]] == [
        "rhc-real-holdout-none-k5-n50-r0",
        "rhc-gaussian-copula-none-k5-n50-r0",
        "rhc-independent-marginals-none-k5-n50-r0",
        "rhc-model-a-naive-k5-n50-r0",
        "rhc-model-a-group-k5-n50-r0",
    ]
    assert grid[-1].id == "eicu-model-b-group-kall-n100-r1"


def test_build_grid_without_references():
    options = GridOptions(
        datasets=("rhc",),
        models=(make_model("model-a"),),
        strategies=("naive", "schema"),
        feature_sets=("k10",),
        rows=(100,),
        replicates=3,
        references=False,
    )

    grid = build_grid(options)

    assert [case.id for case in grid] == [
        f"rhc-model-a-{strategy}-k10-n100-r{replicate}" for replicate in range(3) for strategy in ("naive", "schema")
    ]


def test_build_grid_unknown_strategy_raises():
    options = GridOptions(("rhc",), (make_model("model-a"),), ("naive", "fancy"), ("5",), (100,), 1)

    with pytest.raises(ValueError, match="strategy 'fancy' is unknown"):
        build_grid(options)


def test_build_grid_bad_feature_set_raises():
    options = GridOptions(("rhc",), (make_model("model-a"),), ("naive",), ("five",), (100,), 1)

    with pytest.raises(ValueError, match="feature-set size 'five' is invalid"):
        build_grid(options)


def test_outcome_reraises_stored_failure(monkeypatch):
    monkeypatch.delenv("EHRBENCH_EICU_DIR", raising=False)
    runner = BenchmarkRunner(models={})
    case = BenchCase("eicu", "real-holdout", "none", "k5", 100, 0)

    with pytest.raises(DatasetError, match="EHRBENCH_EICU_DIR") as first:
        runner.outcome(case)
    with pytest.raises(DatasetError) as second:
        runner.outcome(case)

    assert second.value is first.value


# The plugin, run by pytester


@pytest.fixture
def bench(pytester: pytest.Pytester, monkeypatch) -> pytest.Pytester:
    """A pytester folder with the benchmark module, a model list and an empty cassette folder.

    The runs are in-process, so the patched runner scores utility without bootstrap intervals
    (``n_bootstrap=0``). That keeps each run short and changes no plugin behaviour.
    """
    monkeypatch.delenv("EHRBENCH_EICU_DIR", raising=False)
    monkeypatch.setattr(ehrbench.runner, "Evaluator", functools.partial(Evaluator, n_bootstrap=0))
    pytester.makepyfile(test_bench=BENCHMARK_MODULE)
    (pytester.path / "models.toml").write_text(MODELS_FILE, encoding="utf-8")
    pytester.mkdir("no-cassettes")
    return pytester


def run_bench(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    """Run the benchmark module on the small grid. ``options`` come last, so they override the defaults."""
    return pytester.runpytest(
        "-p", "no:cacheprovider", "-v", "-rs",
        "--datasets", "rhc",
        "--models-file", "models.toml",
        "--cassettes", "no-cassettes",
        "--feature-sets", "5",
        "--strategies", "naive",
        "--rows", "100",
        "--leaderboard-dir", "board",
        *options,
    )  # fmt: skip


def outcomes_by_test(result: pytest.RunResult) -> dict[str, str]:
    """Return the verbose outcome of each test, keyed by ``test_name[case id]``."""
    outcomes = {}
    for line in result.outlines:
        match = OUTCOME_LINE.match(line)
        if match:
            outcomes[match.group(1)] = match.group(2)
    return outcomes


def test_run_judges_references_and_skips_llm(bench):
    result = run_bench(bench)

    outcomes = outcomes_by_test(result)
    board = Leaderboard.load(bench.path / "board" / "leaderboard.json")
    thresholds = load_thresholds()
    # 3 baseline cases x 2 criteria judged, plus 2 skipped LLM tests
    assert len(outcomes) == 8
    assert len(board.entries) == 6
    for entry in board.entries:
        test_id = f"{TEST_OF_CRITERION[entry.criterion]}[{entry.dataset}-{entry.generator}-none-k5-n100-r0]"
        assert entry.passed == thresholds[entry.criterion].passes(entry.value), test_id
        assert outcomes[test_id] == ("PASSED" if entry.passed else "FAILED"), test_id
    for test_name in TEST_OF_CRITERION.values():
        assert outcomes[f"{test_name}[{LLM_ID}]"] == "SKIPPED"
    missing = "no-cassettes/rhc/ghost-model/naive-k5-n100-r0.yaml"
    result.stdout.fnmatch_lines([f"SKIPPED * test_bench.py:*no cassette at {missing}*"])
    result.stdout.fnmatch_lines(["*record it with: ehrbench record --dataset rhc --models ghost-model*"])


def test_run_prints_and_writes_leaderboard(bench):
    result = run_bench(bench)

    folder = bench.path / "board"
    board = Leaderboard.load(folder / "leaderboard.json")
    result.stdout.fnmatch_lines(
        [
            "*ehrbench leaderboard*",
            "### rhc: passed criteria per family",
            "| generator | strategy | passed | n100 validity | n100 fidelity | requests | output tokens | cost (USD) |",
            "| real-holdout | none | */2 | */1 | */1 |  |  |  |",
            "| gaussian-copula | none | */2 | */1 | */1 |  |  |  |",
            "| independent-marginals | none | */2 | */1 | */1 |  |  |  |",
            "Leaderboard written to board/leaderboard.md (every value, one table per family), .json and .csv",
        ]
    )
    written = (folder / "leaderboard.md").read_text(encoding="utf-8")
    assert "### rhc, 100 rows per case: validity" in written
    assert "### rhc, 100 rows per case: fidelity" in written
    assert "ghost-model |" not in result.stdout.str()
    assert {entry.generator for entry in board.entries} == {"real-holdout", "gaussian-copula", "independent-marginals"}
    assert board.meta["criteria"] == list(load_thresholds())
    assert (folder / "leaderboard.csv").read_text(encoding="utf-8") == board.to_csv()
    assert "| real-holdout | none |" in (folder / "leaderboard.md").read_text(encoding="utf-8")


def test_failed_criterion_fails_test(bench):
    (bench.path / "impossible.toml").write_text(IMPOSSIBLE_THRESHOLDS, encoding="utf-8")

    result = run_bench(bench, "--thresholds", "impossible.toml")

    outcomes = outcomes_by_test(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert sorted(outcomes.values()) == ["FAILED"] * 6 + ["SKIPPED"] * 2
    result.stdout.fnmatch_lines(["*kl_divergence = * fails kl_divergence <= -1*"])
    result.stdout.fnmatch_lines(["*validity_rate = 1.0000 fails validity_rate >= 2*"])


def test_report_only_exits_zero_and_keeps_failure(bench):
    (bench.path / "impossible.toml").write_text(IMPOSSIBLE_THRESHOLDS, encoding="utf-8")

    result = run_bench(bench, "--thresholds", "impossible.toml", "--report-only")

    document = json.loads((bench.path / "board" / "leaderboard.json").read_text(encoding="utf-8"))
    assert result.ret == pytest.ExitCode.OK
    assert len(document["entries"]) == 6
    assert [entry["passed"] for entry in document["entries"]] == [False] * 6
    assert "| real-holdout | none | 0/2 |" in result.stdout.str()


def edit_leaderboard(source, target) -> None:
    """Copy the leaderboard JSON at ``source`` with one value changed and one entry removed."""
    document = json.loads(source.read_text(encoding="utf-8"))
    edited = []
    for entry in document["entries"]:
        if (entry["generator"], entry["criterion"]) == ("real-holdout", "kl_divergence"):
            entry["value"] += 0.5
        if (entry["generator"], entry["criterion"]) != ("independent-marginals", "validity_rate"):
            edited.append(entry)
    document["entries"] = edited
    target.write_text(json.dumps(document), encoding="utf-8")


def test_compare_leaderboard_own_and_edited(bench):
    run_bench(bench)
    edit_leaderboard(bench.path / "board" / "leaderboard.json", bench.path / "edited.json")

    same = run_bench(bench, "--compare-leaderboard", "board/leaderboard.json", "--leaderboard-dir", "board2")
    edited = run_bench(bench, "--compare-leaderboard", "edited.json", "--leaderboard-dir", "board3")

    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines(["Leaderboard equals board/leaderboard.json."])
    assert edited.ret == pytest.ExitCode.TESTS_FAILED
    assert sorted(outcomes_by_test(edited).values()) == ["PASSED"] * 6 + ["SKIPPED"] * 2
    edited.stdout.fnmatch_lines(
        [
            "*leaderboard differs from edited.json*",
            "not in the committed leaderboard: rhc/independent-marginals/none/k5/n100/r0 validity_rate",
            "rhc/real-holdout/none/k5/n100/r0 kl_divergence: value * -> *",
        ]
    )
    assert "Leaderboard equals" not in edited.stdout.str()


def test_unknown_model_lists_configured(bench):
    result = run_bench(bench, "--models", "unknown")

    assert result.ret != pytest.ExitCode.OK
    assert "--models: unknown model(s) ['unknown']; configured models are ['ghost-model']" in result.stderr.str()
    assert not (bench.path / "board").exists()


def test_eicu_without_folder_names_variable(bench):
    result = run_bench(bench, "--datasets", "eicu")

    assert result.ret != pytest.ExitCode.OK
    assert "PASSED" not in outcomes_by_test(result).values()
    message = "dataset 'eicu' needs an eICU-CRD folder: pass --eicu-dir DIR or set EHRBENCH_EICU_DIR"
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_unknown_model_is_usage_error(bench):
    result = run_bench(bench, "--models", "unknown")

    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_eicu_without_folder_is_usage_error(bench):
    result = run_bench(bench, "--datasets", "eicu")

    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_compare_missing_file_is_clear_error(bench):
    result = run_bench(bench, "--compare-leaderboard", "absent.json")

    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.INTERNAL_ERROR)
    assert "absent.json" in result.stdout.str() + result.stderr.str()


def test_compare_without_entries_fails(bench):
    entry = Entry("rhc", "real-holdout", "none", "k5", 100, 0, "kl_divergence", 0.03, True, 0.1, "minimize")
    expected = Leaderboard([entry])
    (bench.path / "expected.json").write_text(expected.to_json(), encoding="utf-8")

    result = run_bench(bench, "--no-references", "--compare-leaderboard", "expected.json")

    assert outcomes_by_test(result) == {f"{test}[{LLM_ID}]": "SKIPPED" for test in TEST_OF_CRITERION.values()}
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_ini_sets_grid_defaults(bench):
    bench.makeini("[pytest]\nehrbench_rows = 40,60\nehrbench_replicates = 2\n")

    result = bench.runpytest(
        "-p", "no:cacheprovider", "--collect-only", "-q",
        "--datasets", "rhc", "--models-file", "models.toml", "--cassettes", "no-cassettes",
        "--feature-sets", "5", "--strategies", "naive", "--no-references",
    )  # fmt: skip

    result.stdout.fnmatch_lines(["*ghost-model-naive-k5-n40-r1*", "*ghost-model-naive-k5-n60-r0*"])
    assert "n100" not in result.stdout.str()


def test_command_line_overrides_ini_grid(bench):
    bench.makeini("[pytest]\nehrbench_rows = 40\n")

    result = run_bench(bench, "--collect-only", "-q", "--no-references")

    result.stdout.fnmatch_lines(["*ghost-model-naive-k5-n100-r0*"])
    assert "n40" not in result.stdout.str()


def test_ini_bad_replicates_is_usage_error(bench):
    bench.makeini("[pytest]\nehrbench_replicates = three\n")

    result = run_bench(bench)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--replicates: 'three' is not a whole number*"])


def test_long_missing_list_goes_to_file(bench):
    sizes = ",".join(str(rows) for rows in range(10, 10 + MISSING_SHOWN + 2))

    result = run_bench(bench, "--no-references", "--rows", sizes)

    result.stdout.fnmatch_lines([f"{MISSING_SHOWN + 2} cases were skipped because their cassette is missing:"])
    result.stdout.fnmatch_lines(["  ... and 2 more, all listed in board/missing-cassettes.txt"])
    listed = (bench.path / "board" / "missing-cassettes.txt").read_text(encoding="utf-8").splitlines()
    assert len(listed) == MISSING_SHOWN + 2
    assert all("ehrbench record" in line for line in listed)


def test_runner_usage_has_tokens_and_cost():
    model = dataclasses.replace(make_model("priced"), input_price_per_million=2.0, output_price_per_million=10.0)
    runner = BenchmarkRunner(models={"priced": model})
    case = BenchCase("rhc", "priced", "naive", "k5", 100, 0)
    generation = GenerationResult("priced", "naive", None, None, None, requests=5, input_tokens=1000, output_tokens=2000)

    usage = runner._usage(case, generation)

    assert usage == {"requests": 5, "input_tokens": 1000, "output_tokens": 2000, "cost_usd": 0.022}
