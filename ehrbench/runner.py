"""The benchmark grid and its evaluation, shared by the pytest plugin and the CLI.

A :class:`BenchCase` names one cell of the grid: dataset x generator (a configured model or a
reference generator) x strategy x feature-set size x sample size x replicate. The
:class:`BenchmarkRunner` prepares each dataset once, generates each case once (replaying or
recording its cassette) and scores it once, however many criteria read the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from ehrbench.criteria import Evaluator
from ehrbench.criteria.evaluation import UTILITY_SEED
from ehrbench.datasets import PreparedDataset, get_dataset, prepare
from ehrbench.datasets.sites import SitePlan, plan_sites, restrict_to_site, target_rows
from ehrbench.features import FeatureSubset, build_subsets, parse_feature_set_size
from ehrbench.generators.base import GenerationResult
from ehrbench.generators.gaussian_copula import GENERATOR_NAME as GAUSSIAN_COPULA
from ehrbench.generators.gaussian_copula import generate_gaussian_copula
from ehrbench.generators.llm import generate_llm
from ehrbench.generators.reference import REFERENCE_GENERATORS, generate_reference
from ehrbench.metrics import MetricResult
from ehrbench.metrics.base import not_applicable
from ehrbench.metrics.cross_site import NAME as CROSS_SITE
from ehrbench.metrics.cross_site import cross_site_auroc_drop
from ehrbench.prompts import get_strategy
from ehrbench.providers import ModelConfig
from ehrbench.recording import LLMCase, RecordMode
from ehrbench.recording.cost import request_cost

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


def site_sources(
    prepared: PreparedDataset, subset: FeatureSubset, plans: list[SitePlan] | None = None
) -> list[tuple[SitePlan, PreparedDataset, FeatureSubset]]:
    """Return, per usable site column, its plan, the source site's rows and the features to generate.

    ``plans`` defaults to the plans of every site column of the dataset. Site columns are left
    out of the features, because a column that is constant at the source teaches nothing.
    """
    columns = prepared.dataset.site_columns
    if plans is None:
        plans = [plan_sites(prepared, column) for column in columns]
    features = tuple(name for name in subset.features if name not in columns)
    return [
        (plan, restrict_to_site(prepared, plan.column, plan.source), FeatureSubset(subset.size, features))
        for plan in plans
        if plan.usable
    ]


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
    _cross_site: dict[BenchCase, MetricResult | BaseException] = field(default_factory=dict)

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
        return self._cached(self._outcomes, case, self._run)

    def result(self, case: BenchCase, criterion: str) -> MetricResult:
        """Return the metric of ``criterion`` on ``case``.

        Raises KeyError when no metric has that name, and whatever generating the case raised
        (for example :class:`~ehrbench.recording.CassetteMissing`).
        """
        if criterion == CROSS_SITE:
            return self._cached(self._cross_site, case, self._run_cross_site)
        metrics = self.outcome(case).metrics
        if criterion not in metrics:
            raise KeyError(f"criterion {criterion!r} has no metric; the metrics are {sorted(metrics)} and {CROSS_SITE!r}")
        return metrics[criterion]

    @staticmethod
    def _cached(store: dict, case: BenchCase, compute):
        if case not in store:
            try:
                store[case] = compute(case)
            except Exception as error:  # stored so that every criterion of the case reports it
                store[case] = error
        value = store[case]
        if isinstance(value, BaseException):
            raise value
        return value

    def _run(self, case: BenchCase) -> CaseOutcome:
        prepared = self.prepared(case.dataset)
        generation = self._generate(case, prepared, self.subset(case))
        metrics = self._evaluators[case.dataset].evaluate(generation)
        validity = metrics["validity_rate"]
        usage = {**validity.details.get("summary", {}), **self._usage(case, generation)}
        metrics["validity_rate"] = replace(validity, details={**validity.details, "summary": usage})
        return CaseOutcome(generation, metrics)

    def _usage(self, case: BenchCase, generation: GenerationResult) -> dict:
        """Return the requests, tokens and cost (USD, None without prices) of a generated case."""
        usage = {
            "requests": generation.requests,
            "input_tokens": generation.input_tokens,
            "output_tokens": generation.output_tokens,
            "cost_usd": None,
        }
        model = self.models.get(case.generator)
        if model is not None and generation.input_tokens is not None and generation.output_tokens is not None:
            usage["cost_usd"] = request_cost(model, generation.input_tokens, generation.output_tokens)
        return usage

    def _generate(
        self, case: BenchCase, prepared: PreparedDataset, subset: FeatureSubset, site: str = ""
    ) -> GenerationResult:
        """Generate ``case`` from ``prepared`` (the whole dataset, or one site of it)."""
        if case.strategy == NO_STRATEGY and case.generator == GAUSSIAN_COPULA:
            schema = prepared.schema.select(list(subset.features))
            return generate_gaussian_copula(prepared, schema, case.rows, case.replicate)
        if case.strategy == NO_STRATEGY:
            schema = prepared.schema.select(list(subset.features))
            return generate_reference(case.generator, prepared, schema, case.rows, case.replicate)
        llm_case = LLMCase(
            prepared, self.models[case.generator], get_strategy(case.strategy), subset, case.rows, case.replicate, site
        )
        return generate_llm(llm_case, self.mode, self.cassette_root)

    def _run_cross_site(self, case: BenchCase) -> MetricResult:
        """Generate from the largest site of each site column and score transfer to the others.

        The value is that of the first site column with a usable source (eICU: region); the
        others are reported in ``details["summary"]["levels"]``.
        """
        prepared = self.prepared(case.dataset)
        columns = prepared.dataset.site_columns
        if not columns:
            return not_applicable(CROSS_SITE, f"dataset {case.dataset!r} has no site column")
        plans = [plan_sites(prepared, column) for column in columns]
        usable = [plan for plan in plans if plan.usable]
        notes = [note for plan in plans for note in plan.notes]
        if not usable:
            return not_applicable(CROSS_SITE, "no site qualifies: " + "; ".join(notes))

        levels = {}
        for plan, site_prepared, site_subset in site_sources(prepared, self.subset(case), usable):
            generation = self._generate(case, site_prepared, site_subset, plan.label)
            levels[plan.column] = cross_site_auroc_drop(
                generation.synthetic,
                site_prepared.train,
                target_rows(prepared, plan),
                generation.schema,
                UTILITY_SEED,
                (plan.column, plan.source),
            )
        first = levels[usable[0].column]
        summary = dict(first.details.get("summary", {}))
        summary["levels"] = {column: result.details.get("summary", {}) for column, result in levels.items()}
        summary["notes"] = notes
        return MetricResult(first.name, first.value, first.reason, details={**first.details, "summary": summary})
