"""The ehrbench pytest plugin: benchmark options, the case grid, criteria checks, the leaderboard.

Registered through the ``pytest11`` entry point, so it is active in every pytest run of an
environment where ehrbench is installed. It does nothing until a test requests ``bench_case``.
Test modules in ``benchmarks/`` request ``judge`` and call ``judge("criterion_name")``.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ehrbench import __version__, prompts
from ehrbench.criteria import Threshold, Verdict, load_thresholds
from ehrbench.datasets import DatasetError, get_dataset, resolve_eicu_dir
from ehrbench.providers import ModelConfigError, load_models, select_models
from ehrbench.providers import ProviderError
from ehrbench.recording import CassetteError, CassetteMismatch, CassetteMissing, RecordingError
from ehrbench.report import Entry, Leaderboard, compare, render_markdown, render_summary
from ehrbench.runner import BenchCase, BenchmarkRunner, GridOptions, build_grid

logger = logging.getLogger(__name__)

DEFAULT_STRATEGIES = ",".join(prompts.DEFAULT_STRATEGIES)

#: Missing cassettes listed in the terminal summary; the full list goes to a file.
MISSING_SHOWN = 10
DEFAULT_FEATURE_SETS = "5,10,20"

#: The grid axes: option name, flag, default and help. A project sets its own defaults in the
#: ini file (``ehrbench_rows = "100,500"``), and the command line overrides them.
GRID_OPTIONS = (
    ("strategies", "--strategies", DEFAULT_STRATEGIES, "comma-separated prompt strategies"),
    ("feature_sets", "--feature-sets", DEFAULT_FEATURE_SETS, "feature-set sizes, e.g. 5,10,15,20,all"),
    ("rows", "--rows", "100", "comma-separated sample sizes in rows per case"),
    ("replicates", "--replicates", "1", "replicates per case"),
)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _whole_number(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a whole number") from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ehrbench", "ehrbench synthetic EHR benchmark")
    group.addoption("--datasets", help="comma-separated datasets (default: rhc, plus eicu when its folder is set)")
    group.addoption("--eicu-dir", help="eICU-CRD folder (default: $EHRBENCH_EICU_DIR)")
    group.addoption("--models", help="comma-separated model names from the model list (default: all)")
    group.addoption("--models-file", help="model list in TOML (default: benchmarks/models.toml under the rootdir)")
    for name, flag, default, text in GRID_OPTIONS:
        group.addoption(flag, help=f"{text} (default: the ini value ehrbench_{name}, else {default})")
        parser.addini(f"ehrbench_{name}", help=f"ehrbench default of {flag}", default=default)
    group.addoption("--no-references", action="store_true", help="leave out the reference generators (real-holdout, gaussian-copula, independent-marginals)")
    group.addoption("--cassettes", help="cassette folder (default: cassettes under the rootdir)")
    group.addoption("--record", action="store_true", help="record missing cassettes with the live model (needs its key or server)")
    group.addoption("--thresholds", help="thresholds file in TOML (default: the packaged one)")
    group.addoption("--leaderboard-dir", help="folder for leaderboard.md, .json and .csv (default: results under the rootdir)")
    group.addoption("--report-only", action="store_true", help="record failed criteria in the leaderboard but exit 0")
    group.addoption("--compare-leaderboard", help="fail unless the run reproduces this leaderboard JSON exactly")


@dataclass
class BenchmarkSession:
    """The plugin's state for one pytest session."""

    config: pytest.Config
    board: Leaderboard = field(default_factory=Leaderboard)
    differences: list[str] = field(default_factory=list)
    grid_error: str = ""
    missing_cassettes: dict[str, str] = field(default_factory=dict)
    failed_criteria: int = 0
    _runner: BenchmarkRunner | None = None
    _thresholds: dict[str, Threshold] | None = None
    _grid: list[BenchCase] | None = None

    def path_option(self, name: str, default: str) -> Path:
        value = self.config.getoption(name)
        return Path(value) if value else self.config.rootpath / default

    @property
    def thresholds(self) -> dict[str, Threshold]:
        if self._thresholds is None:
            self._thresholds = load_thresholds(self.config.getoption("thresholds"))
        return self._thresholds

    @property
    def runner(self) -> BenchmarkRunner:
        if self._runner is None:
            models = load_models(self.path_option("models_file", "benchmarks/models.toml"))
            self._runner = BenchmarkRunner(
                models=models,
                mode="record" if self.config.getoption("record") else "replay",
                cassette_root=self.path_option("cassettes", "cassettes"),
                eicu_dir=self.config.getoption("eicu_dir"),
            )
        return self._runner

    def grid_value(self, name: str) -> str:
        """Return a grid axis from the command line, else from the ini file."""
        value = self.config.getoption(name)
        return str(value if value is not None else self.config.getini(f"ehrbench_{name}"))

    def grid(self) -> list[BenchCase]:
        """Return the case grid, or an empty one with :attr:`grid_error` set when an option is bad."""
        if self._grid is None:
            try:
                self._grid = self._build_grid()
            except (DatasetError, ModelConfigError, ValueError, KeyError) as error:
                self.grid_error = f"ehrbench: {error}"
                self._grid = []
        return self._grid

    def _build_grid(self) -> list[BenchCase]:
        option = self.config.getoption
        datasets = _split(option("datasets")) or ["rhc"] + (["eicu"] if resolve_eicu_dir(option("eicu_dir")) else [])
        for name in datasets:
            get_dataset(name, option("eicu_dir"))
        options = GridOptions(
            datasets=tuple(datasets),
            models=tuple(select_models(self.runner.models, _split(option("models")))),
            strategies=tuple(_split(self.grid_value("strategies"))),
            feature_sets=tuple(_split(self.grid_value("feature_sets"))),
            rows=tuple(_whole_number("--rows", value) for value in _split(self.grid_value("rows"))),
            replicates=_whole_number("--replicates", self.grid_value("replicates")),
            references=not option("no_references"),
        )
        grid = build_grid(options)
        self.board.meta = {
            "ehrbench": __version__,
            "datasets": datasets,
            "strategies": list(options.strategies),
            "criteria": list(self.thresholds),
            "families": {name: threshold.family for name, threshold in self.thresholds.items()},
            "grid": {
                "feature_sets": list(options.feature_sets),
                "rows": list(options.rows),
                "replicates": options.replicates,
            },
        }
        return grid

    def judge(self, case: BenchCase, criterion: str) -> Verdict | None:
        """Score ``criterion`` on ``case``, add it to the leaderboard and return the verdict.

        Returns None, and adds nothing, when the criterion does not apply to the case.
        """
        threshold = self.thresholds.get(criterion)
        if threshold is None:
            raise KeyError(f"criterion {criterion!r} has no threshold; known criteria are {sorted(self.thresholds)}")
        result = self.runner.result(case, criterion)
        if not result.applicable:
            return None
        verdict = Verdict(threshold, result)
        self.board.add(
            Entry(
                dataset=case.dataset,
                generator=case.generator,
                strategy=case.strategy,
                feature_set=case.feature_set,
                rows=case.rows,
                replicate=case.replicate,
                criterion=criterion,
                value=result.value,
                passed=verdict.passed,
                threshold=threshold.threshold,
                goal=threshold.goal,
                low=result.low,
                high=result.high,
                reason=result.reason,
                details=result.details.get("summary", {}),
            )
        )
        return verdict


SESSION_KEY = pytest.StashKey[BenchmarkSession]()


def pytest_configure(config: pytest.Config) -> None:
    expected = config.getoption("compare_leaderboard")
    if expected and not Path(expected).is_file():
        raise pytest.UsageError(f"--compare-leaderboard: {expected} not found; pass the path of a leaderboard JSON")
    thresholds = config.getoption("thresholds")
    if thresholds and not Path(thresholds).is_file():
        raise pytest.UsageError(f"--thresholds: {thresholds} not found; pass a TOML file that lists every criterion")
    config.stash[SESSION_KEY] = BenchmarkSession(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_case" in metafunc.fixturenames:
        grid = metafunc.config.stash[SESSION_KEY].grid()
        metafunc.parametrize("bench_case", grid, ids=[case.id for case in grid])


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    # A bad benchmark option is reported once, as a usage error (exit code 4), rather than as a
    # collection error in every benchmark module.
    state = config.stash.get(SESSION_KEY, None)
    if state is not None and state.grid_error:
        raise pytest.UsageError(state.grid_error)


def _with_run_options(error: CassetteMissing, config: pytest.Config) -> str:
    """Return the message of ``error``, whose record command ends it, with this run's folder options added."""
    options = []
    for option in ("cassettes", "models_file", "eicu_dir"):
        value = config.getoption(option)
        if value:
            options += [f"--{option.replace('_', '-')}", shlex.quote(str(value))]
    return " ".join([str(error), *options])


@pytest.fixture
def bench_outcome(request: pytest.FixtureRequest, bench_case: BenchCase):
    """Generate and score the case, or skip it when its cassette is missing."""
    session = request.config.stash[SESSION_KEY]
    try:
        return session.runner.outcome(bench_case)
    except CassetteMissing as error:
        hint = _with_run_options(error, request.config)
        session.missing_cassettes.setdefault(bench_case.id, hint)
        pytest.skip(hint)
    except (CassetteMismatch, CassetteError, RecordingError, ProviderError) as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def judge(request: pytest.FixtureRequest, bench_case: BenchCase, bench_outcome):
    """A function ``judge(criterion)`` that scores, records and asserts one criterion."""
    session = request.config.stash[SESSION_KEY]
    report_only = request.config.getoption("report_only")

    def check(criterion: str) -> Verdict:
        try:
            verdict = session.judge(bench_case, criterion)
        except KeyError as error:
            pytest.fail(str(error.args[0]), pytrace=False)
        except CassetteMissing as error:  # a criterion that generates more rows, such as cross-site
            hint = _with_run_options(error, request.config)
            session.missing_cassettes.setdefault(f"{bench_case.id} {criterion}", hint)
            pytest.skip(hint)
        except (CassetteMismatch, CassetteError, RecordingError, ProviderError) as error:
            pytest.fail(str(error), pytrace=False)
        if verdict is None:
            pytest.skip(f"{criterion} does not apply: {session.runner.result(bench_case, criterion).reason}")
        if not verdict.passed:
            session.failed_criteria += 1
            if not report_only:
                pytest.fail(verdict.message, pytrace=False)
        return verdict

    return check


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(SESSION_KEY, None)
    if state is None or state._grid is None:
        return
    folder = state.path_option("leaderboard_dir", "results")
    if state.missing_cassettes:
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(message + "\n" for message in sorted(state.missing_cassettes.values()))
        (folder / "missing-cassettes.txt").write_text(text, encoding="utf-8")
    if state.board.entries:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "leaderboard.json").write_text(state.board.to_json(), encoding="utf-8")
        (folder / "leaderboard.csv").write_text(state.board.to_csv(), encoding="utf-8")
        text = render_summary(state.board) + "\n" + render_markdown(state.board)
        (folder / "leaderboard.md").write_text(text, encoding="utf-8")

    expected_path = session.config.getoption("compare_leaderboard")
    if expected_path:
        try:
            state.differences = compare(state.board, Leaderboard.load(expected_path))
        except (FileNotFoundError, ValueError) as error:
            state.differences = [str(error)]
        if state.differences:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(SESSION_KEY, None)
    if state is None or state._grid is None:
        return
    terminalreporter.section("ehrbench leaderboard")
    terminalreporter.write(render_summary(state.board))
    if state.board.entries:
        folder = state.path_option("leaderboard_dir", "results")
        terminalreporter.write_line(
            f"Leaderboard written to {folder}/leaderboard.md (every value, one table per family), .json and .csv"
        )
    if state.failed_criteria:
        verdict = "recorded, not failed (--report-only)" if config.getoption("report_only") else "failed tests"
        terminalreporter.write_line(f"{state.failed_criteria} criteria missed their thresholds: {verdict}.")
    if state.missing_cassettes:
        messages = sorted(state.missing_cassettes.values())
        terminalreporter.write_line(f"{len(messages)} cases were skipped because their cassette is missing:")
        for message in messages[:MISSING_SHOWN]:
            terminalreporter.write_line("  " + message)
        if len(messages) > MISSING_SHOWN:
            folder = state.path_option("leaderboard_dir", "results")
            terminalreporter.write_line(
                f"  ... and {len(messages) - MISSING_SHOWN} more, all listed in {folder}/missing-cassettes.txt"
            )

    expected_path = config.getoption("compare_leaderboard")
    if expected_path and state.differences:
        terminalreporter.section("leaderboard differs from " + expected_path, red=True)
        for line in state.differences:
            terminalreporter.write_line(line)
    elif expected_path:
        terminalreporter.write_line(f"Leaderboard equals {expected_path}.")
