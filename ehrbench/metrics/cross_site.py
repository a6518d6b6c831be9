"""Cross-site generalisation: does a model trained on synthetic rows of one site work elsewhere?

The synthetic rows come from a generator that saw the training rows of one source site only
(:mod:`ehrbench.datasets.sites`). Two XGBoost models of :mod:`ehrbench.metrics.utility` are
tested on the real rows of every target site:

- TSTR across: trained on the synthetic rows;
- TRTR across: trained on the source site's real training rows.

The drop of a target is TRTR AUROC minus TSTR AUROC on its rows; the value is the mean drop over
the targets. Range [-1, 1], lower is better: 0 means the synthetic rows transfer to other
hospitals as well as the real rows they imitate, and a positive drop is what synthetic training
loses away from home. Both models predict all target rows at once, and each target's AUROC is
taken on its own rows (``sklearn.metrics.roc_auc_score``).
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ehrbench.metrics.base import MetricResult
from ehrbench.metrics.utility import fit_and_score
from ehrbench.schema import TableSchema

NAME = "cross_site_auroc_drop"


def cross_site_auroc_drop(
    synthetic: Any,
    source_train: pd.DataFrame,
    targets: dict[str, pd.DataFrame],
    schema: TableSchema,
    seed: int,
    site: tuple[str, str],
) -> MetricResult:
    """Return the mean TRTR-minus-TSTR AUROC drop over ``targets``.

    ``synthetic`` is the generator's table (checked like any synthetic table), ``source_train``
    the real training rows of the source site, and ``targets`` the real rows of each target
    site (each with both outcome classes). ``site`` is (site column, source site).
    ``details["summary"]`` contains the per-target AUROCs and their means.
    """
    if not targets:
        raise ValueError("targets: no target site; plan the sites with ehrbench.datasets.sites.plan_sites")
    names = list(targets)
    for name in names:
        classes = set(targets[name][schema.label].dropna().unique())
        if classes != {0.0, 1.0}:
            raise ValueError(
                f"targets: site {name!r} has the outcome classes {sorted(classes)}, an AUROC needs both 0 and 1; "
                "choose targets with ehrbench.datasets.sites.plan_sites"
            )
    combined = pd.concat([targets[name][schema.names] for name in names], ignore_index=True)
    membership = np.repeat(names, [len(targets[name]) for name in names])
    labels = combined[schema.label].to_numpy(dtype=int)

    tstr = fit_and_score(synthetic, combined, schema, seed, n_bootstrap=0)
    trtr = fit_and_score(source_train[schema.names], combined, schema, seed, n_bootstrap=0)
    summary: dict[str, Any] = {"site_column": site[0], "source_site": site[1], "n_source_train": len(source_train)}
    if not trtr.scored:
        return MetricResult(NAME, None, reason=f"TRTR on the source site could not be scored: {trtr.auroc.reason}",
                            details={"summary": summary})
    if not tstr.scored:
        return MetricResult(NAME, None, reason=f"TSTR could not be scored: {tstr.auroc.reason}",
                            details={"summary": summary})

    per_target = {}
    for name in names:
        rows = membership == name
        per_target[name] = {
            "tstr": float(roc_auc_score(labels[rows], tstr.probabilities[rows])),
            "trtr": float(roc_auc_score(labels[rows], trtr.probabilities[rows])),
            "rows": int(rows.sum()),
            "positives": int(labels[rows].sum()),
        }
    summary.update(
        tstr_across=statistics.fmean(target["tstr"] for target in per_target.values()),
        trtr_across=statistics.fmean(target["trtr"] for target in per_target.values()),
        targets=per_target,
    )
    drop = statistics.fmean(target["trtr"] - target["tstr"] for target in per_target.values())
    return MetricResult(NAME, drop, details={"summary": summary, "n_synthetic": tstr.details.get("n_train")})
