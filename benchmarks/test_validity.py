"""Validity: the share of requested rows that came back parsed, well-typed, in range and new."""


def test_validity_rate(judge):
    judge("validity_rate")
