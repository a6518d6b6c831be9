"""Utility: XGBoost trained on synthetic rows (TSTR) against trained on real rows (TRTR)."""


def test_auroc_gap(judge):
    judge("auroc_gap")


def test_auprc_gap(judge):
    judge("auprc_gap")
