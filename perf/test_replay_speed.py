"""Speed of a full replay: every committed cassette of the grid generated and scored.

Run with ``pytest perf/ --benchmark-only``; the eICU grid is included when EHRBENCH_EICU_DIR
is set. The figures in docs/benchmarks.md come from this module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ehrbench.datasets import resolve_eicu_dir
from ehrbench.providers import load_models
from ehrbench.recording import CassetteMissing
from ehrbench.runner import BenchmarkRunner, GridOptions, build_grid

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("rhc", "eicu") if resolve_eicu_dir() else ("rhc",)


def replay_grid(dataset: str) -> int:
    """Generate and score every case of the default grid of ``dataset``; return the cases scored."""
    models = load_models(ROOT / "benchmarks" / "models.toml")
    runner = BenchmarkRunner(models, mode="replay", cassette_root=ROOT / "cassettes")
    options = GridOptions(
        datasets=(dataset,),
        models=tuple(models.values()),
        strategies=("naive", "schema", "conditional", "group"),
        feature_sets=("5", "10", "20"),
        rows=(100,),
        replicates=1,
    )
    scored = 0
    for case in build_grid(options):
        try:
            runner.outcome(case)
        except CassetteMissing:
            continue
        scored += 1
    return scored


@pytest.mark.parametrize("dataset", DATASETS)
def test_full_replay(benchmark, dataset):
    scored = benchmark.pedantic(replay_grid, args=(dataset,), rounds=3, iterations=1)
    benchmark.extra_info["cases_scored"] = scored
    assert scored > 0
