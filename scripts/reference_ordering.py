"""Print how the reference generators order on every criterion (the table in docs/benchmarks.md).

Usage: python scripts/reference_ordering.py [--dataset eicu] [--rows 400] [--replicates 5]
       [--feature-sets k5,k10,k20]
The eICU folder comes from --eicu-dir or EHRBENCH_EICU_DIR.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ehrbench.criteria import load_thresholds
from ehrbench.report.ordering import reference_ordering, render_ordering
from ehrbench.runner import BenchmarkRunner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="eicu")
    parser.add_argument("--eicu-dir")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=5)
    parser.add_argument("--feature-sets", default="k5,k10,k20")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    runner = BenchmarkRunner(models={}, eicu_dir=args.eicu_dir)
    feature_sets = [part.strip() for part in args.feature_sets.split(",") if part.strip()]
    table = reference_ordering(runner, args.dataset, load_thresholds(), feature_sets, args.rows, args.replicates)
    sys.stdout.write(render_ordering(table, args.dataset, args.rows, args.replicates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
