"""Realism: whether a classifier can tell synthetic rows from real ones, and clinical plausibility."""


def test_detectability(judge):
    judge("detectability")


def test_plausibility_violations(judge):
    judge("plausibility_violations")
