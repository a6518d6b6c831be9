"""The ``ehrbench`` command: record cassettes, list datasets, print reports."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import openai

from ehrbench.datasets import DATASET_NAMES, DatasetError, get_dataset, prepare
from ehrbench.features import build_subsets, parse_feature_set_size
from ehrbench.prompts import DEFAULT_STRATEGIES, STRATEGIES, get_strategy
from ehrbench.providers import ModelConfigError, ProviderError, load_models, resolve_api_key, select_models
from ehrbench.recording import CassetteError, CassetteMismatch, RecordingError, RedactionError
from ehrbench.recording.progress import ClearProgressFilter, RecordingProgress

if TYPE_CHECKING:
    from ehrbench.recording import LLMCase, RecordingRun

logger = logging.getLogger("ehrbench")

DEFAULT_MODELS_FILE = Path("benchmarks/models.toml")
DEFAULT_CASSETTES = Path("cassettes")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _usd(value: str) -> float:
    try:
        amount = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of USD") from None
    if not (math.isfinite(amount) and amount >= 0):
        raise argparse.ArgumentTypeError(f"{value!r} is invalid; give a finite amount of USD >= 0")
    return amount


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{value!r} is invalid; give a finite number of seconds > 0")
    return seconds


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that names each option's default value, lists joined by commas, unless it has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "default:" in text:
            return text
        shown = ",".join(str(item) for item in default) if isinstance(default, list) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ehrbench", description="Record cassettes, list datasets, score tables and print reports.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    commands = parser.add_subparsers(dest="command", required=True)

    record = commands.add_parser(
        "record", help="record the cassettes that are missing, with a live model",
        formatter_class=_DefaultsFormatter,
    )
    record.add_argument("--dataset", choices=DATASET_NAMES, default="rhc", help="dataset to prompt with")
    record.add_argument("--eicu-dir", help="eICU-CRD folder (default: $EHRBENCH_EICU_DIR)")
    record.add_argument("--models", type=_split, help="comma-separated model names (default: all configured)")
    record.add_argument("--models-file", type=Path, default=DEFAULT_MODELS_FILE, help="model list (TOML)")
    record.add_argument(
        "--strategies", type=_split, default=list(DEFAULT_STRATEGIES),
        help=f"comma-separated, from {list(STRATEGIES)}"
    )
    record.add_argument("--feature-sets", type=_split, default=["5", "10", "20"], help="sizes such as 5,10,20,all")
    record.add_argument(
        "--rows", type=lambda value: [int(part) for part in _split(value)], default=[100],
        help="comma-separated sample sizes in rows per case (the benchmark grid uses 100,500)",
    )
    record.add_argument(
        "--replicates", type=int, default=1, help="replicates per case, numbered from 0 (the benchmark grid uses 3)"
    )
    record.add_argument("--cassettes", type=Path, default=DEFAULT_CASSETTES, help="cassette folder")
    record.add_argument(
        "--cross-site", action="store_true",
        help="also record the cases generated from one site's rows, which the cross-site criterion needs",
    )
    record.add_argument(
        "--max-cost", type=_usd, metavar="USD",
        help="stop before a request whose worst-case cost would take this run's spending over USD "
             "(needs input_price_per_million and output_price_per_million in each model entry)",
    )
    record.add_argument(
        "--batch", action="store_true",
        help="send the missing requests of all selected cases through the provider's batch API (billed at a "
             "discount, results within 24 hours); a rerun resumes submitted batches from <cassettes>/.batches/",
    )
    record.add_argument(
        "--batch-poll-seconds", type=_seconds, metavar="SECONDS",
        help="seconds between two status requests of a batch, with --batch (default: 60)",
    )

    datasets = commands.add_parser("datasets", help="list the datasets with their size, label rate and access class")
    datasets.add_argument("--eicu-dir", help="eICU-CRD folder (default: $EHRBENCH_EICU_DIR)")
    datasets.add_argument(
        "--columns", action="store_true",
        help="also list each column with its kind, unit and categories (the names 'ehrbench evaluate' expects)",
    )

    evaluate = commands.add_parser("evaluate", help="score a synthetic CSV made anywhere with the benchmark criteria")
    evaluate.add_argument("--dataset", choices=DATASET_NAMES, required=True, help="dataset the table imitates")
    evaluate.add_argument("--synthetic", type=Path, required=True, help="CSV with a header row of column names")
    evaluate.add_argument("--eicu-dir", help="eICU-CRD folder (default: $EHRBENCH_EICU_DIR)")
    evaluate.add_argument("--thresholds", type=Path, help="thresholds file in TOML (default: the packaged one)")

    seal = commands.add_parser(
        "seal", help="seal the response bodies that cassettes recorded before sealing keep in clear"
    )
    seal.add_argument("--cassettes", type=Path, default=DEFAULT_CASSETTES, help="cassette folder")
    seal.add_argument("--dataset", choices=DATASET_NAMES, help="seal only the cassettes of this dataset")
    seal.add_argument("--eicu-dir", help="eICU-CRD folder (default: $EHRBENCH_EICU_DIR)")

    report = commands.add_parser("report", help="print a stored leaderboard")
    report.add_argument(
        "path", type=Path, nargs="?", default=Path("results/leaderboard.json"),
        help="leaderboard JSON written by 'pytest benchmarks/' (default: results/leaderboard.json)",
    )
    report.add_argument(
        "--format", choices=("markdown", "csv", "json"), default="markdown", help="output format (default: markdown)"
    )
    report.add_argument(
        "--paper-tables", action="store_true",
        help="print the four tables of Lin, Yu & Lee (CHIL 2025) built from the leaderboard, in Markdown",
    )
    return parser


def _stop_on_sigterm(signum, frame) -> None:
    # Raising here unwinds the open cassette context, so vcrpy writes the batches answered so far.
    raise SystemExit(128 + signum)


def _rerun_options(args: argparse.Namespace) -> tuple[str, ...]:
    """Return the options of this ``ehrbench record`` run that a rerun hint must repeat."""
    options = []
    if args.models_file != DEFAULT_MODELS_FILE:
        options += ["--models-file", str(args.models_file)]
    if args.cassettes != DEFAULT_CASSETTES:
        options += ["--cassettes", str(args.cassettes)]
    if args.eicu_dir:
        options += ["--eicu-dir", args.eicu_dir]
    if args.max_cost is not None:
        options += ["--max-cost", repr(args.max_cost)]
    if args.batch:
        options.append("--batch")
    return tuple(options)


def run_record(args: argparse.Namespace) -> int:
    from ehrbench.recording import BudgetExhausted, CostBudget, RecordingRun, check_prices, count_missing

    if args.batch_poll_seconds is not None and not args.batch:
        raise ValueError("--batch-poll-seconds applies only with --batch; add --batch or leave it out")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    cases = _record_cases(args)
    models = {case.model.name: case.model for case in cases}.values()
    for model in models:
        # Before any request, so that a missing key does not stop the run after other models recorded.
        resolve_api_key(model, replay=False)
        if args.max_cost is not None:
            check_prices(model)
    run = RecordingRun(CostBudget(args.max_cost), RecordingProgress(len(cases)), rerun_options=_rerun_options(args))
    clear_progress = ClearProgressFilter(run.progress)
    for handler in logging.getLogger().handlers:
        handler.addFilter(clear_progress)
    try:
        if args.batch:
            from ehrbench.recording.batch import DEFAULT_POLL_SECONDS, record_batches

            try:
                outcome = record_batches(cases, args.cassettes, run, args.batch_poll_seconds or DEFAULT_POLL_SECONDS)
            except KeyboardInterrupt:
                print("ehrbench record: interrupted; batches submitted so far keep running at the provider, and the "
                      "same command run again collects their results without submitting them again", file=sys.stderr)
                return 130
            for line in outcome.report_lines(run.budget):
                print(f"ehrbench record: {line}", file=sys.stderr)
            if outcome.failures or outcome.waiting:
                return 2
            return 3 if outcome.unaffordable else 0
        return _record_all(args, cases, run)
    except BudgetExhausted as stop:
        run.progress.close()
        later = [count_missing(case, args.cassettes) for case in cases[run.progress.cases_done + 1 :]]
        left_requests = stop.missing_requests + sum(later)
        left_cases = 1 + sum(1 for missing in later if missing)
        print(
            f"ehrbench record: stopped by --max-cost: {stop}.\nSpent {run.budget.spent:.6f} USD of "
            f"{run.budget.max_cost:.6f} USD; {left_requests} requests in {left_cases} cases are left to "
            "record. Rerun with a higher --max-cost to record them.",
            file=sys.stderr,
        )
        return 3
    finally:
        run.progress.close()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(clear_progress)


def _record_cases(args: argparse.Namespace) -> list[LLMCase]:
    from ehrbench.recording import LLMCase
    from ehrbench.runner import site_sources

    models = select_models(load_models(args.models_file), args.models)
    strategies = [get_strategy(name) for name in args.strategies]
    sizes = [parse_feature_set_size(size) for size in args.feature_sets]
    prepared = prepare(get_dataset(args.dataset, args.eicu_dir))
    subsets = build_subsets(prepared, sizes)

    sources = [(prepared, subset, "") for subset in subsets]
    if args.cross_site:
        sources += [(site, site_subset, plan.label) for subset in subsets
                    for plan, site, site_subset in site_sources(prepared, subset)]
    return [
        LLMCase(source, model, strategy, subset, rows, replicate, site)
        for model in models
        for strategy in strategies
        for source, subset, site in sources
        for rows in args.rows
        for replicate in range(args.replicates)
    ]


def _record_all(args: argparse.Namespace, cases: list[LLMCase], run: RecordingRun) -> int:
    from ehrbench.recording import collect_completions

    for number, case in enumerate(cases, start=1):
        started = time.perf_counter()
        answers = collect_completions(case, "record", args.cassettes, run)
        run.progress.case_done()
        tokens = sum(completion.output_tokens or 0 for _, completion in answers)
        logger.info(
            "[%d/%d] %s %s: %d requests, %d output tokens, %.1f s",
            number, len(cases), case.key.model, case.key.slug, len(answers), tokens, time.perf_counter() - started,
        )
    return 0


def run_datasets(args: argparse.Namespace) -> int:
    for name in DATASET_NAMES:
        try:
            prepared = prepare(get_dataset(name, args.eicu_dir))
        except DatasetError as error:
            print(f"{name}: not available ({error})")
            continue
        dataset = prepared.dataset
        rows = len(prepared.train) + len(prepared.reference) + len(prepared.test)
        rate = float(prepared.train[dataset.label].mean())
        print(
            f"{name}: {rows} rows, {len(prepared.schema.feature_names)} features, label {dataset.label!r} "
            f"(training rate {rate:.3f}), access {dataset.access}, "
            f"site columns {', '.join(dataset.site_columns) or 'none (the data names no hospital)'}"
        )
        if args.columns:
            for column in prepared.schema.columns:
                print("  " + _describe_column(column, column.name == dataset.label))
    return 0


def _describe_column(column, is_label: bool) -> str:
    """Return one line naming a column, its kind and unit, and its categories (no observed value)."""
    kind = "integer" if column.kind == "numeric" and column.integer else column.kind
    kind += f", {column.unit}" if column.unit else ""
    kind += ", the label" if is_label else ""
    line = f"{column.name} ({kind})"
    if column.description:
        line += f": {column.description}"
    if column.categories:
        line += "; one of: " + ", ".join(f'"{category}"' for category in column.categories)
    return line


def run_evaluate(args: argparse.Namespace) -> int:
    from ehrbench.criteria import Evaluator, Verdict, load_thresholds
    from ehrbench.generators.external import load_external
    from ehrbench.metrics.base import not_applicable

    prepared = prepare(get_dataset(args.dataset, args.eicu_dir))
    generation, mapping = load_external(args.synthetic, prepared)
    if mapping.unmapped:
        print(f"columns not in dataset {args.dataset!r}, left out: {', '.join(mapping.unmapped)}")
    if mapping.absent:
        print(f"dataset columns missing from the table, not scored: {', '.join(mapping.absent)}")
    validity = generation.validity
    rejected = ", ".join(f"{count} {reason}" for reason, count in validity.rejections.items() if count)
    print(f"{validity.valid} of {validity.requested} rows valid; rejected: {rejected or 'none'}")

    metrics = Evaluator(prepared).evaluate(generation)
    print("| criterion | value | threshold | passed | reason |")
    print("| --- | --- | --- | --- | --- |")
    failed = 0
    for name, threshold in load_thresholds(args.thresholds).items():
        result = metrics.get(name) or not_applicable(
            name, "the criterion needs rows generated by ehrbench (for example from one site's rows only)"
        )
        if not result.applicable:
            print(f"| {name} | n/a | {threshold.describe()} | does not apply | {result.reason} |")
            continue
        verdict = Verdict(threshold, result)
        value = "n/a" if result.value is None else f"{result.value:.4f}"
        failed += not verdict.passed
        print(f"| {name} | {value} | {threshold.describe()} | {'yes' if verdict.passed else 'no'} | {result.reason} |")
    return 1 if failed else 0


def run_seal(args: argparse.Namespace) -> int:
    from ehrbench.recording.reseal import case_key_of, case_schema, seal_cassette
    from ehrbench.recording.sealing import seal_key

    paths = sorted(path for path in Path(args.cassettes).rglob("*.yaml") if ".batches" not in path.parts)
    if not paths:
        raise FileNotFoundError(f"no cassette (*.yaml) below {args.cassettes}")
    prepared, keys, unavailable = {}, {}, {}
    responses = sealed = changed = 0
    for path in paths:
        key = case_key_of(path, args.cassettes)
        if args.dataset and key.dataset != args.dataset:
            continue
        if key.dataset not in prepared and key.dataset not in unavailable:
            try:
                prepared[key.dataset] = prepare(get_dataset(key.dataset, args.eicu_dir))
            except DatasetError as error:
                unavailable[key.dataset] = [str(error), 0]
        if key.dataset in unavailable:
            unavailable[key.dataset][1] += 1
            continue
        schema = case_schema(prepared[key.dataset], key)
        case_key = (key.dataset, tuple(schema.names))
        if case_key not in keys:
            keys[case_key] = seal_key(prepared[key.dataset].real_rows(), schema)
        report = seal_cassette(path, keys[case_key])
        responses += report.answers
        sealed += report.sealed
        changed += bool(report.sealed)

    files = "1 file" if changed == 1 else f"{changed} files"
    print(f"ehrbench seal: sealed {sealed} of {responses} response bodies in {files}")
    for dataset, (reason, count) in unavailable.items():
        print(f"ehrbench seal: left {count} cassettes of dataset {dataset!r} unsealed, because the data is "
              f"needed for the key: {reason}", file=sys.stderr)
    return 2 if unavailable else 0


def run_report(args: argparse.Namespace) -> int:
    from ehrbench.report.leaderboard import Leaderboard
    from ehrbench.report.paper_tables import paper_tables
    from ehrbench.report.render import render

    if args.paper_tables and args.format != "markdown":
        raise ValueError(f"--paper-tables prints Markdown only, so it cannot be combined with --format {args.format}")
    board = Leaderboard.load(args.path)
    sys.stdout.write(paper_tables(board) if args.paper_tables else render(board, args.format))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command == "record" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # vcrpy logs every stored response at INFO, and the HTTP clients log a POST even when vcrpy
    # answers it from the cassette; the per-request lines of ehrbench say what was sent.
    for name in ("vcr", "httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    handlers = {"record": run_record, "datasets": run_datasets, "evaluate": run_evaluate, "report": run_report,
                "seal": run_seal}
    try:
        return handlers[args.command](args)
    except openai.APIError as error:
        request = getattr(error, "request", None)
        where = f" ({request.method} {request.url})" if request is not None else ""
        print(f"ehrbench {args.command}: the model endpoint failed{where}: {error}", file=sys.stderr)
        return 2
    except (
        DatasetError,
        ModelConfigError,
        ProviderError,
        CassetteMismatch,
        CassetteError,
        RecordingError,
        RedactionError,
        FileNotFoundError,
        ValueError,
    ) as error:
        print(f"ehrbench {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
