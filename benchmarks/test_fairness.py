"""Fairness: per demographic group KL divergence and the TSTR AUROC gap between groups."""


def test_group_kl_worst(judge):
    judge("group_kl_worst")


def test_group_auroc_gap(judge):
    judge("group_auroc_gap")
