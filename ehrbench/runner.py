"""The benchmark grid and its evaluation, shared by the pytest plugin and the CLI.

A :class:`BenchCase` names one cell of the grid: dataset x generator (a configured model or a
reference generator) x strategy x feature-set size x sample size x replicate. The
:class:`BenchmarkRunner` prepares each dataset once, generates each case once (replaying or
recording its cassette) and scores it once, however many criteria read the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ehrbench.criteria import Evaluator
from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.features import FeatureSubset, build_subsets, parse_feature_set_size
from ehrbench.generators.base import GenerationResult
from ehrbench.generators.gaussian_copula import GENERATOR_NAME as GAUSSIAN_COPULA
from ehrbench.generators.gaussian_copula import generate_gaussian_copula
from ehrbench.generators.llm import generate_llm
from ehrbench.generators.reference import REFERENCE_GENERATORS, generate_reference
from ehrbench.metrics import MetricResult
from ehrbench.prompts import get_strategy
from ehrbench.providers import ModelConfig
from ehrbench.recording import LLMCase, RecordMode

logger = logging.getLogger(__name__)

#: Strategy name of the reference generators, which use no prompt.
NO_STRATEGY = "none"

#: Generators without a model that every grid includes unless ``references`` is off: the
#: real-holdout ceiling, a classical synthesizer (Gaussian copula) and the independent floor.
BASELINE_GENERATORS = REFERENCE_GENERATORS[:1] + (GAUSSIAN_COPULA,) + REFERENCE_GENERATORS[1:]


@dataclass(frozen=True)
class BenchCase:
    """One cell of the benchmark grid."""

    dataset: str
    generator: str
    strategy: str
    feature_set: str
    rows: int
    replicate: int

    @property
    def id(self) -> str:
        """Return the pytest id: ``rhc-model-naive-k5-n100-r0``."""
        return f"{self.dataset}-{self.generator}-{self.strategy}-{self.feature_set}-n{self.rows}-r{self.replicate}"


@dataclass(frozen=True)
class GridOptions:
    """The axes of a run, as the command line gives them."""

    datasets: tuple[str, ...]
    models: tuple[ModelConfig, ...]
    strategies: tuple[str, ...]
    feature_sets: tuple[str, ...]
    rows: tuple[int, ...]
    replicates: int
    references: bool = True


def build_grid(options: GridOptions) -> list[BenchCase]:
    """Return every case of the grid: references first, then models x strategies."""
    bad_rows = [rows for rows in options.rows if rows < 1]
    if bad_rows:
        raise ValueError(f"rows: sample sizes must be at least 1, got {bad_rows}")
    if options.replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {options.replicates}")
    feature_sets = [f"k{parse_feature_set_size(size)}" for size in options.feature_sets]
    for strategy in options.strategies:
        get_strategy(strategy)
    cases = []
    for dataset in options.datasets:
        for feature_set in feature_sets:
            for rows in options.rows:
                for replicate in range(options.replicates):
                    if options.references:
                        cases += [
                            BenchCase(dataset, name, NO_STRATEGY, feature_set, rows, replicate)
                            for name in BASELINE_GENERATORS
                        ]
                    cases += [
                        BenchCase(dataset, model.name, strategy, feature_set, rows, replicate)
                        for model in options.models
                        for strategy in options.strategies
                    ]
    return cases


@dataclass
class CaseOutcome:
    """A generated and scored case."""

    generation: GenerationResult
    metrics: dict[str, MetricResult]


@dataclass
class BenchmarkRunner:
    """Generates and scores cases, each once, with explicit state and no globals."""

    models: dict[str, ModelConfig]
    mode: RecordMode = "replay"
    cassette_root: Path = Path("cassettes")
    eicu_dir: str | None = None
    _prepared: dict[str, PreparedDataset] = field(default_factory=dict)
    _evaluators: dict[str, Evaluator] = field(default_factory=dict)
    _outcomes: dict[BenchCase, CaseOutcome | BaseException] = field(default_factory=dict)

    def prepared(self, dataset: str) -> PreparedDataset:
        if dataset not in self._prepared:
            self._prepared[dataset] = prepare(get_dataset(dataset, self.eicu_dir))
            self._evaluators[dataset] = Evaluator(self._prepared[dataset])
        return self._prepared[dataset]

    def subset(self, case: BenchCase) -> FeatureSubset:
        size = parse_feature_set_size(case.feature_set)
        return build_subsets(self.prepared(case.dataset), (size,))[0]

    def outcome(self, case: BenchCase) -> CaseOutcome:
        """Return the scored case, generating it on first use; a failure is re-raised each time."""
        if case not in self._outcomes:
            try:
                self._outcomes[case] = self._run(case)
            except Exception as error:  # stored so that every criterion of the case reports it
                self._outcomes[case] = error
        outcome = self._outcomes[case]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _run(self, case: BenchCase) -> CaseOutcome:
        prepared = self.prepared(case.dataset)
        subset = self.subset(case)
        if case.strategy == NO_STRATEGY and case.generator == GAUSSIAN_COPULA:
            schema = prepared.schema.select(list(subset.features))
            generation = generate_gaussian_copula(prepared, schema, case.rows, case.replicate)
        elif case.strategy == NO_STRATEGY:
            schema = prepared.schema.select(list(subset.features))
            generation = generate_reference(case.generator, prepared, schema, case.rows, case.replicate)
        else:
            llm_case = LLMCase(
                prepared, self.models[case.generator], get_strategy(case.strategy), subset, case.rows, case.replicate
            )
            generation = generate_llm(llm_case, self.mode, self.cassette_root)
        metrics = self._evaluators[case.dataset].evaluate(generation)
        return CaseOutcome(generation, metrics)
