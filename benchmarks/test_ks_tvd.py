"""Fidelity: KS statistic of numeric columns and total variation distance of categorical ones."""


def test_ks_statistic(judge):
    judge("ks_statistic")


def test_total_variation(judge):
    judge("total_variation")
