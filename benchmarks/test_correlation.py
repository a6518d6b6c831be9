"""Fidelity: mean absolute difference of pairwise Pearson correlations."""


def test_correlation_difference(judge):
    judge("correlation_difference")
