"""Tests of the cross-site criterion: the metric, the runner's wiring and the plugin's skip.

The metric is checked against XGBoost fits of :func:`ehrbench.metrics.utility.fit_and_score`
made here on each target's rows, on made-up sites with a known outcome signal.
"""

from __future__ import annotations

import functools
import re
import statistics

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import ehrbench.runner
from ehrbench.criteria import Evaluator
from ehrbench.criteria.evaluation import UTILITY_SEED
from ehrbench.datasets.base import Dataset, PreparedDataset
from ehrbench.datasets.sites import MIN_SOURCE_TRAIN_ROWS, plan_sites, target_rows
from ehrbench.features import FeatureSubset, build_subsets
from ehrbench.generators.reference import generate_reference
from ehrbench.metrics.cross_site import NAME as CROSS_SITE
from ehrbench.metrics.cross_site import cross_site_auroc_drop
from ehrbench.metrics.utility import fit_and_score
from ehrbench.report import Leaderboard
from ehrbench.runner import BenchCase, BenchmarkRunner, site_sources
from ehrbench.schema import ColumnKind, TableSchema, infer_schema

pytest_plugins = ["pytester"]

KINDS: dict[str, ColumnKind] = {
    "x": "numeric",
    "z": "numeric",
    "flag": "binary",
    "cat": "categorical",
    "region": "categorical",
    "death": "binary",
}


def site_rows(n_rows: int, positives: int, shift: float, seed: int, region: str = "A", hospital: float = 100.0) -> pd.DataFrame:
    """Return ``n_rows`` rows of one site. Column ``x`` carries the outcome signal, moved by ``shift``."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(n_rows)
    labels[:positives] = 1.0
    return pd.DataFrame(
        {
            "x": 1.5 * labels + shift + rng.normal(size=n_rows),
            "z": rng.normal(size=n_rows) + labels * rng.normal(size=n_rows),
            "flag": (rng.random(n_rows) < 0.3 + 0.3 * labels).astype(float),
            "cat": rng.choice(["u", "v", "w"], size=n_rows).astype(object),
            "region": pd.Series([region] * n_rows, dtype=object),
            "hospital": np.full(n_rows, hospital),
            "death": labels,
        }
    )


@pytest.fixture(scope="module")
def sites() -> tuple[TableSchema, pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame]:
    """The schema, the source's training rows, two target sites and a synthetic table."""
    source_train = site_rows(300, 60, 0.0, seed=1)
    targets = {
        "B": site_rows(150, 40, 0.5, seed=2, region="B"),
        "C": site_rows(150, 30, -0.5, seed=3, region="C"),
    }
    synthetic = site_rows(200, 50, 0.2, seed=4)
    schema = infer_schema(source_train, "death", KINDS)
    return schema, source_train, targets, synthetic[schema.names]


# cross_site_auroc_drop


def test_per_target_auroc_matches_own_fit(sites):
    schema, source_train, targets, synthetic = sites

    result = cross_site_auroc_drop(synthetic, source_train, targets, schema, UTILITY_SEED, ("region", "A"))

    per_target = result.details["summary"]["targets"]
    assert list(per_target) == ["B", "C"]
    for name, rows in targets.items():
        labels = rows["death"].to_numpy(dtype=int)
        tstr = fit_and_score(synthetic, rows[schema.names], schema, UTILITY_SEED, n_bootstrap=0)
        trtr = fit_and_score(source_train[schema.names], rows[schema.names], schema, UTILITY_SEED, n_bootstrap=0)
        assert per_target[name]["tstr"] == pytest.approx(roc_auc_score(labels, tstr.probabilities), abs=1e-12), name
        assert per_target[name]["trtr"] == pytest.approx(roc_auc_score(labels, trtr.probabilities), abs=1e-12), name
        assert per_target[name]["tstr"] == pytest.approx(tstr.auroc.value, abs=1e-12), name
        assert per_target[name]["rows"] == len(rows), name
        assert per_target[name]["positives"] == int(labels.sum()), name


def test_drop_is_mean_trtr_minus_tstr(sites):
    schema, source_train, targets, synthetic = sites

    result = cross_site_auroc_drop(synthetic, source_train, targets, schema, UTILITY_SEED, ("region", "A"))

    summary = result.details["summary"]
    per_target = summary["targets"]
    expected = statistics.fmean(target["trtr"] - target["tstr"] for target in per_target.values())
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert summary["tstr_across"] == pytest.approx(statistics.fmean(t["tstr"] for t in per_target.values()), abs=1e-12)
    assert summary["trtr_across"] == pytest.approx(statistics.fmean(t["trtr"] for t in per_target.values()), abs=1e-12)
    assert summary["site_column"] == "region"
    assert summary["source_site"] == "A"
    assert summary["n_source_train"] == len(source_train)
    assert result.details["n_synthetic"] == len(synthetic)


def test_drop_zero_for_source_training_rows(sites):
    schema, source_train, targets, _ = sites

    result = cross_site_auroc_drop(
        source_train[schema.names], source_train, targets, schema, UTILITY_SEED, ("region", "A")
    )

    assert result.value == pytest.approx(0.0, abs=1e-12)
    for name, target in result.details["summary"]["targets"].items():
        assert target["tstr"] == target["trtr"], name


def test_no_targets_raises(sites):
    schema, source_train, _, synthetic = sites

    with pytest.raises(ValueError, match="targets: no target site"):
        cross_site_auroc_drop(synthetic, source_train, {}, schema, UTILITY_SEED, ("region", "A"))


def test_invalid_synthetic_unscored(sites):
    schema, source_train, targets, synthetic = sites

    result = cross_site_auroc_drop(
        synthetic.drop(columns=["x"]), source_train, targets, schema, UTILITY_SEED, ("region", "A")
    )

    assert result.value is None
    assert result.reason.startswith("TSTR could not be scored: invalid training table")
    assert "'x'" in result.reason
    assert result.details["summary"]["source_site"] == "A"


def test_small_source_unscored(sites):
    schema, source_train, targets, synthetic = sites

    result = cross_site_auroc_drop(synthetic, source_train.iloc[:10], targets, schema, UTILITY_SEED, ("region", "A"))

    assert result.value is None
    assert result.reason.startswith("TRTR on the source site could not be scored: ")
    assert "10 labelled rows" in result.reason


@pytest.mark.filterwarnings("ignore:Only one class is present in y_true")
def test_single_class_target_not_nan(sites):
    schema, source_train, targets, synthetic = sites
    survivors = site_rows(120, 0, 0.0, seed=5, region="survivors-only")

    try:
        result = cross_site_auroc_drop(
            synthetic, source_train, {**targets, "survivors-only": survivors}, schema, UTILITY_SEED, ("region", "A")
        )
    except ValueError as error:
        assert "survivors-only" in str(error)
    else:
        assert result.value is None


# The runner: site_sources and the cross-site result


class TinyCrossSite(Dataset):
    """A made-up dataset with a region and a hospital level, where region A spans two hospitals."""

    name = "tiny-cross-site"
    label = "death"
    site_columns = ("region", "hospital")
    id_columns = ("hospital",)

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def load_frame(self) -> pd.DataFrame:
        return self._frame.copy()

    def column_kinds(self) -> dict[str, ColumnKind]:
        return dict(KINDS)


def build_prepared(largest_hospital_rows: int) -> PreparedDataset:
    """Return region A as the source candidate and regions B and C as targets.

    Region A's training rows are in hospital 100 (``largest_hospital_rows``) and hospital 101
    (10 rows fewer).
    """
    largest = largest_hospital_rows
    train = pd.concat(
        [
            site_rows(largest, largest // 5, 0.0, seed=11, hospital=100.0),
            site_rows(largest - 10, largest // 5, 0.0, seed=12, hospital=101.0),
            site_rows(30, 6, 0.5, seed=13, region="B", hospital=102.0),
        ],
        ignore_index=True,
    )
    reference = pd.concat(
        [site_rows(80, 16, 0.0, seed=14, hospital=100.0), site_rows(60, 15, 0.5, seed=15, region="B", hospital=102.0)],
        ignore_index=True,
    )
    test = pd.concat(
        [site_rows(60, 15, 0.5, seed=16, region="B", hospital=102.0), site_rows(120, 25, -0.5, seed=17, region="C", hospital=103.0)],
        ignore_index=True,
    )
    schema = infer_schema(train, "death", KINDS)
    frame = pd.concat([train, reference, test], ignore_index=True)
    return PreparedDataset(TinyCrossSite(frame), schema, train, reference, test)


@pytest.fixture(scope="module")
def prepared() -> PreparedDataset:
    # 150 + 140 training rows: region A can be a source, neither of its hospitals can.
    return build_prepared(150)


def hospital_note(rows: int) -> str:
    return (
        f"the largest hospital site, 100, has {rows} training rows, "
        f"fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs"
    )


def test_site_sources_usable_levels_only(prepared):
    subset = FeatureSubset(4, ("x", "region", "z", "flag"))

    sources = site_sources(prepared, subset)

    assert len(sources) == 1
    plan, site_prepared, site_subset = sources[0]
    assert plan.column == "region"
    assert plan.source == "A"
    assert plan.targets == ("B", "C")
    assert site_subset == FeatureSubset(4, ("x", "z", "flag"))
    assert len(site_prepared.train) == 290
    assert set(site_prepared.train["region"]) == {"A"}
    assert set(site_prepared.reference["region"]) == {"A"}
    assert len(site_prepared.test) == 0


def runner_for(dataset: PreparedDataset) -> BenchmarkRunner:
    """Return a runner whose datasets are all ``dataset``, so no real data is loaded."""
    runner = BenchmarkRunner(models={})
    runner.prepared = lambda name: dataset
    return runner


def test_runner_cross_site_matches_metric(prepared):
    case = BenchCase(prepared.name, "real-holdout", "none", "k3", 60, 0)

    result = runner_for(prepared).result(case, CROSS_SITE)

    plan = plan_sites(prepared, "region")
    subset = build_subsets(prepared, (3,))[0]
    [(_, site_prepared, site_subset)] = site_sources(prepared, subset, [plan])
    schema = prepared.schema.select(list(site_subset.features))
    generation = generate_reference("real-holdout", site_prepared, schema, 60, 0)
    expected = cross_site_auroc_drop(
        generation.synthetic, site_prepared.train, target_rows(prepared, plan), schema, UTILITY_SEED, ("region", "A")
    )
    summary = result.details["summary"]
    assert result.applicable
    assert result.value == expected.value
    assert summary["source_site"] == "A"
    assert list(summary["levels"]) == ["region"]
    assert list(summary["targets"]) == ["B", "C"]
    assert summary["notes"] == [hospital_note(150)]


def test_runner_cross_site_no_usable_site():
    small = build_prepared(90)
    case = BenchCase(small.name, "real-holdout", "none", "k3", 60, 0)

    result = runner_for(small).result(case, CROSS_SITE)

    region_note = (
        f"the largest region site, A, has 170 training rows, fewer than the {MIN_SOURCE_TRAIN_ROWS} a source needs"
    )
    assert not result.applicable
    assert result.value is None
    assert result.reason == f"no site qualifies: {region_note}; {hospital_note(90)}"


def test_runner_cross_site_not_applicable_on_rhc():
    case = BenchCase("rhc", "real-holdout", "none", "k5", 100, 0)

    result = BenchmarkRunner(models={}).result(case, CROSS_SITE)

    assert not result.applicable
    assert result.value is None
    assert result.reason == "dataset 'rhc' has no site column"


# The plugin: a criterion that does not apply is skipped and left out of the leaderboard

BENCHMARK_MODULE = '''
def test_cross_site(judge):
    judge("cross_site_auroc_drop")


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

OUTCOME_LINE = re.compile(r"^test_bench\.py::(\S+) (PASSED|FAILED|SKIPPED|ERROR)")


def test_plugin_skips_not_applicable_criterion(pytester, monkeypatch):
    monkeypatch.delenv("EHRBENCH_EICU_DIR", raising=False)
    monkeypatch.setattr(ehrbench.runner, "Evaluator", functools.partial(Evaluator, n_bootstrap=0))
    pytester.makepyfile(test_bench=BENCHMARK_MODULE)
    (pytester.path / "models.toml").write_text(MODELS_FILE, encoding="utf-8")
    pytester.mkdir("no-cassettes")

    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-v", "-rs",
        "--datasets", "rhc", "--models-file", "models.toml", "--cassettes", "no-cassettes",
        "--feature-sets", "5", "--strategies", "naive", "--rows", "100", "--leaderboard-dir", "board",
    )  # fmt: skip

    outcomes = {}
    for line in result.outlines:
        match = OUTCOME_LINE.match(line)
        if match:
            outcomes[match.group(1)] = match.group(2)
    board = Leaderboard.load(pytester.path / "board" / "leaderboard.json")
    for generator in ("real-holdout", "gaussian-copula", "independent-marginals"):
        assert outcomes[f"test_cross_site[rhc-{generator}-none-k5-n100-r0]"] == "SKIPPED", generator
    assert {entry.criterion for entry in board.entries} == {"validity_rate"}
    assert len(board.entries) == 3
    result.stdout.fnmatch_lines(["SKIPPED * cross_site_auroc_drop does not apply: dataset 'rhc' has no site column"])
